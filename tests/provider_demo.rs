//! The demo provider: deterministic, offline.

use clawdbot::providers::{ChatMessage, ChatRequest, Mode, Provider, ProviderError};

fn ask(text: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![ChatMessage {
            role: "user".into(),
            content: text.into(),
        }],
        model: None,
        max_tokens: None,
    }
}

#[tokio::test]
async fn demo_chat_is_deterministic() {
    let p = Provider::demo();
    assert_eq!(p.mode(), Mode::Demo);
    let a = p.chat(ask("What is 2+2?")).await.unwrap();
    let b = p.chat(ask("What is 2+2?")).await.unwrap();
    assert_eq!(a.text, b.text);
    assert_eq!(a.provider, "demo");
    assert_eq!(a.model, "demo");
    assert!(
        a.text.starts_with("[demo] You said: \"What is 2+2?\". "),
        "{}",
        a.text
    );
    let c = p.chat(ask("Something else")).await.unwrap();
    assert_ne!(a.text, c.text);
}

#[tokio::test]
async fn demo_chat_validates_requests() {
    let err = Provider::demo()
        .chat(ChatRequest {
            messages: vec![],
            model: None,
            max_tokens: None,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Invalid(_)));
}

#[tokio::test]
async fn demo_streams_fixed_word_groups() {
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let reply = Provider::demo().chat_stream(ask("hi"), tx).await.unwrap();
    let mut chunks = Vec::new();
    while let Some(c) = rx.recv().await {
        chunks.push(c);
    }
    // Three words a chunk, each with its trailing space; joined they are the reply.
    assert_eq!(chunks[0], "[demo] You said: ");
    assert_eq!(chunks[1], "\"hi\". The gateway, ");
    assert_eq!(chunks.concat(), reply.text);
    assert!(chunks[..chunks.len() - 1]
        .iter()
        .all(|c| c.split_inclusive(' ').count() == 3));
    assert_eq!(chunks, clawdbot::providers::demo::chunks(&reply.text));
    assert_eq!(reply.stop_reason.as_deref(), Some("end_turn"));
}

#[tokio::test]
async fn paced_demo_stream_can_be_aborted_between_chunks() {
    // A long pause: after the first chunk the stream is still running, and aborting
    // it ends the deltas there.
    let p = Provider::demo_paced(std::time::Duration::from_secs(10));
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let task = tokio::spawn(async move { p.chat_stream(ask("hi"), tx).await });
    let bound = std::time::Duration::from_secs(5);
    let first = tokio::time::timeout(bound, rx.recv()).await.unwrap();
    assert_eq!(first.as_deref(), Some("[demo] You said: "));
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert_eq!(tokio::time::timeout(bound, rx.recv()).await.unwrap(), None);
}
