//! Model providers: a deterministic offline demo provider and the Anthropic Messages API.
//! (Interface skeleton; implementation in progress.)

use crate::config::Secret;

/// `demo` when no real provider key is set (or only placeholders), else `live`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Demo,
    Live,
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

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("provider unavailable: {0}")]
    Unavailable(String),
}

/// The provider chosen from the environment.
#[derive(Debug, Clone)]
pub enum Provider {
    Demo,
    Anthropic { key: Secret, base_url: String },
}

impl Provider {
    /// Chooses the provider from the environment (`ANTHROPIC_API_KEY` or its `_FILE`,
    /// base URL from `ANTHROPIC_BASE_URL`): demo unless a real (non-placeholder) key is set.
    pub fn from_env() -> anyhow::Result<Provider> {
        Ok(Provider::Demo)
    }

    pub fn mode(&self) -> Mode {
        match self {
            Provider::Demo => Mode::Demo,
            Provider::Anthropic { .. } => Mode::Live,
        }
    }

    pub async fn chat(&self, req: ChatRequest) -> Result<ChatReply, ProviderError> {
        let last = req
            .messages
            .last()
            .map(|m| m.content.clone())
            .unwrap_or_default();
        Ok(ChatReply {
            provider: "demo".into(),
            model: "demo".into(),
            text: format!("demo: {last}"),
        })
    }
}
