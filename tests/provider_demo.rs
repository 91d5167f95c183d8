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
    let p = Provider::Demo;
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
    let err = Provider::Demo
        .chat(ChatRequest {
            messages: vec![],
            model: None,
            max_tokens: None,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Invalid(_)));
}
