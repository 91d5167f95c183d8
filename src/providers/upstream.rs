//! What the live providers (Anthropic, OpenAI) share: their configuration, the HTTP
//! client, base URL rules, the streamed request with its deadlines and size bounds, and
//! error messages that never carry a key or a header.
//!
//! Every error is rebuilt from scratch (provider, status, error type, a short message,
//! the host), and the key is scrubbed from any text that came back from the server.

use std::collections::VecDeque;
use std::sync::OnceLock;
use std::time::Duration;

use serde::Deserialize;

use super::failure::{Failure, Reason};
use super::scrub::{scrub, scrub_cut, StreamScrubber};
use super::sse::{self, Event};
use super::{ChatReply, ChatRequest, ProviderError};
use crate::config::Secret;

/// Time allowed to open the TCP (and TLS) connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest streamed response read from a provider (all bytes, events and pings).
pub const MAX_STREAM_BYTES: usize = 8 * 1024 * 1024;
/// Largest reply text assembled from the deltas.
pub const MAX_REPLY_BYTES: usize = 1024 * 1024;
/// Largest error body read (only its `error.type` and `error.message` are used).
pub const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;
/// Longest `retry-after` passed on to clients (`retryAfterMs`): a larger value is
/// clamped, so a hostile or confused upstream cannot make clients back off for days.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// A configured live provider: where it is, its key and model, its deadlines.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub key: Secret,
    /// Base URL without a trailing `/`.
    pub base_url: String,
    /// Default model (a request may name another).
    pub model: String,
    /// Deadline for the whole request, from sending it to the last event.
    pub timeout: Duration,
    /// Longest wait for the response headers or the next bytes of the stream.
    pub idle_timeout: Duration,
}

/// Refuses base URLs that would leak the key: plain `http` to a non-loopback host,
/// credentials in the URL, or anything that is not http(s). `var` names the setting in
/// the message, `example` is a good value.
pub fn check_base_url(var: &str, base: &str, example: &str) -> anyhow::Result<()> {
    let url = reqwest::Url::parse(base)
        .map_err(|e| anyhow::anyhow!("{var} is not a URL: {e} (e.g. {example})"))?;
    if !url.username().is_empty() || url.password().is_some() {
        anyhow::bail!("{var} must not contain credentials (remove user:pass@)");
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url.host_str().unwrap_or("")) => Ok(()),
        "http" => anyhow::bail!("{var} uses plain http to a non-loopback host (use https)"),
        other => anyhow::bail!("{var} has unsupported scheme {other} (use https)"),
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The process-wide HTTP client (HTTP/1.1, no redirects, proxy from `HTTPS_PROXY`).
fn client() -> Result<&'static reqwest::Client, ProviderError> {
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                // Each streamed delta is a small write upstream of the client: no Nagle.
                .tcp_nodelay(true)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("clawdbot/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| format!("cannot build HTTP client: {}", e.without_url()))
        })
        .as_ref()
        .map_err(|e| ProviderError::Unavailable(Failure::unknown(e.clone())))
}

/// `host:port` of a base URL, for messages.
pub(crate) fn host_of(base: &str) -> String {
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

/// One streamed call to a provider: its name (for messages) and its configuration.
pub(crate) struct Call<'a> {
    pub provider: &'static str,
    /// The variable naming this provider's base URL (for messages).
    pub base_url_var: &'static str,
    pub up: &'a Upstream,
}

impl Call<'_> {
    /// `provider: what`, with the key scrubbed.
    fn text(&self, what: &str) -> String {
        scrub(&format!("{}: {what}", self.provider), &self.up.key)
    }

    /// A header value carrying the key, marked sensitive (kept out of reqwest's debug
    /// output); a key that is not a valid header value is an error that never shows it.
    pub fn secret_header(
        &self,
        value: &str,
    ) -> Result<reqwest::header::HeaderValue, ProviderError> {
        let mut v = reqwest::header::HeaderValue::from_str(value)
            .map_err(|_| self.error("the API key has invalid characters"))?;
        v.set_sensitive(true);
        Ok(v)
    }

    /// A sanitized [`ProviderError::Unavailable`] prefixed with the provider name.
    pub fn error(&self, what: impl AsRef<str>) -> ProviderError {
        self.failure(what, Reason::Unknown, None, None)
    }

    /// [`Call::error`] with what is known of why.
    fn failure(
        &self,
        what: impl AsRef<str>,
        reason: Reason,
        http_status: Option<u16>,
        error_type: Option<&str>,
    ) -> ProviderError {
        ProviderError::Unavailable(Failure {
            message: self.text(what.as_ref()),
            reason,
            http_status,
            error_type: error_type.map(|t| self.text_only(t, 64)),
        })
    }

    /// `text` with the key scrubbed, then cut to `max` characters.
    pub fn text_only(&self, text: &str, max: usize) -> String {
        scrub_cut(text.trim(), &self.up.key, max)
    }

    /// The error for an `error` event inside the stream, classified by its type.
    pub fn error_event(&self, error: &ErrorBody) -> ProviderError {
        let detail = error
            .describe(&self.up.key)
            .unwrap_or_else(|| "(no details)".into());
        let reason = Reason::classify(None, error.kind.as_deref(), error.message.as_deref());
        self.failure(
            format!("error event: {detail}"),
            reason,
            None,
            error.kind.as_deref(),
        )
    }

    fn transport_error(&self, e: &reqwest::Error) -> ProviderError {
        let host = host_of(&self.up.base_url);
        let what = if e.is_connect() {
            format!("cannot connect to {host}")
        } else if e.is_redirect() {
            format!("{host} answered with a redirect (redirects are not followed)")
        } else if e.is_body() || e.is_decode() {
            format!("the connection to {host} broke during the answer")
        } else {
            format!("request to {host} failed")
        };
        match root_cause(e) {
            Some(cause) => self.error(format!("{what}: {}", self.text_only(&cause, 160))),
            None => self.error(what),
        }
    }

    fn idle_error(&self) -> ProviderError {
        self.timeout(format!(
            "no data from {} for {} ms",
            host_of(&self.up.base_url),
            self.up.idle_timeout.as_millis()
        ))
    }

    fn timeout(&self, what: String) -> ProviderError {
        self.failure(what, Reason::Timeout, None, None)
    }

    /// The error for a call that did not finish within [`Upstream::timeout`].
    fn timeout_error(&self) -> ProviderError {
        self.timeout(format!(
            "no complete answer from {} within {} ms",
            host_of(&self.up.base_url),
            self.up.timeout.as_millis()
        ))
    }

    /// POSTs `body` (JSON) to `url` with `headers` and returns the open event stream.
    /// A non-2xx status becomes an error built from the body's `error.type` and
    /// `error.message`; 429 becomes [`ProviderError::RateLimited`] with `retry-after`.
    pub async fn open(
        &self,
        url: &str,
        headers: reqwest::header::HeaderMap,
        body: &impl serde::Serialize,
    ) -> Result<EventStream<'_>, ProviderError> {
        // Checked again here: a provider built in code did not pass `from_env`.
        check_base_url(self.base_url_var, &self.up.base_url, "https://…")
            .map_err(|e| self.error(e.to_string()))?;
        let request = client()?
            .post(url)
            .headers(headers)
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .json(body)
            .send();
        let response = tokio::time::timeout(self.up.idle_timeout, request)
            .await
            .map_err(|_| self.idle_error())?
            .map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(self.status_error(response).await);
        }
        let is_sse = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("text/event-stream"));
        if !is_sse {
            return Err(self.error(format!(
                "HTTP {} without an event stream (content-type is not text/event-stream)",
                status.as_u16()
            )));
        }
        Ok(EventStream {
            call: self,
            response,
            parser: sse::Parser::new(),
            ready: VecDeque::new(),
            read: 0,
        })
    }

    async fn status_error(&self, mut response: reqwest::Response) -> ProviderError {
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER));
        // The body only adds detail: a slow, broken or huge one is cut short.
        let mut body = Vec::new();
        let _ = tokio::time::timeout(self.up.idle_timeout, async {
            while let Ok(Some(chunk)) = response.chunk().await {
                let room = MAX_ERROR_BODY_BYTES.saturating_sub(body.len());
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if body.len() >= MAX_ERROR_BODY_BYTES {
                    break;
                }
            }
        })
        .await;
        let mut text = format!("HTTP {}", status.as_u16());
        let error = error_body(&body);
        match error.as_ref().and_then(|e| e.describe(&self.up.key)) {
            Some(detail) => {
                text.push(' ');
                text.push_str(&detail);
            }
            None => text.push_str(" (no error details)"),
        }
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            if let Some(after) = retry_after {
                text.push_str(&format!("; retry after {} s", after.as_secs()));
            }
            return ProviderError::RateLimited {
                message: self.text(&text),
                retry_after,
            };
        }
        let (kind, message) = error
            .as_ref()
            .map(|e| (e.kind.as_deref(), e.message.as_deref()))
            .unwrap_or((None, None));
        let reason = Reason::classify(Some(status.as_u16()), kind, message);
        self.failure(text, reason, Some(status.as_u16()), kind)
    }
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

/// The error object both APIs use: `{"error": {"type": "...", "message": "..."}}`.
#[derive(Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

impl ErrorBody {
    /// `type message`, each with `key` masked and then cut short, or `None` when both
    /// are empty.
    pub fn describe(&self, key: &Secret) -> Option<String> {
        let kind = scrub_cut(self.kind.as_deref().unwrap_or("").trim(), key, 64);
        let message = scrub_cut(self.message.as_deref().unwrap_or("").trim(), key, 200);
        let text = format!("{kind} {message}")
            .trim()
            .replace(['\r', '\n'], " ");
        (!text.is_empty()).then_some(text)
    }
}

/// The error object of an error body, when it is the usual JSON shape.
fn error_body(body: &[u8]) -> Option<ErrorBody> {
    serde_json::from_slice::<ErrorEnvelope>(body)
        .ok()
        .map(|e| e.error)
}

/// `type message` from an error body, when it is the usual JSON shape.
#[cfg(test)]
fn error_detail(body: &[u8]) -> Option<String> {
    error_body(body)?.describe(&Secret::new(""))
}

/// The events of an open response, read with the idle deadline and the size bounds.
pub(crate) struct EventStream<'a> {
    call: &'a Call<'a>,
    response: reqwest::Response,
    parser: sse::Parser,
    ready: VecDeque<Event>,
    read: usize,
}

impl EventStream<'_> {
    /// The next event, or `None` at the end of the response.
    pub async fn next(&mut self) -> Result<Option<Event>, ProviderError> {
        loop {
            if let Some(ev) = self.ready.pop_front() {
                return Ok(Some(ev));
            }
            let chunk = tokio::time::timeout(self.call.up.idle_timeout, self.response.chunk())
                .await
                .map_err(|_| self.call.idle_error())?
                .map_err(|e| self.call.transport_error(&e))?;
            let Some(chunk) = chunk else {
                return Ok(None);
            };
            self.read += chunk.len();
            if self.read > MAX_STREAM_BYTES {
                return Err(self
                    .call
                    .error(format!("response larger than {MAX_STREAM_BYTES} bytes")));
            }
            let events = self
                .parser
                .feed(&chunk)
                .map_err(|e| self.call.error(e.to_string()))?;
            self.ready.extend(events);
        }
    }
}

/// What one event of a provider's stream says (one event may say several things).
pub(crate) enum Said {
    /// The model that answers (the first one said counts).
    Model(String),
    /// Text to forward.
    Text(String),
    /// Why the answer ends (`end_turn`, `stop`, …).
    StopReason(String),
    /// The end of the answer.
    End,
}

/// One live provider API: where a chat goes, how the key travels, and what the events
/// of its answer say. [`stream`] does the rest, the same for every API.
pub(crate) trait Api {
    /// Provider name (`anthropic`, `openai`).
    const NAME: &'static str;
    /// The variable naming its base URL (for messages).
    const BASE_URL_VAR: &'static str;
    /// Path of the chat endpoint below the base URL.
    const PATH: &'static str;
    /// The event that ends an answer (for the error when the stream ends before it).
    const END: &'static str;

    /// The JSON request body asking `model` to continue `req`'s conversation, streamed.
    fn body<'a>(model: &'a str, req: &'a ChatRequest) -> impl serde::Serialize + 'a;

    /// The headers carrying the key (built with [`Call::secret_header`]).
    fn key_headers(call: &Call<'_>) -> Result<reqwest::header::HeaderMap, ProviderError>;

    /// Pushes what one event says to `said` (nothing for events it skips), or fails.
    fn read(call: &Call<'_>, event: &Event, said: &mut Vec<Said>) -> Result<(), ProviderError>;
}

/// A chat through API `A` at `up`, within its whole-request deadline: POSTs the body,
/// hands each event to [`Api::read`], forwards the text to `deltas` and stops at
/// [`Said::End`]. A stream that ends before it is an error; `model` (else the
/// configured one) is the model asked for.
pub(crate) async fn stream<A: Api>(
    up: &Upstream,
    model: Option<&str>,
    req: &ChatRequest,
    deltas: &tokio::sync::mpsc::Sender<String>,
) -> Result<ChatReply, ProviderError> {
    let call = Call {
        provider: A::NAME,
        base_url_var: A::BASE_URL_VAR,
        up,
    };
    let model = model.unwrap_or(&up.model);
    tokio::time::timeout(up.timeout, call.answer::<A>(model, req, deltas))
        .await
        .unwrap_or_else(|_| Err(call.timeout_error()))
}

impl Call<'_> {
    async fn answer<A: Api>(
        &self,
        model: &str,
        req: &ChatRequest,
        deltas: &tokio::sync::mpsc::Sender<String>,
    ) -> Result<ChatReply, ProviderError> {
        let url = format!("{}{}", self.up.base_url, A::PATH);
        let headers = A::key_headers(self)?;
        let mut events = self.open(&url, headers, &A::body(model, req)).await?;
        let mut reply = Reply::new(&self.up.key);
        let (mut answered_model, mut stop_reason) = (None, None);
        let mut said = Vec::new();
        'events: loop {
            let Some(event) = events.next().await? else {
                return Err(self.error(format!("the stream ended before {}", A::END)));
            };
            A::read(self, &event, &mut said)?;
            for s in said.drain(..) {
                match s {
                    Said::Model(m) => {
                        answered_model.get_or_insert(m);
                    }
                    Said::StopReason(r) => stop_reason = Some(self.text_only(&r, 40)),
                    Said::Text(t) => {
                        if !reply.push(self, &t, deltas).await? {
                            stop_reason = Some("aborted".into());
                            break 'events;
                        }
                    }
                    Said::End => {
                        if !reply.finish(deltas).await {
                            stop_reason = Some("aborted".into());
                        }
                        break 'events;
                    }
                }
            }
        }
        Ok(ChatReply {
            provider: self.provider.into(),
            model: answered_model
                .map(|m| self.text_only(&m, 100))
                .unwrap_or_else(|| model.to_string()),
            text: reply.text,
            stop_reason,
        })
    }
}

/// The reply text assembled from deltas, bounded by [`MAX_REPLY_BYTES`], with the key
/// masked in the text as a whole (a key split across deltas included): the deltas sent
/// on are cut where the masked text allows, so their concatenation is the masked reply.
pub(crate) struct Reply {
    pub text: String,
    /// Raw bytes received (the bound applies to what the upstream sent).
    received: usize,
    scrubber: StreamScrubber,
}

impl Reply {
    pub fn new(key: &Secret) -> Reply {
        Reply {
            text: String::new(),
            received: 0,
            scrubber: StreamScrubber::new(key),
        }
    }

    /// Appends a delta (key masked) and sends on what is safe to send; `Ok(false)` when
    /// nobody listens any more (the stream should end with what was produced).
    pub async fn push(
        &mut self,
        call: &Call<'_>,
        delta: &str,
        deltas: &tokio::sync::mpsc::Sender<String>,
    ) -> Result<bool, ProviderError> {
        if delta.is_empty() {
            return Ok(true);
        }
        if self.received + delta.len() > MAX_REPLY_BYTES {
            return Err(call.error(format!("reply longer than {MAX_REPLY_BYTES} bytes")));
        }
        self.received += delta.len();
        let safe = self.scrubber.push(delta);
        Ok(self.send(safe, deltas).await)
    }

    /// Sends on the held-back tail at the end of the answer; false when nobody listens.
    pub async fn finish(&mut self, deltas: &tokio::sync::mpsc::Sender<String>) -> bool {
        let tail = self.scrubber.finish();
        self.send(tail, deltas).await
    }

    async fn send(&mut self, text: String, deltas: &tokio::sync::mpsc::Sender<String>) -> bool {
        if text.is_empty() {
            return true;
        }
        self.text.push_str(&text);
        deltas.send(text).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_rules() {
        let ok = |u: &str| check_base_url("X_BASE_URL", u, "https://api.example.com").is_ok();
        assert!(ok("https://api.anthropic.com"));
        assert!(ok("http://127.0.0.1:9999"));
        assert!(ok("http://[::1]:9999"));
        assert!(ok("http://localhost:1"));
        assert!(!ok("http://example.com"));
        assert!(!ok("https://u:p@example.com"));
        assert!(!ok("ftp://example.com"));
        assert!(!ok("not a url"));
        // ASCII hosts only (the stub IDNA back end, `idna_adapter` 1.0 in Cargo.toml):
        // the punycode form of an international name is accepted, the name itself not.
        assert!(ok("https://xn--bcher-kva.example"));
        assert!(!ok("https://bücher.example"));
        let err = check_base_url("X_BASE_URL", "http://example.com", "e").unwrap_err();
        assert!(err.to_string().starts_with("X_BASE_URL uses plain http"));
    }

    #[test]
    fn error_detail_reads_both_shapes() {
        let anthropic =
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        assert_eq!(
            error_detail(anthropic).as_deref(),
            Some("overloaded_error Overloaded")
        );
        let openai = br#"{"error":{"message":"Incorrect API key","type":"invalid_request_error","code":"invalid_api_key"}}"#;
        assert_eq!(
            error_detail(openai).as_deref(),
            Some("invalid_request_error Incorrect API key")
        );
        assert_eq!(error_detail(b"<html>"), None);
        assert_eq!(error_detail(br#"{"error":{}}"#), None);
    }
}
