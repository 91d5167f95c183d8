//! The Anthropic provider against a stub Messages API on 127.0.0.1 that streams
//! server-sent events (plain http base URL): deltas, errors, bounds, deadlines, cancel.

mod provider_support;

use std::time::Duration;

use clawdbot::config::Secret;
use clawdbot::providers::{ChatRequest, Mode, Provider, ProviderError, Reason};
use provider_support::*;

const API: Api = Api::Anthropic;
const PREFIX: &str = "sk-ant-api03-";

fn hello() -> ChatRequest {
    request(
        &[
            ("user", "Hello?"),
            ("assistant", "Hi."),
            ("user", "Say pong."),
        ],
        Some(64),
    )
}

fn delta(text: &str) -> Step {
    API.delta(text)
}

fn start() -> Vec<Step> {
    API.start()
}

fn finish() -> Vec<Step> {
    vec![
        event(
            "content_block_stop",
            r#"{"type":"content_block_stop","index":0}"#,
        ),
        event(
            "message_delta",
            r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":2}}"#,
        ),
        event("message_stop", r#"{"type":"message_stop"}"#),
        Step::End,
    ]
}

#[tokio::test]
async fn streams_text_deltas_in_order_and_sends_key_and_body() {
    let stub = Stub::start(|_| {
        let mut s = start();
        s.push(delta("po"));
        // A non-text delta (tool input) is not text.
        s.push(event(
            "content_block_delta",
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{"}}"#,
        ));
        // An event split across two chunks, with CRLF line ends.
        s.push(Step::Chunk(
            "event: content_block_delta\r\ndata: {\"type\":\"content_block_delta\",".into(),
        ));
        s.push(Step::Chunk(
            "\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"ng\"}}\r\n\r\n".into(),
        ));
        s.push(delta("!"));
        s.extend(finish());
        s
    })
    .await;
    let key = random_key(PREFIX);
    let p = API.provider(&stub, &key);
    assert_eq!(p.mode(), Mode::Live);
    assert_eq!(p.name(), "anthropic");
    assert!(!format!("{p:?}").contains(&key));

    let (result, deltas) = run(&p, hello()).await;
    let reply = result.expect("chat ok");
    assert_eq!(deltas, ["po", "ng", "!"]);
    assert_eq!(reply.text, "pong!");
    assert_eq!(reply.provider, "anthropic");
    assert_eq!(reply.model, "claude-stub-1");
    assert_eq!(reply.stop_reason.as_deref(), Some("end_turn"));

    let requests = stub.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.request_line, "POST /v1/messages HTTP/1.1");
    assert_eq!(r.header("x-api-key"), Some(key.as_str()));
    assert_eq!(r.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(r.header("accept"), Some("text/event-stream"));
    assert!(r.header("authorization").is_none());
    assert_eq!(
        r.body,
        serde_json::json!({
            "model": "claude-test",
            "max_tokens": 64,
            "stream": true,
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
    let stub = Stub::start(|_| {
        let mut s = vec![sse_head(), delta("ok")];
        s.extend(finish());
        s
    })
    .await;
    let p = Provider::anthropic(Secret::new(random_key(PREFIX)), format!("{}/", stub.base));
    let mut req = hello();
    req.model = Some("anthropic/claude-other".into());
    req.max_tokens = None;
    let (result, _) = run(&p, req).await;
    // No message_start: the model asked for is reported.
    assert_eq!(result.unwrap().model, "claude-other");
    let requests = stub.requests();
    assert_eq!(requests[0].body["model"], "claude-other");
    assert_eq!(requests[0].body["max_tokens"], 1024);
}

#[tokio::test]
async fn stream_ending_before_message_stop_is_an_error() {
    // A complete HTTP body (close-delimited) that lacks message_stop.
    let stub = Stub::start(|_| {
        vec![
            Step::Head(
                200,
                vec![
                    ("content-type", "text/event-stream".into()),
                    ("connection", "close".into()),
                ],
            ),
            Step::Raw(
                b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"half\"}}\n\n"
                    .to_vec(),
            ),
        ]
    })
    .await;
    let p = API.provider(&stub, &random_key(PREFIX));
    let (result, deltas) = run(&p, hello()).await;
    assert_eq!(deltas, ["half"]);
    assert_eq!(
        result.unwrap_err().to_string(),
        "provider unavailable: anthropic: the stream ended before message_stop"
    );
}

#[tokio::test]
async fn error_event_mid_stream_is_an_error() {
    let stub = Stub::start(|_| {
        let mut s = start();
        s.push(delta("a"));
        s.push(event(
            "error",
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        ));
        s.push(Step::End);
        s
    })
    .await;
    let p = API.provider(&stub, &random_key(PREFIX));
    let (result, deltas) = run(&p, hello()).await;
    assert_eq!(deltas, ["a"]);
    let err = result.unwrap_err();
    assert_eq!(
        err.to_string(),
        "provider unavailable: anthropic: error event: overloaded_error Overloaded"
    );
    assert_eq!(err.reason(), Reason::Overloaded);
    assert_eq!(
        err.detail("anthropic", None)["providerErrorType"],
        "overloaded_error"
    );
}

#[tokio::test]
async fn unauthorized_gives_a_sanitized_error() {
    // A hostile or careless server echoes the key back in its error message.
    let stub = Stub::start(|req| {
        let key = req.header("x-api-key").unwrap_or("").to_string();
        let body = serde_json::json!({"type":"error","error":{"type":"authentication_error",
            "message": format!("invalid x-api-key {key}")}});
        json_response(401, &[], &body.to_string())
    })
    .await;
    let key = random_key(PREFIX);
    let p = Provider::anthropic(Secret::new(key.clone()), stub.base.clone());
    let (result, deltas) = run(&p, hello()).await;
    assert!(deltas.is_empty());
    let err = result.unwrap_err();
    assert_clean(&err, &key, PREFIX);
    let text = err.to_string();
    assert!(
        text.starts_with("provider unavailable: anthropic: HTTP 401 authentication_error invalid x-api-key sk-ant-…"),
        "{text}"
    );
    assert!(text.ends_with(&key[key.len() - 4..]), "{text}");
    assert_eq!(err.reason(), Reason::Auth);
    let detail = err.detail("anthropic", Some("claude-test"));
    assert_eq!(detail["httpStatus"], 401, "{detail}");
    assert_eq!(detail["failoverReason"], "auth", "{detail}");
    assert!(
        !detail.to_string().contains(&key[PREFIX.len()..]),
        "{detail}"
    );
}

#[tokio::test]
async fn server_error_without_json_gives_a_sanitized_error() {
    let stub = Stub::start(|_| {
        vec![
            Step::Head(
                503,
                vec![
                    ("content-type", "text/html".into()),
                    ("content-length", "17".into()),
                ],
            ),
            Step::Raw(b"<html>oops</html>".to_vec()),
        ]
    })
    .await;
    let key = random_key(PREFIX);
    let p = Provider::anthropic(Secret::new(key.clone()), stub.base.clone());
    let err = run(&p, hello()).await.0.unwrap_err();
    assert_clean(&err, &key, PREFIX);
    assert_eq!(
        err.to_string(),
        "provider unavailable: anthropic: HTTP 503 (no error details)"
    );
    assert_eq!(err.reason(), Reason::Overloaded);
}

#[tokio::test]
async fn rate_limit_carries_retry_after() {
    let stub = Stub::start(|_| {
        json_response(
            429,
            &[("retry-after", "7")],
            r#"{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}"#,
        )
    })
    .await;
    let p = Provider::anthropic(Secret::new(random_key(PREFIX)), stub.base.clone());
    match run(&p, hello()).await.0 {
        Err(ProviderError::RateLimited {
            message,
            retry_after,
        }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(7)));
            assert!(
                message.starts_with("anthropic: HTTP 429 rate_limit_error Number of request"),
                "{message}"
            );
            assert!(message.ends_with("; retry after 7 s"), "{message}");
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
}

#[tokio::test]
async fn a_200_that_is_not_an_event_stream_is_refused() {
    let stub = Stub::start(|_| json_response(200, &[], r#"{"content":[]}"#)).await;
    let p = Provider::anthropic(Secret::new(random_key(PREFIX)), stub.base.clone());
    let err = run(&p, hello()).await.0.unwrap_err();
    assert!(err.to_string().contains("without an event stream"), "{err}");
}

#[tokio::test]
async fn invalid_requests_are_refused_before_sending() {
    let stub = Stub::start(|_| vec![Step::Hold]).await;
    let p = Provider::anthropic(Secret::new(random_key(PREFIX)), stub.base.clone());
    let empty = ChatRequest {
        messages: vec![],
        model: None,
        max_tokens: None,
    };
    assert!(matches!(
        p.chat(empty).await,
        Err(ProviderError::Invalid(_))
    ));
    let mut huge = hello();
    huge.messages[0].content = "x".repeat(clawdbot::providers::MAX_REQUEST_BYTES + 1);
    assert!(matches!(p.chat(huge).await, Err(ProviderError::Invalid(_))));
    let mut other = hello();
    other.model = Some("openai/gpt-4o".into());
    let err = p.chat(other).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("provider openai is not configured"),
        "{err}"
    );
    assert!(stub.requests().is_empty());
}

// The cases every live API must pass, one test each.
cases::tests_for!(API);
