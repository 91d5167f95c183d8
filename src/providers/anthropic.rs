//! Live provider: the Anthropic Messages API (`POST {base}/v1/messages`) over HTTPS.
//!
//! The key travels only in the `x-api-key` header (marked sensitive). Every error is
//! rebuilt from scratch (status, error type, a short message, the host), and the key is
//! scrubbed from any text that came back from the server, so no error carries it.

use std::sync::OnceLock;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{truncate, ChatReply, ChatRequest, ProviderError};
use crate::config::Secret;

pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
pub const DEFAULT_MODEL: &str = "claude-sonnet-4-5";
pub const API_VERSION: &str = "2023-06-01";
pub const DEFAULT_MAX_TOKENS: u32 = 1024;
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest response body read from the provider.
const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

#[derive(Serialize)]
struct MessagesRequest<'a> {
    model: &'a str,
    max_tokens: u32,
    messages: Vec<Message<'a>>,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'a str,
    content: &'a str,
}

#[derive(Deserialize)]
struct MessagesResponse {
    #[serde(default)]
    content: Vec<ContentBlock>,
    #[serde(default)]
    model: Option<String>,
}

#[derive(Deserialize)]
struct ContentBlock {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct ErrorResponse {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    message: String,
}

/// Refuses base URLs that would leak the key: plain `http` to a non-loopback host,
/// credentials in the URL, or anything that is not http(s).
pub fn check_base_url(base: &str) -> anyhow::Result<()> {
    let url = reqwest::Url::parse(base).map_err(|e| {
        anyhow::anyhow!("ANTHROPIC_BASE_URL is not a URL: {e} (e.g. {DEFAULT_BASE_URL})")
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        anyhow::bail!("ANTHROPIC_BASE_URL must not contain credentials (remove user:pass@)");
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url.host_str().unwrap_or("")) => Ok(()),
        "http" => {
            anyhow::bail!("ANTHROPIC_BASE_URL uses plain http to a non-loopback host (use https)")
        }
        other => anyhow::bail!("ANTHROPIC_BASE_URL has unsupported scheme {other} (use https)"),
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn client() -> Result<&'static reqwest::Client, ProviderError> {
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("clawdbot/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| format!("cannot build HTTP client: {}", e.without_url()))
        })
        .as_ref()
        .map_err(|e| ProviderError::Unavailable(e.clone()))
}

/// Replaces every occurrence of the key in `text` by its masked form.
fn scrub(text: &str, key: &Secret) -> String {
    let raw = key.expose();
    if raw.is_empty() {
        return text.to_string();
    }
    text.replace(raw, &key.masked())
}

fn host_of(base: &str) -> String {
    reqwest::Url::parse(base)
        .ok()
        .and_then(|u| {
            u.host_str()
                .map(|h| format!("{h}:{}", u.port_or_known_default().unwrap_or(0)))
        })
        .unwrap_or_else(|| "provider".into())
}

/// The innermost cause of a transport error (e.g. a TLS or socket error), which names
/// neither the URL nor any header.
fn root_cause(e: &reqwest::Error) -> Option<String> {
    let mut cur: &dyn std::error::Error = e;
    let mut deepest = None;
    while let Some(next) = cur.source() {
        deepest = Some(next.to_string());
        cur = next;
    }
    deepest
}

fn transport_error(
    e: &reqwest::Error,
    key: &Secret,
    base: &str,
    timeout: Duration,
) -> ProviderError {
    let host = host_of(base);
    let what = if e.is_timeout() {
        format!("no answer from {host} within {} ms", timeout.as_millis())
    } else if e.is_connect() {
        format!("cannot connect to {host}")
    } else if e.is_redirect() {
        format!("{host} answered with a redirect (redirects are not followed)")
    } else {
        format!("request to {host} failed")
    };
    let text = match root_cause(e) {
        Some(cause) if !e.is_timeout() => format!("anthropic: {what}: {}", truncate(&cause, 160)),
        _ => format!("anthropic: {what}"),
    };
    ProviderError::Unavailable(scrub(&text, key))
}

/// Sends the conversation to `POST {base_url}/v1/messages` and returns the text blocks.
pub async fn chat(
    key: &Secret,
    base_url: &str,
    default_model: &str,
    timeout: Duration,
    req: &ChatRequest,
) -> Result<ChatReply, ProviderError> {
    check_base_url(base_url).map_err(|e| ProviderError::Unavailable(e.to_string()))?;
    let model = req.model.as_deref().unwrap_or(default_model);
    let body = MessagesRequest {
        model,
        max_tokens: req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        messages: req
            .messages
            .iter()
            .map(|m| Message {
                role: &m.role,
                content: &m.content,
            })
            .collect(),
    };
    let mut key_header = reqwest::header::HeaderValue::from_str(key.expose()).map_err(|_| {
        ProviderError::Unavailable("anthropic: the API key has invalid characters".into())
    })?;
    key_header.set_sensitive(true);

    let url = format!("{}/v1/messages", base_url.trim_end_matches('/'));
    let response = client()?
        .post(&url)
        .timeout(timeout)
        .header("x-api-key", key_header)
        .header("anthropic-version", API_VERSION)
        .json(&body)
        .send()
        .await
        .map_err(|e| transport_error(&e, key, base_url, timeout))?;

    let status = response.status();
    let bytes = read_limited(response, key, base_url, timeout).await?;

    if !status.is_success() {
        let detail = match serde_json::from_slice::<ErrorResponse>(&bytes) {
            Ok(err) => format!(
                "{} {}",
                truncate(&err.error.kind, 64),
                truncate(&err.error.message, 200)
            ),
            Err(_) => "(no error details)".into(),
        };
        let text = format!("anthropic: HTTP {} {}", status.as_u16(), detail.trim());
        return Err(ProviderError::Unavailable(scrub(&text, key)));
    }

    let parsed: MessagesResponse = serde_json::from_slice(&bytes).map_err(|_| {
        ProviderError::Unavailable("anthropic: response is not a Messages API reply".into())
    })?;
    let text: String = parsed
        .content
        .iter()
        .filter(|b| b.kind == "text")
        .filter_map(|b| b.text.as_deref())
        .collect::<Vec<_>>()
        .join("");
    Ok(ChatReply {
        provider: "anthropic".into(),
        model: parsed.model.unwrap_or_else(|| model.to_string()),
        text: scrub(&text, key),
    })
}

async fn read_limited(
    mut response: reqwest::Response,
    key: &Secret,
    base_url: &str,
    timeout: Duration,
) -> Result<Vec<u8>, ProviderError> {
    let mut out = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(&e, key, base_url, timeout))?
    {
        if out.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(ProviderError::Unavailable(format!(
                "anthropic: response larger than {MAX_RESPONSE_BYTES} bytes"
            )));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_rules() {
        assert!(check_base_url("https://api.anthropic.com").is_ok());
        assert!(check_base_url("http://127.0.0.1:9999").is_ok());
        assert!(check_base_url("http://[::1]:9999").is_ok());
        assert!(check_base_url("http://localhost:1").is_ok());
        assert!(check_base_url("http://example.com").is_err());
        assert!(check_base_url("https://u:p@example.com").is_err());
        assert!(check_base_url("ftp://example.com").is_err());
        assert!(check_base_url("not a url").is_err());
    }

    #[test]
    fn scrub_masks_the_key() {
        let key = Secret::new("sk-ant-api03-SECRETSECRETSECRET-wxyz");
        let out = scrub("bad key sk-ant-api03-SECRETSECRETSECRET-wxyz!", &key);
        assert!(!out.contains("SECRETSECRET"));
        assert!(out.contains("sk-ant-…wxyz"));
    }
}
