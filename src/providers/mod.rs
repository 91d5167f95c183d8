//! Model providers: a deterministic offline demo provider ([`demo`]), the Anthropic
//! Messages API ([`anthropic`]) and OpenAI Chat Completions ([`openai`]), all streamed.
//!
//! Selection (one rule, [`Provider::from_env`]): the provider with a real
//! (non-placeholder) key answers by default, Anthropic first, then OpenAI, else the demo
//! provider. When both keys are real both are configured: the catalog ([`Provider::models`])
//! lists the default model of each, and a request's `model` picks the provider
//! (`openai/gpt-4o-mini`, or a bare id found in a catalog; any other id goes to the
//! default provider). What clients name is checked first by [`Provider::resolve_model`]
//! (unknown ids and unconfigured providers refused). `CLAWDBOT_MODEL` sets the default
//! provider's model. Failures say why in the protocol's terms ([`failure`]).

pub mod anthropic;
pub mod demo;
pub mod failure;
pub mod openai;
mod scrub;
pub mod sse;
pub mod upstream;

use std::time::Duration;

use tokio::sync::mpsc;

use crate::config::{read_secret_with_source, read_setting, Secret};
use crate::defaults;
pub use failure::{Failure, Reason};
pub use upstream::Upstream;

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
    /// A model id, optionally `provider/model`; `None` is the default provider's model.
    pub model: Option<String>,
    pub max_tokens: Option<u32>,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatReply {
    pub provider: String,
    pub model: String,
    pub text: String,
    /// Why the answer ended, as the provider says it (`end_turn`, `stop`, `max_tokens`,
    /// …), or `aborted` when the deltas receiver went away first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
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
    /// The request was refused before anything was sent.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The upstream failed: refused (4xx/5xx), broke off, sent too much, or timed out.
    #[error("provider unavailable: {0}")]
    Unavailable(Failure),
    /// The upstream answered 429; `retry_after` is its `retry-after` header, if any.
    #[error("provider rate limited: {message}")]
    RateLimited {
        message: String,
        retry_after: Option<Duration>,
    },
}

impl ProviderError {
    /// Why the call failed, in the protocol's terms (a refused request is `Unknown`:
    /// it never reached a provider).
    pub fn reason(&self) -> Reason {
        match self {
            ProviderError::Invalid(_) => Reason::Unknown,
            ProviderError::Unavailable(f) => f.reason,
            ProviderError::RateLimited { .. } => Reason::RateLimit,
        }
    }

    /// The chat event's `errorDetail` for this error from `provider` (and `model`).
    pub fn detail(&self, provider: &str, model: Option<&str>) -> serde_json::Value {
        let (status, error_type, message) = match self {
            ProviderError::Invalid(m) => (None, None, m.as_str()),
            ProviderError::Unavailable(f) => {
                (f.http_status, f.error_type.as_deref(), f.message.as_str())
            }
            ProviderError::RateLimited { message, .. } => (Some(429), None, message.as_str()),
        };
        failure::detail(provider, model, self.reason(), status, error_type, message)
    }
}

/// Variable naming the Anthropic API base URL (default [`anthropic::DEFAULT_BASE_URL`]).
pub const BASE_URL_VAR: &str = anthropic::BASE_URL_VAR;
/// Every variable naming a provider base URL (the egress allowlist adds their hosts).
pub const BASE_URL_VARS: [&str; 2] = [anthropic::BASE_URL_VAR, openai::BASE_URL_VAR];
/// Variable naming the default provider's model.
pub const MODEL_VAR: &str = "CLAWDBOT_MODEL";
/// Variable setting the whole-request deadline to a provider, in milliseconds.
pub const TIMEOUT_VAR: &str = "CLAWDBOT_PROVIDER_TIMEOUT_MS";
/// Variable setting the longest silence of a provider (headers, next bytes), in ms.
pub const IDLE_TIMEOUT_VAR: &str = "CLAWDBOT_PROVIDER_IDLE_TIMEOUT_MS";
/// Default whole-request deadline (a long streamed answer fits).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// Default longest silence (the APIs send keep-alive pings well within it).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// One configured provider.
#[derive(Debug, Clone)]
pub enum Backend {
    Demo { chunk_delay: Duration },
    Anthropic(Upstream),
    OpenAi(Upstream),
}

impl Backend {
    /// `demo`, `anthropic` or `openai`.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Demo { .. } => "demo",
            Backend::Anthropic(_) => anthropic::NAME,
            Backend::OpenAi(_) => openai::NAME,
        }
    }

    /// The default model id.
    pub fn model(&self) -> &str {
        match self {
            Backend::Demo { .. } => demo::MODEL,
            Backend::Anthropic(up) | Backend::OpenAi(up) => &up.model,
        }
    }

    fn upstream(&self) -> Option<&Upstream> {
        match self {
            Backend::Demo { .. } => None,
            Backend::Anthropic(up) | Backend::OpenAi(up) => Some(up),
        }
    }

    fn model_info(&self) -> ModelInfo {
        let name = match self {
            Backend::Demo { .. } => "Demo (offline, deterministic)".to_string(),
            _ => self.model().to_string(),
        };
        ModelInfo {
            id: self.model().to_string(),
            name,
            provider: self.name().to_string(),
            context_window: None,
        }
    }
}

/// The configured providers; the first answers by default.
#[derive(Debug, Clone)]
pub struct Provider {
    backends: Vec<Backend>,
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
        (anthropic::NAME, defaults::ANTHROPIC_KEY_VAR),
        (openai::NAME, defaults::OPENAI_KEY_VAR),
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

/// A duration setting in milliseconds within `range` (ms), or `default` when unset.
fn millis_setting(
    var: &str,
    default: Duration,
    range: std::ops::RangeInclusive<u64>,
) -> anyhow::Result<Duration> {
    let Some(v) = read_setting(var) else {
        return Ok(default);
    };
    match v.trim().parse::<u64>() {
        Ok(ms) if range.contains(&ms) => Ok(Duration::from_millis(ms)),
        _ => anyhow::bail!(
            "{var}={}: not a number of milliseconds in {}..={}",
            truncate(&v, 40),
            range.start(),
            range.end()
        ),
    }
}

/// The base URL in `var` (no trailing `/`), or `default`; refused when unsafe.
fn base_url_setting(var: &str, default: &str) -> anyhow::Result<String> {
    let url = read_setting(var)
        .unwrap_or_else(|| default.to_string())
        .trim_end_matches('/')
        .to_string();
    upstream::check_base_url(var, &url, default)?;
    Ok(url)
}

impl Provider {
    /// Chooses the providers from the environment (see the module header): keys from
    /// `ANTHROPIC_API_KEY` / `OPENAI_API_KEY` (or their `_FILE`), base URLs from
    /// `ANTHROPIC_BASE_URL` / `OPENAI_BASE_URL`, the default model from `CLAWDBOT_MODEL`,
    /// deadlines from `CLAWDBOT_PROVIDER_TIMEOUT_MS` / `_IDLE_TIMEOUT_MS`, the demo pace
    /// from `CLAWDBOT_DEMO_CHUNK_DELAY_MS`. Settings of an unused provider are ignored.
    pub fn from_env() -> anyhow::Result<Provider> {
        let keys = keys_from_env()?;
        let real = |name: &str| {
            keys.iter()
                .find(|k| k.provider == name && k.is_real())
                .and_then(|k| k.key.clone())
        };
        let (anthropic_key, openai_key) = (real(anthropic::NAME), real(openai::NAME));
        if anthropic_key.is_none() && openai_key.is_none() {
            let chunk_delay = millis_setting(
                demo::CHUNK_DELAY_VAR,
                demo::DEFAULT_CHUNK_DELAY,
                0..=demo::MAX_CHUNK_DELAY.as_millis() as u64,
            )?;
            return Ok(Provider::demo_paced(chunk_delay));
        }
        let timeout = millis_setting(TIMEOUT_VAR, DEFAULT_TIMEOUT, 1..=3_600_000)?;
        let idle_timeout = millis_setting(IDLE_TIMEOUT_VAR, DEFAULT_IDLE_TIMEOUT, 1..=3_600_000)?;
        let mut model = read_setting(MODEL_VAR).map(|m| m.trim().to_string());
        if let Some(m) = &model {
            check_model(m).map_err(|e| anyhow::anyhow!("{MODEL_VAR}: {e}"))?;
        }
        let mut backends = Vec::new();
        if let Some(key) = anthropic_key {
            backends.push(Backend::Anthropic(Upstream {
                key,
                base_url: base_url_setting(anthropic::BASE_URL_VAR, anthropic::DEFAULT_BASE_URL)?,
                model: model
                    .take()
                    .unwrap_or_else(|| anthropic::DEFAULT_MODEL.into()),
                timeout,
                idle_timeout,
            }));
        }
        if let Some(key) = openai_key {
            backends.push(Backend::OpenAi(Upstream {
                key,
                base_url: base_url_setting(openai::BASE_URL_VAR, openai::DEFAULT_BASE_URL)?,
                model: model.take().unwrap_or_else(|| openai::DEFAULT_MODEL.into()),
                timeout,
                idle_timeout,
            }));
        }
        Ok(Provider { backends })
    }

    /// The demo provider, streaming without pauses.
    pub fn demo() -> Provider {
        Provider::demo_paced(Duration::ZERO)
    }

    /// The demo provider, pausing `chunk_delay` between two chunks.
    pub fn demo_paced(chunk_delay: Duration) -> Provider {
        Provider {
            backends: vec![Backend::Demo { chunk_delay }],
        }
    }

    /// Live providers, the first being the default. `None` when `backends` is empty.
    pub fn with_backends(backends: Vec<Backend>) -> Option<Provider> {
        (!backends.is_empty()).then_some(Provider { backends })
    }

    /// A live Anthropic provider with the default model and deadlines.
    pub fn anthropic(key: Secret, base_url: impl Into<String>) -> Provider {
        Provider {
            backends: vec![Backend::Anthropic(Upstream {
                key,
                base_url: base_url.into().trim_end_matches('/').to_string(),
                model: anthropic::DEFAULT_MODEL.to_string(),
                timeout: DEFAULT_TIMEOUT,
                idle_timeout: DEFAULT_IDLE_TIMEOUT,
            })],
        }
    }

    /// A live OpenAI provider with the default model and deadlines (`base_url` includes
    /// the API version, e.g. `https://api.openai.com/v1`).
    pub fn openai(key: Secret, base_url: impl Into<String>) -> Provider {
        Provider {
            backends: vec![Backend::OpenAi(Upstream {
                key,
                base_url: base_url.into().trim_end_matches('/').to_string(),
                model: openai::DEFAULT_MODEL.to_string(),
                timeout: DEFAULT_TIMEOUT,
                idle_timeout: DEFAULT_IDLE_TIMEOUT,
            })],
        }
    }

    /// The API keys of the configured providers (to mask them wherever text is kept).
    pub fn keys(&self) -> impl Iterator<Item = &Secret> {
        self.backends
            .iter()
            .filter_map(Backend::upstream)
            .map(|up| &up.key)
    }

    /// The configured providers, the default first.
    pub fn backends(&self) -> &[Backend] {
        &self.backends
    }

    fn primary(&self) -> &Backend {
        // `backends` is never empty: every constructor puts one in.
        &self.backends[0]
    }

    pub fn mode(&self) -> Mode {
        match self.primary() {
            Backend::Demo { .. } => Mode::Demo,
            _ => Mode::Live,
        }
    }

    /// Name of the default provider: `demo`, `anthropic` or `openai`.
    pub fn name(&self) -> &'static str {
        self.primary().name()
    }

    /// The default provider's model id.
    pub fn model(&self) -> &str {
        self.primary().model()
    }

    /// The default provider's base URL (`None` for the demo provider).
    pub fn base_url(&self) -> Option<&str> {
        self.primary().upstream().map(|u| u.base_url.as_str())
    }

    /// The model catalog (for `models.list`): the default model of each configured
    /// provider, the default provider first.
    pub fn models(&self) -> Vec<ModelInfo> {
        self.backends.iter().map(Backend::model_info).collect()
    }

    /// The provider for a request's `model`, and the model id to ask it for (`None`: its
    /// default). `provider/model` picks a configured provider (an unconfigured one is
    /// refused); a bare id found in a catalog picks that provider; anything else goes to
    /// the default provider as is.
    pub fn route<'a>(
        &self,
        model: Option<&'a str>,
    ) -> Result<(&Backend, Option<&'a str>), ProviderError> {
        let Some(model) = model.map(str::trim).filter(|m| !m.is_empty()) else {
            return Ok((self.primary(), None));
        };
        check_model(model).map_err(ProviderError::Invalid)?;
        if let Some((prefix, id)) = model.split_once('/') {
            if let Some(b) = self.backends.iter().find(|b| b.name() == prefix) {
                return Ok((b, Some(id)));
            }
            if ["demo", anthropic::NAME, openai::NAME].contains(&prefix) {
                return Err(ProviderError::Invalid(format!(
                    "model {:?}: provider {prefix} is not configured (configured: {})",
                    truncate(model, 100),
                    self.backends
                        .iter()
                        .map(Backend::name)
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        if let Some(b) = self.backends.iter().find(|b| b.model() == model) {
            return Ok((b, Some(model)));
        }
        Ok((self.primary(), Some(model)))
    }

    /// Resolves a model a client names (`agent`, `sessions.create`, `sessions.patch`) to
    /// the canonical `provider/model`: a bare id must be in the catalog; `provider/model`
    /// must name a configured provider, and for the demo provider its one model (a live
    /// provider's API judges its own model ids: the catalog lists only the defaults).
    /// Anything else is refused with a message listing the catalog.
    pub fn resolve_model(&self, model: &str) -> Result<String, ProviderError> {
        let model = model.trim();
        check_model(model).map_err(ProviderError::Invalid)?;
        let found = match model.split_once('/') {
            Some((prefix, id)) => self.backends.iter().find(|b| {
                b.name() == prefix && !id.is_empty() && (b.upstream().is_some() || b.model() == id)
            }),
            None => self.backends.iter().find(|b| b.model() == model),
        };
        match found {
            Some(b) => {
                let id = model.split_once('/').map_or(model, |(_, id)| id);
                Ok(format!("{}/{id}", b.name()))
            }
            None => Err(ProviderError::Invalid(format!(
                "unknown model {:?} (this gateway offers: {})",
                truncate(model, 64),
                self.backends
                    .iter()
                    .map(|b| format!("{}/{}", b.name(), b.model()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// The provider name and model id a request's `model` goes to (the default
    /// provider's for `None` or a model it would refuse).
    pub fn served_by<'a>(&'a self, model: Option<&'a str>) -> (&'static str, &'a str) {
        match self.route(model) {
            Ok((b, id)) => (b.name(), id.unwrap_or_else(|| b.model())),
            Err(_) => (self.name(), self.model()),
        }
    }

    /// Streams a reply: text deltas are sent to `deltas` as they arrive (a bounded
    /// channel: the call waits while it is full, which bounds memory per stream), and the
    /// whole reply is returned at the end. Dropping the future cancels the upstream
    /// request (its connection is closed), so `chat.abort` and a client disconnect are
    /// an `abort()` of the task that polls it. A closed `deltas` receiver ends the stream
    /// with what was sent (`stop_reason` `aborted`).
    ///
    /// This is the one interface the gateway's chat runs use. Upstream failures (status
    /// 4xx/5xx, 429, a broken or oversized stream, the idle and total deadlines) are
    /// errors whose text names the provider and host, never a key or header.
    pub async fn chat_stream(
        &self,
        req: ChatRequest,
        deltas: mpsc::Sender<String>,
    ) -> Result<ChatReply, ProviderError> {
        validate(&req)?;
        let (backend, model) = self.route(req.model.as_deref())?;
        match backend {
            Backend::Demo { chunk_delay } => Ok(demo::stream(&req, *chunk_delay, &deltas).await),
            Backend::Anthropic(up) => {
                upstream::stream::<anthropic::Messages>(up, model, &req, &deltas).await
            }
            Backend::OpenAi(up) => {
                upstream::stream::<openai::Completions>(up, model, &req, &deltas).await
            }
        }
    }

    /// [`Provider::chat_stream`] without listening to the deltas: the whole reply.
    pub async fn chat(&self, req: ChatRequest) -> Result<ChatReply, ProviderError> {
        let (tx, mut rx) = mpsc::channel(16);
        let drain = async move { while rx.recv().await.is_some() {} };
        let (reply, ()) = tokio::join!(self.chat_stream(req, tx), drain);
        reply
    }
}

/// Longest model id accepted.
pub const MAX_MODEL_LEN: usize = 200;

fn check_model(model: &str) -> Result<(), String> {
    if model.is_empty() || model.len() > MAX_MODEL_LEN || model.chars().any(char::is_control) {
        return Err(format!(
            "model must be 1..={MAX_MODEL_LEN} characters without control characters"
        ));
    }
    Ok(())
}

/// Upper bound on `max_tokens` a client may ask for.
pub const MAX_TOKENS_LIMIT: u32 = 8192;
/// Most messages in one request (a session's transcript included).
pub const MAX_REQUEST_MESSAGES: usize = 1024;
/// Most content bytes in one request, all messages together.
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;

fn validate(req: &ChatRequest) -> Result<(), ProviderError> {
    if req.messages.is_empty() {
        return Err(ProviderError::Invalid("no messages".into()));
    }
    if req.messages.len() > MAX_REQUEST_MESSAGES {
        return Err(ProviderError::Invalid(format!(
            "more than {MAX_REQUEST_MESSAGES} messages"
        )));
    }
    let bytes: usize = req.messages.iter().map(|m| m.content.len()).sum();
    if bytes > MAX_REQUEST_BYTES {
        return Err(ProviderError::Invalid(format!(
            "messages larger than {MAX_REQUEST_BYTES} bytes in total"
        )));
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
        let big = "x".repeat(MAX_REQUEST_BYTES / 2 + 1);
        assert!(validate(&req(&[("user", &big), ("assistant", &big)])).is_err());
        let many = vec![("user", "x"); MAX_REQUEST_MESSAGES + 1];
        assert!(validate(&req(&many)).is_err());
        assert!(validate(&req(&many[1..])).is_ok());
    }

    fn live(name: &str, model: &str) -> Backend {
        let up = Upstream {
            key: Secret::new("k"),
            base_url: "http://127.0.0.1:1".into(),
            model: model.into(),
            timeout: DEFAULT_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        };
        match name {
            "anthropic" => Backend::Anthropic(up),
            _ => Backend::OpenAi(up),
        }
    }

    #[test]
    fn routing_by_model() {
        let p =
            Provider::with_backends(vec![live("anthropic", "claude-x"), live("openai", "gpt-y")])
                .unwrap();
        let route = |m: Option<&str>| {
            p.route(m)
                .map(|(b, id)| (b.name(), id.map(str::to_string)))
                .map_err(|e| e.to_string())
        };
        assert_eq!(route(None), Ok(("anthropic", None)));
        assert_eq!(route(Some(" ")), Ok(("anthropic", None)));
        assert_eq!(route(Some("gpt-y")), Ok(("openai", Some("gpt-y".into()))));
        assert_eq!(
            route(Some("openai/gpt-4.1")),
            Ok(("openai", Some("gpt-4.1".into())))
        );
        assert_eq!(
            route(Some("claude-other")),
            Ok(("anthropic", Some("claude-other".into())))
        );
        // An id with a slash that is not a provider name goes to the default provider.
        assert_eq!(
            route(Some("meta/llama")),
            Ok(("anthropic", Some("meta/llama".into())))
        );
        let err = route(Some("demo/demo")).unwrap_err();
        assert!(err.contains("provider demo is not configured (configured: anthropic, openai)"));
        assert!(route(Some("bad\nmodel")).is_err());
        assert_eq!(
            p.models()
                .iter()
                .map(|m| (m.provider.as_str(), m.id.as_str()))
                .collect::<Vec<_>>(),
            [("anthropic", "claude-x"), ("openai", "gpt-y")]
        );
        assert_eq!(p.mode(), Mode::Live);
        assert!(Provider::with_backends(vec![]).is_none());

        let demo = Provider::demo();
        assert_eq!(demo.mode(), Mode::Demo);
        assert_eq!(demo.base_url(), None);
        assert_eq!(demo.route(Some("anything")).unwrap().0.name(), "demo");
        assert!(demo.route(Some("openai/gpt")).is_err());
    }

    #[test]
    fn client_models_resolve_to_a_configured_provider() {
        let p =
            Provider::with_backends(vec![live("anthropic", "claude-x"), live("openai", "gpt-y")])
                .unwrap();
        let ok = |m: &str| p.resolve_model(m).map_err(|e| e.to_string());
        assert_eq!(ok("gpt-y"), Ok("openai/gpt-y".into()));
        assert_eq!(ok(" claude-x "), Ok("anthropic/claude-x".into()));
        assert_eq!(ok("openai/gpt-y"), Ok("openai/gpt-y".into()));
        // A live provider's API judges its own ids.
        assert_eq!(ok("openai/gpt-4.1"), Ok("openai/gpt-4.1".into()));
        for bad in [
            "gpt-4.1",
            "demo/demo",
            "meta/llama",
            "openai/",
            "/x",
            "",
            "a\nb",
        ] {
            let err = ok(bad).unwrap_err();
            assert!(err.starts_with("invalid request:"), "{bad}: {err}");
        }
        assert!(ok("gpt-4.1")
            .unwrap_err()
            .contains("this gateway offers: anthropic/claude-x, openai/gpt-y"));
        // The stored form routes back to the same provider and model.
        assert_eq!(p.served_by(Some("openai/gpt-4.1")), ("openai", "gpt-4.1"));
        assert_eq!(p.served_by(Some("gpt-y")), ("openai", "gpt-y"));
        assert_eq!(p.served_by(None), ("anthropic", "claude-x"));
        assert_eq!(p.served_by(Some("demo/demo")), ("anthropic", "claude-x"));

        let demo = Provider::demo();
        assert_eq!(demo.resolve_model("demo").unwrap(), "demo/demo");
        assert_eq!(demo.resolve_model("demo/demo").unwrap(), "demo/demo");
        assert!(demo.resolve_model("demo/other").is_err());
        assert!(demo.resolve_model("openai/gpt-4o-mini").is_err());
        assert_eq!(demo.served_by(Some("demo/demo")), ("demo", "demo"));
    }

    #[test]
    fn truncate_cuts_on_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "hé…");
        assert_eq!(truncate("abc", 3), "abc");
    }
}
