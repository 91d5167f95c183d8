//! Live providers through the real gateway binary: `clawdbot serve` with its provider
//! pointed at a loopback stub that streams the provider's format. The stream reaches the
//! client as `chat` deltas; `chat.abort` and a client disconnect close the upstream
//! connection; an upstream failure becomes a `chat` error event without the key.

mod gateway_support;
mod provider_support;

use std::time::Duration;

use gateway_support::*;
use provider_support::{data, event, json_response, random_key, sse_head, Step, Stub};
use serde_json::{json, Value};

const BOUND: Duration = Duration::from_secs(15);

fn anthropic_delta(text: &str) -> Step {
    event(
        "content_block_delta",
        &json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":text}})
            .to_string(),
    )
}

fn server_for(env: &[(&str, String)]) -> Server {
    let mut all = env_with_token();
    all.extend(env.iter().map(|(k, v)| (k.to_string(), v.clone())));
    Server::start_with_env(&[], &all)
}

/// Reads frames until this run's `chat` event in `state` (or a terminal one).
async fn until_chat_state(ws: &mut Ws, run_id: &str, state: &str) -> Value {
    loop {
        let f = recv_json(ws).await;
        if f["type"] == "event" && f["event"] == "chat" && f["payload"]["runId"] == run_id {
            let s = f["payload"]["state"].as_str().unwrap_or("");
            if s == state || s != "delta" {
                return f["payload"].clone();
            }
        }
    }
}

#[tokio::test]
async fn anthropic_stream_reaches_the_client_as_chat_deltas() {
    let stub = Stub::start(|_| {
        vec![
            sse_head(),
            event(
                "message_start",
                r#"{"type":"message_start","message":{"model":"claude-stub"}}"#,
            ),
            anthropic_delta("Hel"),
            anthropic_delta("lo"),
            anthropic_delta(" there"),
            event("message_stop", r#"{"type":"message_stop"}"#),
            Step::End,
        ]
    })
    .await;
    let key = random_key("sk-ant-api03-");
    let server = server_for(&[
        ("ANTHROPIC_API_KEY", key.clone()),
        ("ANTHROPIC_BASE_URL", stub.base.clone()),
    ]);
    let mut ws = connected_writer(&server.url()).await;
    let (res, deltas, end) = chat_send(&mut ws, "1", "main", "hi").await;
    assert_eq!(res["ok"], true, "{res}");
    let texts: Vec<&str> = deltas
        .iter()
        .map(|d| d["deltaText"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(texts, ["Hel", "lo", " there"]);
    assert_eq!(end["state"], "final", "{end}");
    assert_eq!(end["message"]["content"][0]["text"], "Hello there");
    // The upstream got the conversation with the key in its header.
    let req = &stub.requests()[0];
    assert_eq!(req.header("x-api-key"), Some(key.as_str()));
    assert_eq!(req.body["stream"], true);
    assert_eq!(req.body["messages"][0]["content"], "hi");
}

#[tokio::test]
async fn openai_alone_is_the_provider_and_its_model_is_in_the_catalog() {
    let stub = Stub::start(|_| {
        vec![
            sse_head(),
            data(r#"{"model":"gpt-stub","choices":[{"index":0,"delta":{"content":"pong"},"finish_reason":null}]}"#),
            data(r#"{"model":"gpt-stub","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#),
            data("[DONE]"),
            Step::End,
        ]
    })
    .await;
    let server = server_for(&[
        ("OPENAI_API_KEY", random_key("sk-proj-")),
        ("OPENAI_BASE_URL", format!("{}/v1", stub.base)),
    ]);
    let mut ws = connected_writer(&server.url()).await;
    let models = call(&mut ws, "m", "models.list", Some(json!({}))).await;
    assert_eq!(models["ok"], true, "{models}");
    let list = models["payload"]["models"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{models}");
    assert_eq!(list[0]["id"], "gpt-4o-mini");
    assert_eq!(list[0]["provider"], "openai");
    let (_, deltas, end) = chat_send(&mut ws, "1", "main", "ping").await;
    assert_eq!(deltas.len(), 1);
    assert_eq!(end["message"]["content"][0]["text"], "pong", "{end}");
    assert_eq!(
        stub.requests()[0].request_line,
        "POST /v1/chat/completions HTTP/1.1"
    );
}

/// A stub that sends one delta, then holds the stream open.
async fn holding_stub() -> Stub {
    Stub::start(|_| vec![sse_head(), anthropic_delta("first"), Step::Hold]).await
}

#[tokio::test]
async fn chat_abort_closes_the_upstream_connection() {
    let stub = holding_stub().await;
    let server = server_for(&[
        ("ANTHROPIC_API_KEY", random_key("sk-ant-api03-")),
        ("ANTHROPIC_BASE_URL", stub.base.clone()),
    ]);
    let mut ws = connected_writer(&server.url()).await;
    let send = json!({"type":"req","id":"s","method":"chat.send","params":{
        "sessionKey":"main","message":"hi","idempotencyKey":"run-a"}});
    send_json(&mut ws, &send).await;
    let first = until_chat_state(&mut ws, "run-a", "delta").await;
    assert_eq!(first["deltaText"], "first", "{first}");
    let abort = json!({"type":"req","id":"x","method":"chat.abort","params":{
        "sessionKey":"main","runId":"run-a"}});
    send_json(&mut ws, &abort).await;
    let end = until_chat_state(&mut ws, "run-a", "aborted").await;
    assert_eq!(end["state"], "aborted", "{end}");
    assert!(
        stub.wait_closed(1, BOUND).await,
        "the upstream connection stayed open after chat.abort"
    );
}

#[tokio::test]
async fn client_disconnect_closes_the_upstream_connection() {
    let stub = holding_stub().await;
    let server = server_for(&[
        ("ANTHROPIC_API_KEY", random_key("sk-ant-api03-")),
        ("ANTHROPIC_BASE_URL", stub.base.clone()),
    ]);
    let mut ws = connected_writer(&server.url()).await;
    let send = json!({"type":"req","id":"s","method":"chat.send","params":{
        "sessionKey":"main","message":"hi","idempotencyKey":"run-d"}});
    send_json(&mut ws, &send).await;
    until_chat_state(&mut ws, "run-d", "delta").await;
    drop(ws);
    assert!(
        stub.wait_closed(1, BOUND).await,
        "the upstream connection stayed open after the client went away"
    );
}

#[tokio::test]
async fn upstream_failure_is_a_chat_error_without_the_key() {
    // 429 whose message echoes the key.
    let stub = Stub::start(|req| {
        let key = req.header("x-api-key").unwrap_or("").to_string();
        json_response(
            429,
            &[("retry-after", "3")],
            &json!({"type":"error","error":{"type":"rate_limit_error","message":format!("slow down {key}")}})
                .to_string(),
        )
    })
    .await;
    let key = random_key("sk-ant-api03-");
    let server = server_for(&[
        ("ANTHROPIC_API_KEY", key.clone()),
        ("ANTHROPIC_BASE_URL", stub.base.clone()),
    ]);
    let mut ws = connected_writer(&server.url()).await;
    let (_, deltas, end) = chat_send(&mut ws, "1", "main", "hi").await;
    assert!(deltas.is_empty());
    assert_eq!(end["state"], "error", "{end}");
    let msg = end["errorMessage"].as_str().unwrap_or("");
    assert!(
        msg.contains("HTTP 429 rate_limit_error") && msg.contains("retry after 3 s"),
        "{msg}"
    );
    assert!(!msg.contains(&key[13..]), "key in the chat error: {msg}");
    // Nor in the log ring a client can read, nor in the server's own logs.
    let tail = call(&mut ws, "t", "logs.tail", Some(json!({}))).await;
    assert!(!tail.to_string().contains(&key[13..]), "key in logs.tail");
    assert!(!server.logs().contains(&key[13..]), "key in the logs");
}
