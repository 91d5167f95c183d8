//! Live provider: the Anthropic Messages API (`POST {base}/v1/messages`, `stream: true`).
//!
//! The answer arrives as server-sent events: `message_start` (the model),
//! `content_block_delta` with a `text_delta` (the text, forwarded as it comes),
//! `message_delta` (the stop reason), `message_stop` (the end) or `error`. A stream that
//! ends before `message_stop` is an error. The key travels only in the `x-api-key`
//! header (marked sensitive).

use reqwest::header::{HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};

use super::sse::Event;
use super::upstream::{Api, Call, ErrorBody, Said};
use super::{ChatMessage, ChatRequest, ProviderError};

pub const NAME: &str = "anthropic";
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
pub const DEFAULT_MODEL: &str = "claude-sonnet-4-5";
pub const API_VERSION: &str = "2023-06-01";
pub const DEFAULT_MAX_TOKENS: u32 = 1024;
/// Variable naming the base URL (default [`DEFAULT_BASE_URL`]).
pub const BASE_URL_VAR: &str = "ANTHROPIC_BASE_URL";

#[derive(Serialize)]
struct MessagesRequest<'a> {
    model: &'a str,
    max_tokens: u32,
    /// `ChatMessage` serialises as the `{role, content}` both APIs take.
    messages: &'a [ChatMessage],
    stream: bool,
}

/// The events used; anything else (`ping`, `content_block_start`, …) is skipped.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum StreamEvent {
    MessageStart {
        message: StartedMessage,
    },
    ContentBlockDelta {
        delta: Delta,
    },
    MessageDelta {
        #[serde(default)]
        delta: Option<MessageDeltaBody>,
    },
    MessageStop,
    Error {
        error: ErrorBody,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct StartedMessage {
    #[serde(default)]
    model: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Delta {
    TextDelta {
        text: String,
    },
    /// Tool input, thinking and signature deltas are not text.
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct MessageDeltaBody {
    #[serde(default)]
    stop_reason: Option<String>,
}

/// The Messages API: `POST {base_url}/v1/messages`.
pub(crate) struct Messages;

impl Api for Messages {
    const NAME: &'static str = NAME;
    const BASE_URL_VAR: &'static str = BASE_URL_VAR;
    const PATH: &'static str = "/v1/messages";
    const END: &'static str = "message_stop";

    fn body<'a>(model: &'a str, req: &'a ChatRequest) -> impl serde::Serialize + 'a {
        MessagesRequest {
            model,
            max_tokens: req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
            messages: &req.messages,
            stream: true,
        }
    }

    fn key_headers(call: &Call<'_>) -> Result<HeaderMap, ProviderError> {
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", call.secret_header(call.up.key.expose())?);
        headers.insert("anthropic-version", HeaderValue::from_static(API_VERSION));
        Ok(headers)
    }

    fn read(call: &Call<'_>, event: &Event, said: &mut Vec<Said>) -> Result<(), ProviderError> {
        let parsed: StreamEvent = serde_json::from_str(&event.data).map_err(|_| {
            call.error(format!(
                "malformed stream event {:?}",
                call.text_only(&event.name, 40)
            ))
        })?;
        match parsed {
            StreamEvent::MessageStart { message } => said.extend(message.model.map(Said::Model)),
            StreamEvent::ContentBlockDelta {
                delta: Delta::TextDelta { text },
            } => said.push(Said::Text(text)),
            StreamEvent::MessageDelta { delta } => {
                said.extend(delta.and_then(|d| d.stop_reason).map(Said::StopReason))
            }
            StreamEvent::MessageStop => said.push(Said::End),
            StreamEvent::Error { error } => return Err(call.error_event(&error)),
            StreamEvent::ContentBlockDelta { .. } | StreamEvent::Other => {}
        }
        Ok(())
    }
}
