//! Model providers: a deterministic offline demo provider ([`demo`]) and the Anthropic
//! Messages API ([`anthropic`]).
//!
//! The mode is `demo` unless a real (non-placeholder) Anthropic key is configured. An
//! OpenAI key is recognised and reported (masked) by `clawdbot status`, but live chat is
//! only implemented for Anthropic, so an OpenAI key alone keeps the demo provider.

pub mod anthropic;
pub mod demo;

use std::time::Duration;

use crate::config::{read_secret_with_source, read_setting, Secret};
use crate::defaults;

/// `demo` when no real provider key is set (or only placeholders), else `live`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Demo,
    Live,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Demo => "demo",
            Mode::Live => "live",
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

#[derive(Debug, Clone)]
pub struct ChatRequest {
    pub messages: Vec<ChatMessage>,
    pub model: Option<String>,
    pub max_tokens: Option<u32>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ChatReply {
    pub provider: String,
    pub model: String,
    pub text: String,
}

/// One entry of the model catalog (`models.list`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelInfo {
    pub id: String,
    pub name: String,
    pub provider: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u32>,
}

/// Errors from a provider. Their text is sanitized: never a key, never a header.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("provider unavailable: {0}")]
    Unavailable(String),
}

/// Variable naming the Anthropic API base URL (default [`anthropic::DEFAULT_BASE_URL`]).
pub const BASE_URL_VAR: &str = "ANTHROPIC_BASE_URL";
/// Variable naming the model (default [`anthropic::DEFAULT_MODEL`]).
pub const MODEL_VAR: &str = "CLAWDBOT_MODEL";
/// Variable setting the whole-request timeout to the provider, in milliseconds.
pub const TIMEOUT_VAR: &str = "CLAWDBOT_PROVIDER_TIMEOUT_MS";
/// Default whole-request timeout to the provider.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The provider chosen from the environment.
#[derive(Debug, Clone)]
pub enum Provider {
    Demo,
    Anthropic {
        key: Secret,
        base_url: String,
        model: String,
        timeout: Duration,
    },
}

/// One provider key as seen in the environment, for `clawdbot status`.
#[derive(Debug, Clone)]
pub struct KeyInfo {
    /// Provider name: `anthropic` or `openai`.
    pub provider: &'static str,
    /// Variable it is read from (`<VAR>` or `<VAR>_FILE`).
    pub var: &'static str,
    pub key: Option<Secret>,
    /// The variable the key was read from (`<VAR>` or `<VAR>_FILE`), when set.
    pub source: Option<String>,
}

impl KeyInfo {
    /// A key that is set and is not a demo placeholder.
    pub fn is_real(&self) -> bool {
        self.key
            .as_ref()
            .is_some_and(|k| !defaults::is_placeholder(k.expose()))
    }
}

/// The provider keys present in the environment (values stay [`Secret`]s).
pub fn keys_from_env() -> anyhow::Result<Vec<KeyInfo>> {
    let mut out = Vec::new();
    for (provider, var) in [
        ("anthropic", defaults::ANTHROPIC_KEY_VAR),
        ("openai", defaults::OPENAI_KEY_VAR),
    ] {
        let found = read_secret_with_source(var)?;
        let (source, key) = match found {
            Some((source, key)) => (Some(source), Some(key)),
            None => (None, None),
        };
        out.push(KeyInfo {
            provider,
            var,
            key,
            source,
        });
    }
    Ok(out)
}

/// The model named by `CLAWDBOT_MODEL`, or the default.
pub fn model_from_env() -> String {
    read_setting(MODEL_VAR).unwrap_or_else(|| anthropic::DEFAULT_MODEL.to_string())
}

/// The Anthropic base URL from `ANTHROPIC_BASE_URL`, or the default (no trailing `/`).
pub fn base_url_from_env() -> String {
    read_setting(BASE_URL_VAR)
        .unwrap_or_else(|| anthropic::DEFAULT_BASE_URL.to_string())
        .trim_end_matches('/')
        .to_string()
}

impl Provider {
    /// Chooses the provider from the environment (`ANTHROPIC_API_KEY` or its `_FILE`,
    /// base URL from `ANTHROPIC_BASE_URL`): demo unless a real (non-placeholder) key is set.
    pub fn from_env() -> anyhow::Result<Provider> {
        let keys = keys_from_env()?;
        let anthropic = keys
            .into_iter()
            .find(|k| k.provider == "anthropic" && k.is_real())
            .and_then(|k| k.key);
        let Some(key) = anthropic else {
            return Ok(Provider::Demo);
        };
        let timeout = match read_setting(TIMEOUT_VAR) {
            None => DEFAULT_TIMEOUT,
            Some(v) => match v.parse::<u64>() {
                Ok(ms) if ms > 0 => Duration::from_millis(ms),
                _ => anyhow::bail!(
                    "{TIMEOUT_VAR}={v}: not a positive number of milliseconds (e.g. 60000)"
                ),
            },
        };
        let base_url = base_url_from_env();
        anthropic::check_base_url(&base_url)?;
        Ok(Provider::Anthropic {
            key,
            base_url,
            model: model_from_env(),
            timeout,
        })
    }

    /// A live Anthropic provider with the default model and timeout.
    pub fn anthropic(key: Secret, base_url: impl Into<String>) -> Provider {
        Provider::Anthropic {
            key,
            base_url: base_url.into().trim_end_matches('/').to_string(),
            model: anthropic::DEFAULT_MODEL.to_string(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    pub fn mode(&self) -> Mode {
        match self {
            Provider::Demo => Mode::Demo,
            Provider::Anthropic { .. } => Mode::Live,
        }
    }

    /// Provider name as reported in replies and status: `demo` or `anthropic`.
    pub fn name(&self) -> &'static str {
        match self {
            Provider::Demo => "demo",
            Provider::Anthropic { .. } => "anthropic",
        }
    }

    /// Streams a reply: text deltas are sent to `deltas` as they arrive (a bounded
    /// channel: the call waits while it is full, which bounds memory per stream), and the
    /// whole reply is returned at the end. Dropping the future cancels the upstream
    /// request, so `chat.abort` and a client disconnect are an `abort()` of the task that
    /// polls it. A closed `deltas` receiver ends the stream with what was produced.
    ///
    /// This is the one interface the gateway's chat runs use; every provider implements
    /// it (today the non-streaming providers send their whole text as one delta).
    pub async fn chat_stream(
        &self,
        req: ChatRequest,
        deltas: tokio::sync::mpsc::Sender<String>,
    ) -> Result<ChatReply, ProviderError> {
        let reply = self.chat(req).await?;
        // A receiver that went away only means nobody listens any more.
        let _ = deltas.send(reply.text.clone()).await;
        Ok(reply)
    }

    /// The model catalog of this provider (for `models.list`).
    pub fn models(&self) -> Vec<ModelInfo> {
        match self {
            Provider::Demo => vec![ModelInfo {
                id: demo::MODEL.to_string(),
                name: "Demo (offline, deterministic)".to_string(),
                provider: "demo".to_string(),
                context_window: None,
            }],
            Provider::Anthropic { model, .. } => vec![ModelInfo {
                id: model.clone(),
                name: model.clone(),
                provider: "anthropic".to_string(),
                context_window: None,
            }],
        }
    }

    pub async fn chat(&self, req: ChatRequest) -> Result<ChatReply, ProviderError> {
        validate(&req)?;
        match self {
            Provider::Demo => Ok(demo::reply(&req)),
            Provider::Anthropic {
                key,
                base_url,
                model,
                timeout,
            } => anthropic::chat(key, base_url, model, *timeout, &req).await,
        }
    }
}

/// Upper bound on `max_tokens` a client may ask for.
pub const MAX_TOKENS_LIMIT: u32 = 8192;

fn validate(req: &ChatRequest) -> Result<(), ProviderError> {
    if req.messages.is_empty() {
        return Err(ProviderError::Invalid("no messages".into()));
    }
    for m in &req.messages {
        if m.role != "user" && m.role != "assistant" {
            return Err(ProviderError::Invalid(format!(
                "role must be \"user\" or \"assistant\", got {:?}",
                truncate(&m.role, 32)
            )));
        }
    }
    if let Some(n) = req.max_tokens {
        if n == 0 || n > MAX_TOKENS_LIMIT {
            return Err(ProviderError::Invalid(format!(
                "max_tokens must be 1..={MAX_TOKENS_LIMIT}, got {n}"
            )));
        }
    }
    Ok(())
}

/// At most `max` characters of `s` (on a char boundary), with `…` when cut.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(msgs: &[(&str, &str)]) -> ChatRequest {
        ChatRequest {
            messages: msgs
                .iter()
                .map(|(r, c)| ChatMessage {
                    role: r.to_string(),
                    content: c.to_string(),
                })
                .collect(),
            model: None,
            max_tokens: None,
        }
    }

    #[test]
    fn validation_rejects_bad_requests() {
        assert!(validate(&req(&[])).is_err());
        assert!(validate(&req(&[("system", "x")])).is_err());
        let mut r = req(&[("user", "hi")]);
        assert!(validate(&r).is_ok());
        r.max_tokens = Some(0);
        assert!(validate(&r).is_err());
        r.max_tokens = Some(MAX_TOKENS_LIMIT + 1);
        assert!(validate(&r).is_err());
    }

    #[test]
    fn truncate_cuts_on_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "hé…");
        assert_eq!(truncate("abc", 3), "abc");
    }
}
