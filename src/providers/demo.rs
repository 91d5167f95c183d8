//! The offline demo provider: deterministic answers (same input, same output), no network.
//!
//! The answer streams in fixed chunks of [`WORDS_PER_CHUNK`] words (see [`chunks`]), so
//! tests can assert the exact sequence; an optional pause between chunks
//! (`CLAWDBOT_DEMO_CHUNK_DELAY_MS`) keeps a stream running long enough to abort it.

use std::time::Duration;

use tokio::sync::mpsc;

use super::{truncate, ChatReply, ChatRequest};

/// Model name reported by the demo provider.
pub const MODEL: &str = "demo";
/// Words per streamed chunk.
pub const WORDS_PER_CHUNK: usize = 3;
/// Variable setting the pause between two chunks, in milliseconds.
pub const CHUNK_DELAY_VAR: &str = "CLAWDBOT_DEMO_CHUNK_DELAY_MS";
/// Default pause between chunks: none (tests and benchmarks stay fast).
pub const DEFAULT_CHUNK_DELAY: Duration = Duration::ZERO;
/// Longest pause accepted between chunks.
pub const MAX_CHUNK_DELAY: Duration = Duration::from_secs(10);

const CANNED: &[&str] = &[
    "This answer comes from the offline demo provider; no request left this machine.",
    "Demo mode is on: set a real ANTHROPIC_API_KEY or OPENAI_API_KEY in .env for live answers.",
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
        stop_reason: Some("end_turn".into()),
    }
}

/// The streamed pieces of `text`: groups of [`WORDS_PER_CHUNK`] words, each with the
/// spaces that follow it, so that the pieces joined are exactly `text`.
pub fn chunks(text: &str) -> Vec<String> {
    let words: Vec<&str> = text.split_inclusive(' ').collect();
    words
        .chunks(WORDS_PER_CHUNK)
        .map(|group| group.concat())
        .collect()
}

/// Streams [`reply`] as [`chunks`], pausing `delay` between two chunks. A closed
/// `deltas` receiver ends the stream with what was sent.
pub async fn stream(
    req: &ChatRequest,
    delay: Duration,
    deltas: &mpsc::Sender<String>,
) -> ChatReply {
    let mut full = reply(req);
    let mut sent = String::new();
    for (i, chunk) in chunks(&full.text).into_iter().enumerate() {
        if i > 0 && !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if deltas.send(chunk.clone()).await.is_err() {
            full.text = sent;
            full.stop_reason = Some("aborted".into());
            return full;
        }
        sent.push_str(&chunk);
    }
    full
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
    fn chunks_are_word_groups_that_join_to_the_text() {
        assert_eq!(
            chunks("one two three four five six seven"),
            ["one two three ", "four five six ", "seven"]
        );
        assert_eq!(chunks(""), Vec::<String>::new());
        let text = reply(&req("a  b\tc")).text;
        assert_eq!(chunks(&text).concat(), text);
    }

    #[tokio::test]
    async fn stream_sends_the_chunks_in_order_and_stops_when_nobody_listens() {
        let (tx, mut rx) = mpsc::channel(64);
        let full = stream(&req("hello there"), Duration::ZERO, &tx).await;
        drop(tx);
        let mut got = Vec::new();
        while let Some(c) = rx.recv().await {
            got.push(c);
        }
        assert_eq!(got, chunks(&full.text));
        assert_eq!(full.text, reply(&req("hello there")).text);

        let (tx, mut rx) = mpsc::channel(1);
        let run = tokio::spawn(async move { stream(&req("x"), Duration::ZERO, &tx).await });
        let first = rx.recv().await.unwrap();
        drop(rx);
        let partial = run.await.unwrap();
        assert!(partial.text.starts_with(&first));
        assert!(partial.text.len() < reply(&req("x")).text.len());
        assert_eq!(partial.stop_reason.as_deref(), Some("aborted"));
    }

    #[test]
    fn long_input_is_truncated() {
        let long = "x".repeat(1000);
        assert!(reply(&req(&long)).text.len() < 400);
    }
}
