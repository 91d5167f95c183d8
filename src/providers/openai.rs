//! Live provider: OpenAI Chat Completions (`POST {base}/chat/completions`, `stream: true`).
//!
//! The answer arrives as server-sent events whose data is a `chat.completion.chunk`
//! (`choices[0].delta.content` is the text, forwarded as it comes, `finish_reason` the
//! stop reason), an `{"error": …}` object, or the literal `[DONE]` (the end). A stream
//! that ends before `[DONE]` is an error. The base URL follows the OpenAI SDKs'
//! `OPENAI_BASE_URL` convention: it includes the API version (`…/v1`). The key travels
//! only in the `Authorization: Bearer` header (marked sensitive).

use reqwest::header::{HeaderMap, AUTHORIZATION};
use serde::{Deserialize, Serialize};

use super::sse::Event;
use super::upstream::{Api, Call, ErrorBody, Said};
use super::{ChatMessage, ChatRequest, ProviderError};

pub const NAME: &str = "openai";
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
pub const DEFAULT_MODEL: &str = "gpt-4o-mini";
/// Variable naming the base URL (default [`DEFAULT_BASE_URL`]).
pub const BASE_URL_VAR: &str = "OPENAI_BASE_URL";

#[derive(Serialize)]
struct CompletionsRequest<'a> {
    model: &'a str,
    /// `ChatMessage` serialises as the `{role, content}` both APIs take.
    messages: &'a [ChatMessage],
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    error: Option<ErrorBody>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
}

/// Chat Completions: `POST {base_url}/chat/completions`.
pub(crate) struct Completions;

impl Api for Completions {
    const NAME: &'static str = NAME;
    const BASE_URL_VAR: &'static str = BASE_URL_VAR;
    const PATH: &'static str = "/chat/completions";
    const END: &'static str = "[DONE]";

    fn body<'a>(model: &'a str, req: &'a ChatRequest) -> impl serde::Serialize + 'a {
        CompletionsRequest {
            model,
            messages: &req.messages,
            stream: true,
            max_completion_tokens: req.max_tokens,
        }
    }

    fn key_headers(call: &Call<'_>) -> Result<HeaderMap, ProviderError> {
        let mut headers = HeaderMap::new();
        let bearer = format!("Bearer {}", call.up.key.expose());
        headers.insert(AUTHORIZATION, call.secret_header(&bearer)?);
        Ok(headers)
    }

    fn read(call: &Call<'_>, event: &Event, said: &mut Vec<Said>) -> Result<(), ProviderError> {
        if event.data.trim() == "[DONE]" {
            said.push(Said::End);
            return Ok(());
        }
        let chunk: Chunk =
            serde_json::from_str(&event.data).map_err(|_| call.error("malformed stream chunk"))?;
        if let Some(error) = chunk.error {
            return Err(call.error_event(&error));
        }
        said.extend(chunk.model.map(Said::Model));
        // One choice is asked for (`n` defaults to 1); others would be ignored.
        if let Some(choice) = chunk.choices.into_iter().next() {
            said.extend(choice.finish_reason.map(Said::StopReason));
            said.extend(choice.delta.and_then(|d| d.content).map(Said::Text));
        }
        Ok(())
    }
}
