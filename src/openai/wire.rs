//! The wire shapes of OpenAI Chat Completions: the request as clients send it (unknown
//! fields ignored; fields that would change the meaning of the answer and that this
//! gateway cannot honour refused), its translation to a provider [`ChatRequest`], and
//! the response, chunk and model-list objects.

use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::limits::OpenAiArgs;
use crate::providers::{ChatMessage, ChatRequest, MAX_TOKENS_LIMIT};

/// `POST /v1/chat/completions` body (the fields this gateway reads).
#[derive(Debug, Deserialize)]
pub struct CompletionRequest {
    pub model: String,
    pub messages: Vec<WireMessage>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    #[serde(default)]
    pub max_tokens: Option<u64>,
    #[serde(default)]
    pub max_completion_tokens: Option<u64>,
    #[serde(default)]
    pub n: Option<u64>,
    #[serde(default)]
    pub tool_choice: Option<Value>,
    #[serde(default)]
    pub logprobs: Option<bool>,
}

#[derive(Debug, Deserialize, Default)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub struct WireMessage {
    pub role: String,
    #[serde(default)]
    pub content: Option<Content>,
    #[serde(default)]
    pub tool_calls: Option<Value>,
}

/// A message's content: a string, or an array of parts.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Debug, Deserialize)]
pub struct Part {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
}

impl Content {
    fn text(&self) -> Result<String, ApiError> {
        match self {
            Content::Text(t) => Ok(t.clone()),
            Content::Parts(parts) => {
                let mut out = String::new();
                for p in parts {
                    match (p.kind.as_str(), &p.text) {
                        ("text", Some(t)) => out.push_str(t),
                        _ => {
                            return Err(ApiError::unsupported(
                                "messages",
                                format!(
                                    "content part type {:?} is not supported (text only)",
                                    crate::providers::truncate(
                                        &p.kind,
                                        super::limits::ECHO_MAX_CHARS
                                    )
                                ),
                            ))
                        }
                    }
                }
                Ok(out)
            }
        }
    }
}

/// What a validated request asks for.
#[derive(Debug)]
pub struct Plan {
    pub chat: ChatRequest,
    pub stream: bool,
    pub include_usage: bool,
    /// Characters of the prompt (for the usage estimate).
    pub prompt_chars: usize,
}

impl CompletionRequest {
    /// Checks the request against the API's bounds and the supported subset, and
    /// translates it: `system`/`developer` messages are put in front of the first user
    /// message (the provider interface carries user and assistant turns only).
    pub fn plan(self, limits: &OpenAiArgs, model: String) -> Result<Plan, ApiError> {
        if let Some(n) = self.n {
            if n != 1 {
                return Err(ApiError::unsupported("n", "only n = 1 is supported"));
            }
        }
        if self.logprobs == Some(true) {
            return Err(ApiError::unsupported(
                "logprobs",
                "logprobs are not supported",
            ));
        }
        match &self.tool_choice {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s == "auto" || s == "none" => {}
            Some(_) => return Err(ApiError::unsupported(
                "tool_choice",
                "this gateway does not call tools: tool_choice may only be \"auto\" or \"none\"",
            )),
        }
        if self.messages.is_empty() {
            return Err(ApiError::invalid("messages", "messages must not be empty"));
        }
        if self.messages.len() > limits.openai_max_messages {
            return Err(ApiError::invalid(
                "messages",
                format!(
                    "too many messages: {} (this gateway accepts at most {})",
                    self.messages.len(),
                    limits.openai_max_messages
                ),
            ));
        }
        let max_tokens = match self.max_completion_tokens.or(self.max_tokens) {
            None => None,
            Some(n) if (1..=u64::from(MAX_TOKENS_LIMIT)).contains(&n) => Some(n as u32),
            Some(n) => {
                return Err(ApiError::invalid(
                    "max_tokens",
                    format!("max_tokens must be 1..={MAX_TOKENS_LIMIT}, got {n}"),
                ))
            }
        };
        let mut system = Vec::new();
        let mut messages = Vec::new();
        let mut chars = 0usize;
        for m in self.messages {
            if m.tool_calls.as_ref().is_some_and(|t| !t.is_null()) {
                return Err(ApiError::unsupported(
                    "messages",
                    "tool calls are not supported (this gateway does not call tools)",
                ));
            }
            let text = match &m.content {
                Some(c) => c.text()?,
                None => String::new(),
            };
            chars = chars.saturating_add(text.chars().count());
            if chars > limits.openai_max_chars {
                return Err(ApiError::invalid(
                    "messages",
                    format!(
                        "messages longer than {} characters in total",
                        limits.openai_max_chars
                    ),
                ));
            }
            match m.role.as_str() {
                "system" | "developer" => system.push(text),
                "user" | "assistant" => messages.push(ChatMessage {
                    role: m.role,
                    content: text,
                }),
                other => {
                    return Err(ApiError::unsupported(
                        "messages",
                        format!(
                            "role {:?} is not supported (system, developer, user, assistant)",
                            crate::providers::truncate(other, super::limits::ECHO_MAX_CHARS)
                        ),
                    ))
                }
            }
        }
        let system: Vec<String> = system.into_iter().filter(|s| !s.is_empty()).collect();
        if !system.is_empty() {
            let Some(first) = messages.iter_mut().find(|m| m.role == "user") else {
                return Err(ApiError::invalid("messages", "no user message"));
            };
            first.content = format!("{}\n\n{}", system.join("\n\n"), first.content);
        }
        if !messages.iter().any(|m| m.role == "user") {
            return Err(ApiError::invalid("messages", "no user message"));
        }
        let stream = self.stream.unwrap_or(false);
        Ok(Plan {
            chat: ChatRequest {
                messages,
                model: Some(model),
                max_tokens,
            },
            stream,
            include_usage: stream
                && self
                    .stream_options
                    .and_then(|o| o.include_usage)
                    .unwrap_or(false),
            prompt_chars: chars,
        })
    }
}

/// Estimated tokens of `chars` characters (about four per token). The provider
/// interface does not carry upstream token counts; `docs/openai-api.md` says so.
pub fn estimate_tokens(chars: usize) -> u64 {
    (chars as u64).div_ceil(4)
}

/// The `usage` object.
pub fn usage(prompt_chars: usize, completion_chars: usize) -> Value {
    let (p, c) = (
        estimate_tokens(prompt_chars),
        estimate_tokens(completion_chars),
    );
    json!({ "prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c })
}

/// OpenAI's `finish_reason` for a provider's stop reason.
pub fn finish_reason(stop_reason: Option<&str>) -> &'static str {
    match stop_reason {
        Some("max_tokens" | "length") => "length",
        _ => "stop",
    }
}

/// Identity of one completion: id, creation time, model id.
#[derive(Debug, Clone)]
pub struct Completion {
    pub id: String,
    pub created: u64,
    pub model: String,
}

impl Completion {
    pub fn new(model: String) -> Completion {
        Completion {
            id: format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()),
            created: crate::protocol::now_ms() / 1000,
            model,
        }
    }

    /// The non-streaming response.
    pub fn response(&self, text: &str, finish: &str, usage: Value) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{
                "index": 0,
                "message": { "role": "assistant", "content": text, "refusal": null },
                "logprobs": null,
                "finish_reason": finish,
            }],
            "usage": usage,
        })
    }

    /// One `chat.completion.chunk` with `delta` (and `finish_reason`, once).
    pub fn chunk(&self, delta: Value, finish: Option<&str>) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }],
        })
    }

    /// The last chunk when `stream_options.include_usage` is set: no choices, the usage.
    pub fn usage_chunk(&self, usage: Value) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> OpenAiArgs {
        super::super::limits::parse_for_test(&[])
    }

    fn plan(body: Value) -> Result<Plan, ApiError> {
        let req: CompletionRequest = serde_json::from_value(body).expect("shape");
        req.plan(&limits(), "demo/demo".into())
    }

    #[test]
    fn system_messages_go_in_front_of_the_first_user_message() {
        let p = plan(json!({"model":"demo","messages":[
            {"role":"system","content":"be brief"},
            {"role":"user","content":[{"type":"text","text":"hi"}]},
            {"role":"assistant","content":"hello"},
            {"role":"user","content":"again"}],
            "temperature": 0.2, "unknown_field": {"x": 1}}))
        .expect("valid");
        assert_eq!(p.chat.messages.len(), 3);
        assert_eq!(p.chat.messages[0].content, "be brief\n\nhi");
        assert!(!p.stream && !p.include_usage);
        assert_eq!(p.prompt_chars, "be briefhihelloagain".len());
    }

    #[test]
    fn meaning_changing_fields_are_refused() {
        let user = json!([{"role":"user","content":"hi"}]);
        for (extra, param) in [
            (json!({"n": 2}), "n"),
            (json!({"tool_choice": "required"}), "tool_choice"),
            (json!({"logprobs": true}), "logprobs"),
            (json!({"max_tokens": 0}), "max_tokens"),
        ] {
            let mut body = json!({"model":"demo","messages":user});
            for (k, v) in extra.as_object().unwrap() {
                body[k] = v.clone();
            }
            let err = plan(body).unwrap_err();
            assert_eq!(err.param.as_deref(), Some(param), "{extra}");
        }
        // Tools offered with tool_choice auto: the answer simply calls none.
        assert!(plan(json!({"model":"demo","messages":user,"tools":[{"type":"function"}],"tool_choice":"auto"})).is_ok());
        for bad in [
            json!([{"role":"tool","content":"x"}]),
            json!([{"role":"user","content":[{"type":"image_url","image_url":{}}]}]),
            json!([{"role":"system","content":"only system"}]),
            json!([]),
        ] {
            assert!(
                plan(json!({"model":"demo","messages":bad})).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn usage_is_requested_only_on_streams() {
        let p = plan(
            json!({"model":"demo","messages":[{"role":"user","content":"hi"}],
            "stream":true,"stream_options":{"include_usage":true}}),
        )
        .unwrap();
        assert!(p.stream && p.include_usage);
        assert_eq!(estimate_tokens(9), 3);
        assert_eq!(finish_reason(Some("max_tokens")), "length");
        assert_eq!(finish_reason(Some("end_turn")), "stop");
    }
}
