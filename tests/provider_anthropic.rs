//! Live provider against a stub Messages API on 127.0.0.1 (plain http base URL).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use clawdbot::config::Secret;
use clawdbot::providers::{ChatMessage, ChatRequest, Mode, Provider, ProviderError};

#[derive(Clone, Default)]
struct Seen {
    requests: Arc<Mutex<Vec<(HeaderMap, serde_json::Value)>>>,
}

type Answer = fn(&str) -> (StatusCode, String);

/// Starts a stub on 127.0.0.1 answering `POST /v1/messages` with `answer(key)`.
async fn stub(answer: Answer, delay: Duration) -> (String, Seen) {
    let seen = Seen::default();
    let app = Router::new()
        .route(
            "/v1/messages",
            post(
                move |State(seen): State<Seen>, headers: HeaderMap, body: String| async move {
                    let json = serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
                    let key = headers
                        .get("x-api-key")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    seen.requests.lock().unwrap().push((headers, json));
                    tokio::time::sleep(delay).await;
                    let (status, body) = answer(&key);
                    (status, [("content-type", "application/json")], body).into_response()
                },
            ),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{addr}"), seen)
}

fn key() -> String {
    format!(
        "sk-ant-api03-{}{}",
        uuid::Uuid::new_v4().simple(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

fn hello() -> ChatRequest {
    ChatRequest {
        messages: vec![
            ChatMessage {
                role: "user".into(),
                content: "Hello?".into(),
            },
            ChatMessage {
                role: "assistant".into(),
                content: "Hi.".into(),
            },
            ChatMessage {
                role: "user".into(),
                content: "Say pong.".into(),
            },
        ],
        model: None,
        max_tokens: Some(64),
    }
}

fn assert_clean(err: &ProviderError, key: &str) {
    let text = format!("{err} {err:?}");
    assert!(!text.contains(key), "key leaked: {text}");
    assert!(!text.contains(&key[13..30]), "key part leaked: {text}");
}

#[tokio::test]
async fn live_chat_sends_key_and_body_and_parses_the_reply() {
    let (base, seen) = stub(
        |_| {
            (
                StatusCode::OK,
                r#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-stub-1",
                    "content":[{"type":"text","text":"pong"},{"type":"tool_use","id":"x","name":"n","input":{}},
                               {"type":"text","text":"!"}],
                    "stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":2}}"#
                    .into(),
            )
        },
        Duration::ZERO,
    )
    .await;
    let key = key();
    let provider = Provider::anthropic(Secret::new(key.clone()), format!("{base}/"));
    assert_eq!(provider.mode(), Mode::Live);
    assert!(!format!("{provider:?}").contains(&key));

    let reply = provider.chat(hello()).await.expect("chat ok");
    assert_eq!(reply.text, "pong!");
    assert_eq!(reply.provider, "anthropic");
    assert_eq!(reply.model, "claude-stub-1");

    let requests = seen.requests.lock().unwrap();
    assert_eq!(requests.len(), 1);
    let (headers, body) = &requests[0];
    assert_eq!(headers["x-api-key"], key.as_str());
    assert_eq!(headers["anthropic-version"], "2023-06-01");
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    assert!(headers.get("authorization").is_none());
    assert_eq!(
        body,
        &serde_json::json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 64,
            "messages": [
                {"role": "user", "content": "Hello?"},
                {"role": "assistant", "content": "Hi."},
                {"role": "user", "content": "Say pong."}
            ]
        })
    );
}

#[tokio::test]
async fn request_model_and_default_max_tokens() {
    let (base, seen) = stub(
        |_| {
            (
                StatusCode::OK,
                r#"{"content":[{"type":"text","text":"ok"}]}"#.into(),
            )
        },
        Duration::ZERO,
    )
    .await;
    let provider = Provider::anthropic(Secret::new(key()), base);
    let mut req = hello();
    req.model = Some("claude-other".into());
    req.max_tokens = None;
    let reply = provider.chat(req).await.unwrap();
    assert_eq!(reply.model, "claude-other");
    let requests = seen.requests.lock().unwrap();
    assert_eq!(requests[0].1["model"], "claude-other");
    assert_eq!(requests[0].1["max_tokens"], 1024);
}

#[tokio::test]
async fn unauthorized_gives_a_sanitized_error() {
    // A hostile or careless server echoes the key back in its error message.
    let (base, _) = stub(
        |key| {
            (
                StatusCode::UNAUTHORIZED,
                serde_json::json!({"type":"error","error":{"type":"authentication_error",
                    "message": format!("invalid x-api-key {key}")}})
                .to_string(),
            )
        },
        Duration::ZERO,
    )
    .await;
    let key = key();
    let provider = Provider::anthropic(Secret::new(key.clone()), base);
    let err = provider.chat(hello()).await.unwrap_err();
    assert_clean(&err, &key);
    let text = err.to_string();
    assert!(text.contains("HTTP 401 authentication_error"), "{text}");
    assert!(
        text.contains(&format!("sk-ant-…{}", &key[key.len() - 4..])),
        "{text}"
    );
}

#[tokio::test]
async fn server_error_without_json_gives_a_sanitized_error() {
    let (base, _) = stub(
        |_| {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "<html>oops</html>".into(),
            )
        },
        Duration::ZERO,
    )
    .await;
    let key = key();
    let provider = Provider::anthropic(Secret::new(key.clone()), base);
    let err = provider.chat(hello()).await.unwrap_err();
    assert_clean(&err, &key);
    assert_eq!(
        err.to_string(),
        "provider unavailable: anthropic: HTTP 500 (no error details)"
    );
}

#[tokio::test]
async fn slow_server_times_out() {
    let (base, _) = stub(
        |_| (StatusCode::OK, r#"{"content":[]}"#.into()),
        Duration::from_secs(5),
    )
    .await;
    let key = key();
    let provider = Provider::Anthropic {
        key: Secret::new(key.clone()),
        base_url: base,
        model: "m".into(),
        timeout: Duration::from_millis(300),
    };
    let err = provider.chat(hello()).await.unwrap_err();
    assert_clean(&err, &key);
    assert!(err.to_string().contains("within 300 ms"), "{err}");
}

#[tokio::test]
async fn closed_port_and_unsafe_urls_fail_cleanly() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let key = key();
    let err = Provider::anthropic(Secret::new(key.clone()), format!("http://127.0.0.1:{port}"))
        .chat(hello())
        .await
        .unwrap_err();
    assert_clean(&err, &key);
    assert!(
        err.to_string().contains("cannot connect to 127.0.0.1"),
        "{err}"
    );

    // Plain http to a non-loopback host would expose the key: refused before any I/O.
    let err = Provider::anthropic(Secret::new(key.clone()), "http://192.0.2.1")
        .chat(hello())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("plain http"), "{err}");
}

#[tokio::test]
async fn invalid_requests_are_refused_before_sending() {
    let (base, seen) = stub(|_| (StatusCode::OK, "{}".into()), Duration::ZERO).await;
    let provider = Provider::anthropic(Secret::new(key()), base);
    let empty = ChatRequest {
        messages: vec![],
        model: None,
        max_tokens: None,
    };
    assert!(matches!(
        provider.chat(empty).await,
        Err(ProviderError::Invalid(_))
    ));
    assert!(seen.requests.lock().unwrap().is_empty());
}
