//! Live providers through the real gateway binary: `clawdbot serve` with its provider
//! pointed at a loopback stub that streams the provider's format. The stream reaches the
//! client as `chat` deltas; `chat.abort` and a client disconnect close the upstream
//! connection; an upstream failure becomes a `chat` error event without the key, with
//! the protocol's `errorKind` and `errorDetail`; a session's `provider/model` picks the
//! provider, which labels the run's metrics.

mod gateway_support;
mod provider_support;

use gateway_support::*;
use provider_support::{data, event, json_response, sse_head, Api, Step, Stub, BOUND};
use serde_json::{json, Value};

fn anthropic_delta(text: &str) -> Step {
    Api::Anthropic.delta(text)
}

/// `clawdbot serve` with a token, pointed at each `(api, stub)` with a random key (the
/// first is the default provider), plus `extra` settings. Returns the server and keys.
fn gateway_for(stubs: &[(Api, &Stub)], extra: &[(&str, &str)]) -> (Server, Vec<String>) {
    let mut env = env_with_token();
    let mut keys = Vec::new();
    for (api, stub) in stubs {
        let key = api.random_key();
        env.extend(api.gateway_env(stub, &key));
        keys.push(key);
    }
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    (Server::start_with_env(&[], &env), keys)
}

fn openai_chunk(text: &str) -> Step {
    data(
        &json!({"model":"gpt-stub","choices":[{"index":0,"delta":{"content":text},"finish_reason":null}]})
            .to_string(),
    )
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
    // Every provider chunk as a delta (no throttle): the stream's shape is the point.
    let (server, keys) = gateway_for(
        &[(Api::Anthropic, &stub)],
        &[("CLAWDBOT_DELTA_INTERVAL_MS", "0")],
    );
    let key = &keys[0];
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
            openai_chunk("pong"),
            data(
                r#"{"model":"gpt-stub","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
            ),
            data("[DONE]"),
            Step::End,
        ]
    })
    .await;
    let (server, _) = gateway_for(&[(Api::OpenAi, &stub)], &[]);
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
    let (server, _) = gateway_for(&[(Api::Anthropic, &stub)], &[]);
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
    let (server, _) = gateway_for(&[(Api::Anthropic, &stub)], &[]);
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
    let (server, keys) = gateway_for(&[(Api::Anthropic, &stub)], &[]);
    let key = &keys[0];
    let mut ws = connected_writer(&server.url()).await;
    let (_, deltas, end) = chat_send(&mut ws, "1", "main", "hi").await;
    assert!(deltas.is_empty());
    assert_eq!(end["state"], "error", "{end}");
    // The protocol's kind for a rate limit, and the details it allows.
    assert_eq!(end["errorKind"], "rate_limit", "{end}");
    let detail = &end["errorDetail"];
    assert_eq!(detail["provider"], "anthropic", "{end}");
    assert_eq!(detail["model"], "claude-sonnet-4-5", "{end}");
    assert_eq!(detail["httpStatus"], 429, "{end}");
    assert_eq!(detail["failoverReason"], "rate_limit", "{end}");
    assert!(
        !detail.to_string().contains(&key[13..]),
        "key in the details"
    );
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

#[tokio::test]
async fn auth_failure_and_silence_have_the_protocols_error_kinds() {
    // 401: no kind of its own in the protocol (`unknown`), the reason in the details.
    let stub = Stub::start(|_| {
        json_response(
            401,
            &[],
            r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}"#,
        )
    })
    .await;
    let (server, _) = gateway_for(&[(Api::OpenAi, &stub)], &[]);
    let mut ws = connected_writer(&server.url()).await;
    let (_, _, end) = chat_send(&mut ws, "1", "main", "hi").await;
    assert_eq!(end["state"], "error", "{end}");
    assert_eq!(end["errorKind"], "unknown", "{end}");
    assert_eq!(end["errorDetail"]["failoverReason"], "auth", "{end}");
    assert_eq!(end["errorDetail"]["httpStatus"], 401, "{end}");
    assert_eq!(
        end["errorDetail"]["providerErrorType"], "invalid_request_error",
        "{end}"
    );

    // An upstream that goes silent mid-stream: the idle deadline is a `timeout`.
    let stub = holding_stub().await;
    let (server, _) = gateway_for(
        &[(Api::Anthropic, &stub)],
        &[("CLAWDBOT_PROVIDER_IDLE_TIMEOUT_MS", "300")],
    );
    let mut ws = connected_writer(&server.url()).await;
    let (_, deltas, end) = chat_send(&mut ws, "1", "main", "hi").await;
    assert_eq!(deltas.len(), 1, "{deltas:?}");
    assert_eq!(end["state"], "error", "{end}");
    assert_eq!(end["errorKind"], "timeout", "{end}");
    assert_eq!(end["errorDetail"]["failoverReason"], "timeout", "{end}");
    // Overloaded (Anthropic's 529) counts as a rate limit in the protocol's kinds.
    let stub = Stub::start(|_| {
        json_response(
            529,
            &[],
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        )
    })
    .await;
    let (server, _) = gateway_for(&[(Api::Anthropic, &stub)], &[]);
    let mut ws = connected_writer(&server.url()).await;
    let (_, _, end) = chat_send(&mut ws, "1", "main", "hi").await;
    assert_eq!(end["errorKind"], "rate_limit", "{end}");
    assert_eq!(end["errorDetail"]["failoverReason"], "overloaded", "{end}");
}

/// The serving provider's latency count in `/metrics`.
async fn runs_of(server: &Server, provider: &str) -> u64 {
    metric(
        server,
        &format!("clawdbot_provider_latency_seconds_count{{provider=\"{provider}\"}}"),
    )
    .await
}

#[tokio::test]
async fn provider_slash_model_picks_the_provider_that_serves_and_labels_the_run() {
    let anthropic = Stub::start(|_| {
        vec![
            sse_head(),
            anthropic_delta("from claude"),
            event("message_stop", r#"{"type":"message_stop"}"#),
            Step::End,
        ]
    })
    .await;
    let openai = Stub::start(|_| {
        vec![
            sse_head(),
            openai_chunk("from gpt"),
            data("[DONE]"),
            Step::End,
        ]
    })
    .await;
    // Anthropic is the default provider; OpenAI is configured too.
    let (server, _) = gateway_for(&[(Api::Anthropic, &anthropic), (Api::OpenAi, &openai)], &[]);
    let mut ws = connected_writer(&server.url()).await;

    let res = call(
        &mut ws,
        "c",
        "sessions.create",
        Some(json!({"key": "main", "model": "claude-sonnet-4-5"})),
    )
    .await;
    assert_eq!(
        res["payload"]["entry"]["modelProvider"], "anthropic",
        "{res}"
    );
    // Bare ids outside the catalog and unconfigured providers are refused.
    for (id, model) in [("b1", "gpt-4.1"), ("b2", "demo/demo"), ("b3", "meta/llama")] {
        let res = call(
            &mut ws,
            id,
            "sessions.patch",
            Some(json!({"key": "main", "model": model})),
        )
        .await;
        assert_eq!(res["ok"], false, "{res}");
        assert_eq!(res["error"]["code"], "INVALID_REQUEST", "{res}");
        assert!(
            res["error"]["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("unknown model"),
            "{res}"
        );
    }
    // The session's model names the other provider, as the CLI writes it.
    let res = call(
        &mut ws,
        "p",
        "sessions.patch",
        Some(json!({"key": "main", "model": "openai/gpt-4o-mini"})),
    )
    .await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(res["payload"]["entry"]["modelProvider"], "openai", "{res}");
    assert_eq!(res["payload"]["entry"]["model"], "gpt-4o-mini", "{res}");
    let (_, _, end) = chat_send(&mut ws, "1", "main", "hi").await;
    assert_eq!(end["message"]["content"][0]["text"], "from gpt", "{end}");
    assert_eq!(openai.requests()[0].body["model"], "gpt-4o-mini");
    assert!(anthropic.requests().is_empty());
    assert_eq!(runs_of(&server, "openai").await, 1);
    assert_eq!(runs_of(&server, "anthropic").await, 0);

    // `agent` with a model of a configured provider outside the catalog: the provider's
    // API judges the id; the result names the provider that served.
    let req = json!({"type": "req", "id": "ag", "method": "agent", "params": {
        "message": "again", "sessionKey": "other", "model": "openai/gpt-4.1",
        "idempotencyKey": "run-ag"}});
    send_json(&mut ws, &req).await;
    let fin = loop {
        let f = recv_json(&mut ws).await;
        if f["type"] == "res" && f["id"] == "ag" && f["payload"]["status"] != "accepted" {
            break f;
        }
    };
    assert_eq!(fin["payload"]["status"], "ok", "{fin}");
    let meta = &fin["payload"]["result"]["meta"]["agentMeta"];
    assert_eq!(meta["provider"], "openai", "{fin}");
    assert_eq!(meta["model"], "gpt-4.1", "{fin}");
    assert_eq!(openai.requests()[1].body["model"], "gpt-4.1");
    assert_eq!(runs_of(&server, "openai").await, 2);

    // A session without a model goes to the default provider.
    let (_, _, end) = chat_send(&mut ws, "2", "third", "hi").await;
    assert_eq!(end["message"]["content"][0]["text"], "from claude", "{end}");
    assert_eq!(runs_of(&server, "anthropic").await, 1);
}
