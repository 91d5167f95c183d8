//! The offline demo provider: deterministic answers (same input, same output), no network.

use super::{truncate, ChatReply, ChatRequest};

/// Model name reported by the demo provider.
pub const MODEL: &str = "demo";

const CANNED: &[&str] = &[
    "This answer comes from the offline demo provider; no request left this machine.",
    "Demo mode is on: set a real ANTHROPIC_API_KEY in .env for live answers.",
    "The gateway, auth and limits are real; only this reply is canned.",
];

/// FNV-1a: a stable hash (std's `DefaultHasher` is not guaranteed stable across releases).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The demo answer: echoes the last user message and adds one canned sentence chosen by
/// a stable hash of the whole conversation.
pub fn reply(req: &ChatRequest) -> ChatReply {
    let last = req
        .messages
        .iter()
        .rev()
        .find(|m| m.role == "user")
        .map(|m| m.content.trim())
        .unwrap_or("");
    let conversation: String = req
        .messages
        .iter()
        .map(|m| format!("{}:{}\n", m.role, m.content))
        .collect();
    let idx = (fnv1a(&conversation) % CANNED.len() as u64) as usize;
    let text = format!(
        "[demo] You said: \"{}\". {}",
        truncate(&last.replace(['\r', '\n'], " "), 200),
        CANNED[idx]
    );
    ChatReply {
        provider: "demo".into(),
        model: MODEL.into(),
        text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::ChatMessage;

    fn req(text: &str) -> ChatRequest {
        ChatRequest {
            messages: vec![ChatMessage {
                role: "user".into(),
                content: text.into(),
            }],
            model: None,
            max_tokens: None,
        }
    }

    #[test]
    fn same_input_same_output() {
        assert_eq!(reply(&req("hello")).text, reply(&req("hello")).text);
        assert!(reply(&req("hello"))
            .text
            .starts_with("[demo] You said: \"hello\". "));
    }

    #[test]
    fn fnv_is_stable() {
        // Reference value of FNV-1a 64 for "a".
        assert_eq!(fnv1a("a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn long_input_is_truncated() {
        let long = "x".repeat(1000);
        assert!(reply(&req(&long)).text.len() < 400);
    }
}
