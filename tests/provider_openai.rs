//! The OpenAI provider against a stub Chat Completions API on 127.0.0.1 that streams
//! `chat.completion.chunk` events ending in `data: [DONE]`: deltas, errors, bounds,
//! deadlines, cancel.

mod provider_support;

use std::time::Duration;

use clawdbot::config::Secret;
use clawdbot::providers::{ChatRequest, Provider, ProviderError};
use provider_support::*;

const API: Api = Api::OpenAi;
const PREFIX: &str = "sk-proj-";

fn hello() -> ChatRequest {
    request(&[("user", "Say pong.")], None)
}

fn chunk(content: Option<&str>, finish: Option<&str>) -> Step {
    openai_chunk(content, finish)
}

fn start() -> Vec<Step> {
    API.start()
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
async fn a_stream_without_done_is_an_error() {
    let key = random_key(PREFIX);
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

// The cases every live API must pass, one test each.
cases::tests_for!(API);
