//! The OpenAI provider against a stub Chat Completions API on 127.0.0.1 that streams
//! `chat.completion.chunk` events ending in `data: [DONE]`: deltas, errors, bounds,
//! deadlines, cancel.

mod provider_support;

use std::time::Duration;

use clawdbot::config::Secret;
use clawdbot::providers::{ChatRequest, Provider, ProviderError};
use provider_support::*;
use tokio::sync::mpsc;

const API: Api = Api::OpenAi;
const PREFIX: &str = "sk-proj-";

fn hello() -> ChatRequest {
    request(&[("user", "Say pong.")], None)
}

fn chunk(content: Option<&str>, finish: Option<&str>) -> Step {
    let mut delta = serde_json::json!({});
    if let Some(c) = content {
        delta = serde_json::json!({"content": c});
    }
    data(
        &serde_json::json!({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,
            "model":"gpt-stub-1","choices":[{"index":0,"delta":delta,"finish_reason":finish}]})
        .to_string(),
    )
}

fn start() -> Vec<Step> {
    vec![
        sse_head(),
        data(
            r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-stub-1","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
        ),
    ]
}

#[tokio::test]
async fn streams_content_deltas_until_done() {
    let stub = Stub::start(|_| {
        let mut s = start();
        s.push(chunk(Some("po"), None));
        s.push(Step::Chunk(": keep-alive\n\n".into()));
        s.push(chunk(Some("ng"), None));
        s.push(chunk(None, Some("stop")));
        s.push(data("[DONE]"));
        s.push(Step::End);
        s
    })
    .await;
    let key = random_key(PREFIX);
    let p = API.provider(&stub, &key);
    assert_eq!(p.name(), "openai");
    let (result, deltas) = run(&p, hello()).await;
    let reply = result.expect("chat ok");
    assert_eq!(deltas, ["po", "ng"]);
    assert_eq!(reply.text, "pong");
    assert_eq!(reply.provider, "openai");
    assert_eq!(reply.model, "gpt-stub-1");
    assert_eq!(reply.stop_reason.as_deref(), Some("stop"));

    let requests = stub.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.request_line, "POST /v1/chat/completions HTTP/1.1");
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {key}").as_str())
    );
    assert!(r.header("x-api-key").is_none());
    assert_eq!(
        r.body,
        serde_json::json!({
            "model": "gpt-test",
            "stream": true,
            "messages": [{"role": "user", "content": "Say pong."}]
        })
    );

    // A requested model and token limit are passed on.
    let mut req = hello();
    req.model = Some("openai/gpt-other".into());
    req.max_tokens = Some(10);
    run(&p, req).await.0.unwrap();
    let r = &stub.requests()[1];
    assert_eq!(r.body["model"], "gpt-other");
    assert_eq!(r.body["max_completion_tokens"], 10);
}

#[tokio::test]
async fn mid_stream_disconnect_and_missing_done_are_errors() {
    let stub = Stub::start(|_| {
        let mut s = start();
        s.push(chunk(Some("partial "), None));
        s.push(Step::Raw(b"80\r\ndata: {\"id\"".to_vec()));
        s
    })
    .await;
    let key = random_key(PREFIX);
    let p = API.provider(&stub, &key);
    let (result, deltas) = run(&p, hello()).await;
    assert_eq!(deltas, ["partial "]);
    let err = result.unwrap_err();
    assert_clean(&err, &key, PREFIX);
    assert!(err.to_string().contains("broke during the answer"), "{err}");

    let stub = Stub::start(|_| {
        let mut s = start();
        s.push(chunk(Some("half"), Some("stop")));
        s.push(Step::End);
        s
    })
    .await;
    let p = API.provider(&stub, &key);
    let (result, deltas) = run(&p, hello()).await;
    assert_eq!(deltas, ["half"]);
    assert_eq!(
        result.unwrap_err().to_string(),
        "provider unavailable: openai: the stream ended before [DONE]"
    );
}

#[tokio::test]
async fn error_statuses_and_events_are_sanitized() {
    // 401 echoing the key.
    let stub = Stub::start(|req| {
        let auth = req.header("authorization").unwrap_or("").to_string();
        let body = serde_json::json!({"error":{"message": format!("Incorrect API key provided: {auth}"),
            "type":"invalid_request_error","param":null,"code":"invalid_api_key"}});
        json_response(401, &[], &body.to_string())
    })
    .await;
    let key = random_key(PREFIX);
    let p = Provider::openai(Secret::new(key.clone()), format!("{}/v1/", stub.base));
    let err = run(&p, hello()).await.0.unwrap_err();
    assert_clean(&err, &key, PREFIX);
    assert!(
        err.to_string().starts_with(
            "provider unavailable: openai: HTTP 401 invalid_request_error Incorrect API key provided: Bearer sk-proj-…"
        ),
        "{err}"
    );

    // 429 with retry-after.
    let stub = Stub::start(|_| {
        json_response(
            429,
            &[("retry-after", "20")],
            r#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#,
        )
    })
    .await;
    let p = API.provider(&stub, &key);
    match run(&p, hello()).await.0 {
        Err(ProviderError::RateLimited {
            message,
            retry_after,
        }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(20)));
            assert_eq!(
                message,
                "openai: HTTP 429 requests Rate limit reached; retry after 20 s"
            );
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }

    // 500 without details.
    let stub = Stub::start(|_| json_response(500, &[], "Internal Server Error")).await;
    let p = API.provider(&stub, &key);
    assert_eq!(
        run(&p, hello()).await.0.unwrap_err().to_string(),
        "provider unavailable: openai: HTTP 500 (no error details)"
    );

    // An error object inside the stream.
    let stub = Stub::start(|_| {
        let mut s = start();
        s.push(chunk(Some("a"), None));
        s.push(data(
            r#"{"error":{"message":"The server had an error","type":"server_error"}}"#,
        ));
        s.push(Step::End);
        s
    })
    .await;
    let p = API.provider(&stub, &key);
    let (result, deltas) = run(&p, hello()).await;
    assert_eq!(deltas, ["a"]);
    assert_eq!(
        result.unwrap_err().to_string(),
        "provider unavailable: openai: error event: server_error The server had an error"
    );
}

#[tokio::test]
async fn oversized_event_is_refused_and_the_connection_closed() {
    // Many data lines for one event: the event bound (256 KiB) is hit first.
    let stub = Stub::start(|_| {
        let mut s = start();
        s.push(Step::Flood(
            format!("data: {}\n", "y".repeat(32 * 1024)),
            64,
        ));
        s.push(Step::Hold);
        s
    })
    .await;
    let p = API.provider(&stub, &random_key(PREFIX));
    assert_eq!(
        run(&p, hello()).await.0.unwrap_err().to_string(),
        "provider unavailable: openai: event larger than 262144 bytes"
    );
    assert!(stub.wait_closed(1, BOUND).await, "connection left open");
}

#[tokio::test]
async fn slow_streams_hit_the_idle_and_total_deadlines() {
    let stub = Stub::start(|_| {
        let mut s = start();
        s.push(chunk(Some("wait"), None));
        s.push(Step::Hold);
        s
    })
    .await;
    let p = API.provider_with(
        &stub,
        &random_key(PREFIX),
        Duration::from_secs(10),
        Duration::from_millis(300),
    );
    let (result, deltas) = run(&p, hello()).await;
    assert_eq!(deltas, ["wait"]);
    assert!(result.unwrap_err().to_string().ends_with("for 300 ms"));
    assert!(stub.wait_closed(1, BOUND).await, "connection left open");

    let stub = Stub::start(|_| {
        let mut s = start();
        s.push(Step::Trickle(
            ": ping\n\n".into(),
            Duration::from_millis(50),
        ));
        s
    })
    .await;
    let p = API.provider_with(
        &stub,
        &random_key(PREFIX),
        Duration::from_millis(600),
        Duration::from_secs(5),
    );
    let text = run(&p, hello()).await.0.unwrap_err().to_string();
    assert!(text.ends_with("within 600 ms"), "{text}");
    assert!(stub.wait_closed(1, BOUND).await, "connection left open");
}

#[tokio::test]
async fn dropping_the_chat_future_closes_the_upstream_connection() {
    let stub = Stub::start(|_| {
        let mut s = start();
        s.push(chunk(Some("first"), None));
        s.push(Step::Hold);
        s
    })
    .await;
    let p = API.provider_with(
        &stub,
        &random_key(PREFIX),
        Duration::from_secs(60),
        Duration::from_secs(60),
    );
    let (tx, mut rx) = mpsc::channel(4);
    {
        // The future is polled until the first delta arrives, then dropped.
        let chat = p.chat_stream(hello(), tx);
        tokio::pin!(chat);
        tokio::select! {
            _ = &mut chat => panic!("the stream cannot end: the stub holds it open"),
            first = rx.recv() => assert_eq!(first.as_deref(), Some("first")),
        }
    }
    assert!(
        stub.wait_closed(1, BOUND).await,
        "upstream connection still open after the future was dropped"
    );
    // The sender went with the future.
    assert_eq!(tokio::time::timeout(BOUND, rx.recv()).await.unwrap(), None);
}

#[tokio::test]
async fn unsafe_base_url_is_refused_before_any_io() {
    let key = random_key(PREFIX);
    let err = Provider::openai(Secret::new(key.clone()), "http://192.0.2.1/v1")
        .chat(hello())
        .await
        .unwrap_err();
    assert_clean(&err, &key, PREFIX);
    assert!(
        err.to_string()
            .contains("OPENAI_BASE_URL uses plain http to a non-loopback host"),
        "{err}"
    );
}
