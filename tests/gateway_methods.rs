//! The methods over real sockets on loopback: good and bad params, scopes, runs and
//! their events, subscriptions, the sessions store's bounds, `logs.tail`.

#[path = "gateway_support/mod.rs"]
mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::*;

const READ: &str = "operator.read";
const WRITE: &str = "operator.write";
const ADMIN: &str = "operator.admin";

/// Reads frames until `pred` matches one (events or responses); panics after 10 s.
async fn until(ws: &mut Ws, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let f = tokio::time::timeout_at(deadline, recv_json(ws))
            .await
            .expect("timed out waiting for a matching frame");
        if pred(&f) {
            return f;
        }
    }
}

/// Calls `method` with `params`, checks that it succeeded, and returns its payload.
async fn payload(ws: &mut Ws, id: &str, method: &str, params: Value) -> Value {
    let res = call(ws, id, method, Some(params)).await;
    assert_eq!(res["ok"], true, "{method}: {res}");
    res["payload"].clone()
}

/// Calls `method` with `params` and returns the (code, message) of its refusal.
async fn refusal(ws: &mut Ws, id: &str, method: &str, params: Option<Value>) -> (String, String) {
    let res = call(ws, id, method, params).await;
    let (code, message) = error_of(&res);
    (code.to_string(), message.to_string())
}

fn error_of(res: &Value) -> (&str, &str) {
    assert_eq!(res["ok"], false, "expected an error: {res}");
    (
        res["error"]["code"].as_str().unwrap_or_default(),
        res["error"]["message"].as_str().unwrap_or_default(),
    )
}

#[tokio::test]
async fn every_method_in_the_table_is_answered_as_the_table_says() {
    let server = Server::in_process(&[]);
    let mut ws = connected_with_scopes(&server.url(), &[ADMIN]).await;
    let hello_methods: Vec<String> = {
        let mut probe = open(&server.url()).await;
        let hello = handshake(&mut probe, 3, 4, Some(TOKEN)).await;
        serde_json::from_value(hello["payload"]["features"]["methods"].clone()).unwrap()
    };
    assert!(hello_methods.contains(&"chat.send".to_string()));
    assert!(!hello_methods.contains(&"chat".to_string()));
    assert!(!hello_methods.contains(&"cron.list".to_string()));
    for (i, m) in hello_methods.iter().enumerate() {
        // Params that are wrong for most methods: an answer, never "no handler".
        let res = call(&mut ws, &format!("m{i}"), m, Some(json!({}))).await;
        let msg = res["error"]["message"].as_str().unwrap_or_default();
        assert!(!msg.contains("has no handler"), "{m}: {res}");
        assert!(!msg.starts_with("unknown method"), "{m}: {res}");
    }
    for m in [
        "cron.list",
        "channels.start",
        "node.list",
        "send",
        "usage.status",
    ] {
        let res = call(&mut ws, m, m, None).await;
        let (code, msg) = error_of(&res);
        assert_eq!(code, "UNAVAILABLE", "{res}");
        assert!(
            msg.starts_with(&format!("{m} is not supported by this gateway: ")),
            "{res}"
        );
        assert_eq!(res["error"]["details"]["supported"], false);
    }
    let res = refusal(&mut ws, "u", "no.such.method", None).await;
    assert_eq!(res.1, "unknown method: no.such.method");
}

#[tokio::test]
async fn scopes_are_enforced_with_the_real_error_shape() {
    let server = Server::in_process(&[]);
    let url = server.url();
    let mut reader = connected_with_scopes(&url, &[READ]).await;
    for (id, method, params) in [
        (
            "1",
            "chat.send",
            json!({"sessionKey": "main", "message": "hi", "idempotencyKey": "k1"}),
        ),
        ("2", "agent", json!({"message": "hi", "agentId": "main"})),
        ("3", "chat.abort", json!({"sessionKey": "main"})),
        ("4", "sessions.create", json!({"key": "x"})),
        ("5", "sessions.patch", json!({"key": "main", "label": "x"})),
    ] {
        let res = call(&mut reader, id, method, Some(params)).await;
        let (code, msg) = error_of(&res);
        assert_eq!(code, "FORBIDDEN", "{method}: {res}");
        assert_eq!(msg, "missing scope: operator.write", "{method}");
        assert_eq!(res["error"]["details"]["code"], "MISSING_SCOPE");
        assert_eq!(res["error"]["details"]["missingScope"], WRITE);
    }
    // Reads work for a reader.
    assert_eq!(
        call(&mut reader, "6", "sessions.list", None).await["ok"],
        true
    );
    assert_eq!(
        call(
            &mut reader,
            "7",
            "chat.history",
            Some(json!({"sessionKey": "main"}))
        )
        .await["ok"],
        true
    );

    // A writer chats but cannot reset or delete (admin), nor patch beyond label/model.
    let mut writer = connected_writer(&url).await;
    let (res, _, end) = chat_send(&mut writer, "w1", "main", "hello").await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(end["state"], "final");
    for (id, method, params) in [
        ("w2", "sessions.reset", json!({"key": "main"})),
        ("w3", "sessions.delete", json!({"key": "main"})),
        ("w4", "sessions.compact", json!({"key": "main"})),
        (
            "w5",
            "sessions.patch",
            json!({"key": "main", "sandboxMode": "off"}),
        ),
        (
            "w6",
            "agent",
            json!({"message": "/reset", "agentId": "main"}),
        ),
    ] {
        let res = refusal(&mut writer, id, method, Some(params)).await;
        assert_eq!(
            res,
            ("FORBIDDEN".into(), "missing scope: operator.admin".into()),
            "{method}"
        );
    }
    // No scopes at all: not even reads.
    let mut nobody = connected_with_scopes(&url, &[]).await;
    let res = refusal(&mut nobody, "n", "health", None).await;
    assert_eq!(
        res,
        ("FORBIDDEN".into(), "missing scope: operator.read".into())
    );
    // The grant is reported in hello-ok.
    let mut probe = open(&url).await;
    let _ = recv_json(&mut probe).await;
    let mut connect = connect_frame(3, 4, Some(TOKEN));
    connect["params"]["scopes"] = json!([WRITE, "operator.bogus", WRITE]);
    send_json(&mut probe, &connect).await;
    let hello = recv_res(&mut probe).await;
    assert_eq!(
        hello["payload"]["auth"],
        json!({"method": "token", "role": "operator", "scopes": [WRITE]})
    );
    assert!(hello["payload"]["features"]["capabilities"]
        .as_array()
        .unwrap()
        .contains(&json!("published-model-catalog")));
}

#[tokio::test]
async fn chat_send_streams_deltas_then_final_and_keeps_the_transcript() {
    let server = Server::in_process(&[]);
    let mut ws = connected_writer(&server.url()).await;
    let (res, deltas, end) = chat_send(&mut ws, "a", "agent:main:work", "first question").await;
    assert_eq!(
        res["payload"],
        json!({"runId": "run-a", "status": "started"})
    );
    assert!(!deltas.is_empty());
    let streamed: String = deltas
        .iter()
        .filter_map(|d| d["deltaText"].as_str())
        .collect();
    let text = end["message"]["content"][0]["text"].as_str().unwrap();
    // Deltas are paced (the first at once): they add up to a prefix of the final text,
    // which the final event carries whole.
    assert!(
        !streamed.is_empty() && text.starts_with(&streamed),
        "deltas {streamed:?} are not a prefix of the final text {text:?}"
    );
    assert!(
        text.starts_with("[demo] You said: \"first question\"."),
        "{text}"
    );
    assert_eq!(end["sessionKey"], "agent:main:work");
    let seqs: Vec<u64> = deltas
        .iter()
        .chain([&end])
        .filter_map(|e| e["seq"].as_u64())
        .collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    let (_, _, end2) = chat_send(&mut ws, "b", "work", "second question").await;
    assert_eq!(end2["state"], "final");

    let h = payload(&mut ws, "h", "chat.history", json!({"sessionKey": "work"})).await;
    let msgs = h["messages"].as_array().unwrap();
    let roles: Vec<&str> = msgs.iter().filter_map(|m| m["role"].as_str()).collect();
    assert_eq!(roles, ["user", "assistant", "user", "assistant"]);
    assert_eq!(msgs[2]["content"][0]["text"], "second question");
    let h = payload(
        &mut ws,
        "h2",
        "chat.history",
        json!({"sessionKey": "work", "limit": 1}),
    )
    .await;
    assert_eq!(h["messages"].as_array().unwrap().len(), 1);
    // An unknown session has no history (the TUI reads it before the first message).
    let h = payload(
        &mut ws,
        "h3",
        "chat.history",
        json!({"sessionKey": "never-used"}),
    )
    .await;
    assert_eq!(h["messages"], json!([]));

    // Bad params.
    for (id, params, want) in [
        (
            "x1",
            json!({"sessionKey": "main"}),
            "invalid chat.send params",
        ),
        (
            "x2",
            json!({"sessionKey": "main", "message": "  "}),
            "message must not be empty",
        ),
        (
            "x3",
            json!({"sessionKey": "agent:ops:main", "message": "hi"}),
            "unknown agent id",
        ),
        (
            "x4",
            json!({"sessionKey": "bad key!", "message": "hi"}),
            "invalid session key",
        ),
        (
            "x5",
            json!({"sessionKey": "main", "message": "hi", "agentId": "ops"}),
            "unknown agent id",
        ),
    ] {
        let res = call(&mut ws, id, "chat.send", Some(params)).await;
        let (code, msg) = error_of(&res);
        assert_eq!(code, "INVALID_REQUEST", "{res}");
        assert!(msg.contains(want), "{id}: {msg}");
    }
}

#[tokio::test]
async fn oversized_messages_are_refused_and_transcripts_stay_bounded() {
    let server = Server::in_process(&[
        "--max-message-bytes",
        "1024",
        "--session-max-messages",
        "4",
        "--max-sessions",
        "2",
    ]);
    let mut ws = connected_writer(&server.url()).await;
    let (res, _, _) = chat_send(&mut ws, "big", "main", &"x".repeat(1025)).await;
    let (code, msg) = error_of(&res);
    assert_eq!(code, "INVALID_REQUEST");
    assert!(
        msg.starts_with("message too large: 1025 bytes (at most 1024"),
        "{msg}"
    );
    // Nothing was stored for it.
    let h = payload(&mut ws, "h0", "chat.history", json!({"sessionKey": "main"})).await;
    assert_eq!(h["messages"], json!([]));

    for i in 0..3 {
        let (_, _, end) = chat_send(&mut ws, &format!("m{i}"), "main", &format!("msg {i}")).await;
        assert_eq!(end["state"], "final");
    }
    let h = payload(&mut ws, "h1", "chat.history", json!({"sessionKey": "main"})).await;
    let msgs = h["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 4, "at most --session-max-messages");
    assert_eq!(
        msgs[0]["content"][0]["text"], "msg 1",
        "the oldest went first"
    );

    // Two more sessions with max 2: the least recently used one (main) is evicted.
    let (_, _, _) = chat_send(&mut ws, "s1", "second", "hi").await;
    let (_, _, _) = chat_send(&mut ws, "s2", "third", "hi").await;
    let list = call(&mut ws, "l", "sessions.list", None).await;
    let keys: Vec<&str> = list["payload"]["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["key"].as_str())
        .collect();
    assert_eq!(keys.len(), 2, "{list}");
    assert!(!keys.contains(&"agent:main:main"), "{keys:?}");
}

#[tokio::test]
async fn agent_acks_then_answers_on_the_same_id_with_lifecycle_events() {
    let server = Server::in_process(&[]);
    let mut ws = connected_writer(&server.url()).await;
    send_json(
        &mut ws,
        &json!({"type": "req", "id": "ag", "method": "agent", "params": {
        "message": "run please", "agentId": "main", "idempotencyKey": "run-ag",
        "model": "demo/demo"}}),
    )
    .await;
    let mut acked = false;
    let mut lifecycle = Vec::new();
    let fin = loop {
        let f = recv_json(&mut ws).await;
        if f["type"] == "event" && f["event"] == "agent" && f["payload"]["stream"] == "lifecycle" {
            lifecycle.push(
                f["payload"]["data"]["phase"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            );
        }
        if f["type"] == "res" && f["id"] == "ag" {
            assert_eq!(f["ok"], true, "{f}");
            if f["payload"]["status"] == "accepted" {
                assert!(!acked, "two acks");
                acked = true;
                assert_eq!(f["payload"]["runId"], "run-ag");
                continue;
            }
            break f;
        }
    };
    assert!(acked, "no accepted ack before the final result");
    assert_eq!(fin["payload"]["status"], "ok", "{fin}");
    assert_eq!(fin["payload"]["runId"], "run-ag");
    let meta = &fin["payload"]["result"]["meta"]["agentMeta"];
    assert_eq!(meta["provider"], "demo", "{fin}");
    assert_eq!(meta["model"], "demo", "{fin}");
    let text = fin["payload"]["result"]["payloads"][0]["text"]
        .as_str()
        .unwrap();
    assert!(
        text.starts_with("[demo] You said: \"run please\"."),
        "{text}"
    );
    assert_eq!(lifecycle.first().map(String::as_str), Some("start"));
    // The run went to the main session.
    let h = payload(
        &mut ws,
        "h",
        "chat.history",
        json!({"sessionKey": "agent:main:main"}),
    )
    .await;
    assert_eq!(h["messages"].as_array().unwrap().len(), 2);
    // Bad params: unknown agent, unknown model, empty message.
    for (id, params) in [
        ("b1", json!({"message": "hi", "agentId": "ops"})),
        ("b2", json!({"message": "hi", "model": "gpt-nope"})),
        ("b3", json!({"message": ""})),
        (
            "b4",
            json!({"message": "hi", "model": "anthropic/claude-sonnet-4-5"}),
        ),
        ("b5", json!({"message": "hi", "model": "demo/demo-echo"})),
    ] {
        let res = call(&mut ws, id, "agent", Some(params)).await;
        assert_eq!(error_of(&res).0, "INVALID_REQUEST", "{res}");
    }
}

#[tokio::test]
async fn abort_of_a_finished_run_aborts_nothing() {
    let server = Server::in_process(&[]);
    let mut ws = connected_writer(&server.url()).await;
    let (_, _, end) = chat_send(&mut ws, "r", "main", "quick").await;
    assert_eq!(end["state"], "final");
    let res = payload(
        &mut ws,
        "a",
        "chat.abort",
        json!({"sessionKey": "main", "runId": "run-r"}),
    )
    .await;
    assert_eq!(res, json!({"ok": true, "aborted": false, "runIds": []}));
    let res = payload(&mut ws, "b", "chat.abort", json!({"sessionKey": "main"})).await;
    assert_eq!(res["aborted"], false);
    let res = refusal(&mut ws, "c", "chat.abort", Some(json!({}))).await;
    assert_eq!(res.0, "INVALID_REQUEST");
}

#[tokio::test]
async fn subscriptions_decide_who_gets_session_events() {
    let server = Server::in_process(&[]);
    let url = server.url();
    let mut sub = connected_with_scopes(&url, &[READ]).await;
    let first = call(&mut sub, "s1", "sessions.subscribe", Some(json!({}))).await;
    assert_eq!(
        first["payload"],
        json!({"subscribed": true, "changed": true})
    );
    let twice = payload(&mut sub, "s2", "sessions.subscribe", json!({})).await;
    assert_eq!(twice, json!({"subscribed": true, "changed": false}));
    let m = payload(
        &mut sub,
        "s3",
        "sessions.messages.subscribe",
        json!({"key": "main"}),
    )
    .await;
    assert_eq!(m["key"], "agent:main:main");

    let mut writer = connected_writer(&url).await;
    let (_, _, end) = chat_send(&mut writer, "c", "main", "subscribed?").await;
    assert_eq!(end["state"], "final");
    // The subscriber sees the change, both messages, and the chat stream (a reader).
    let (mut changed, mut roles, mut chat_final) = (Vec::new(), Vec::new(), false);
    while changed.is_empty() || roles.len() < 2 || !chat_final {
        let f = until(&mut sub, |f| f["type"] == "event").await;
        match f["event"].as_str() {
            Some("sessions.changed") => changed.push(f["payload"]["sessionKey"].clone()),
            Some("session.message") => roles.push(f["payload"]["message"]["role"].clone()),
            Some("chat") => chat_final |= f["payload"]["state"] == "final",
            _ => {}
        }
    }
    assert!(
        changed.iter().all(|k| k == "agent:main:main"),
        "{changed:?}"
    );
    assert_eq!(roles, [json!("user"), json!("assistant")]);

    // The writer did not subscribe: after its run's final event and a request round
    // trip (which orders everything sent before it), it has seen no session events.
    send_json(
        &mut writer,
        &json!({"type": "req", "id": "p", "method": "health"}),
    )
    .await;
    let mut saw = Vec::new();
    loop {
        let f = recv_json(&mut writer).await;
        if f["type"] == "res" && f["id"] == "p" {
            break;
        }
        saw.push(f["event"].as_str().unwrap_or("").to_string());
    }
    assert!(!saw.iter().any(|e| e.starts_with("session")), "{saw:?}");

    // Unsubscribed: a later run on another session produces no sessions.changed.
    call(&mut sub, "u1", "sessions.unsubscribe", Some(json!({}))).await;
    let (_, _, _) = chat_send(&mut writer, "d", "other", "after").await;
    send_json(
        &mut sub,
        &json!({"type": "req", "id": "p2", "method": "health"}),
    )
    .await;
    // Events for the first run may still be queued; none may be about "other".
    loop {
        let f = recv_json(&mut sub).await;
        if f["type"] == "res" && f["id"] == "p2" {
            break;
        }
        if f["event"] == "sessions.changed" {
            assert_ne!(f["payload"]["sessionKey"], "agent:main:other", "{f}");
        }
    }
}

#[tokio::test]
async fn session_methods_with_good_and_bad_keys() {
    let server = Server::in_process(&[]);
    let mut ws = connected_with_scopes(&server.url(), &[ADMIN]).await;
    // Unknown keys.
    let d = payload(&mut ws, "d0", "sessions.describe", json!({"key": "ghost"})).await;
    assert_eq!(d, json!({"session": null}));
    for (id, method) in [
        ("p0", "sessions.patch"),
        ("r0", "sessions.reset"),
        ("x0", "sessions.delete"),
        ("c0", "sessions.compact"),
    ] {
        let params = if method == "sessions.patch" {
            json!({"key": "ghost", "label": "x"})
        } else {
            json!({"key": "ghost"})
        };
        let res = refusal(&mut ws, id, method, Some(params)).await;
        assert_eq!(
            res,
            (
                "INVALID_REQUEST".into(),
                "session not found: agent:main:ghost".into()
            ),
            "{method}"
        );
    }
    let r = payload(&mut ws, "r1", "sessions.resolve", json!({"key": "ghost"})).await;
    assert_eq!(r, json!({"ok": false}));
    let r = refusal(&mut ws, "r2", "sessions.resolve", Some(json!({}))).await;
    assert_eq!(r.0, "INVALID_REQUEST");

    // Create, patch, resolve, describe.
    let c = payload(
        &mut ws,
        "c1",
        "sessions.create",
        json!({"key": "notes", "label": "Notes"}),
    )
    .await;
    assert_eq!(c["key"], "agent:main:notes", "{c}");
    assert_eq!(c["created"], true);
    let p = payload(
        &mut ws,
        "p1",
        "sessions.patch",
        json!({"key": "notes", "model": "demo"}),
    )
    .await;
    assert_eq!(p["entry"]["model"], "demo", "{p}");
    // `provider/model` as the CLI writes it: resolved to the configured provider.
    let p = payload(
        &mut ws,
        "p1b",
        "sessions.patch",
        json!({"key": "notes", "model": "demo/demo"}),
    )
    .await;
    assert_eq!(p["entry"]["model"], "demo", "{p}");
    assert_eq!(p["entry"]["modelProvider"], "demo", "{p}");
    // Unknown ids, unknown models of the demo provider, unconfigured providers.
    for (id, model) in [
        ("p2", "gpt-nope"),
        ("p3", "demo/demo-echo"),
        ("p4", "openai/gpt-4o-mini"),
        ("p5", "nope/demo"),
    ] {
        let p = call(
            &mut ws,
            id,
            "sessions.patch",
            Some(json!({"key": "notes", "model": model})),
        )
        .await;
        let (code, message) = error_of(&p);
        assert_eq!(code, "INVALID_REQUEST", "{p}");
        assert!(message.starts_with("unknown model"), "{p}");
        assert!(message.contains("this gateway offers: demo/demo"), "{p}");
    }
    let r = payload(&mut ws, "r3", "sessions.resolve", json!({"label": "Notes"})).await;
    assert_eq!(r["key"], "agent:main:notes");
    let d = payload(
        &mut ws,
        "d1",
        "sessions.describe",
        json!({"key": "agent:main:notes"}),
    )
    .await;
    assert_eq!(d["session"]["label"], "Notes");

    // Messages, compact, reset (new session id), delete.
    for i in 0..3 {
        chat_send(&mut ws, &format!("m{i}"), "notes", &format!("n{i}")).await;
    }
    let k = payload(
        &mut ws,
        "k",
        "sessions.compact",
        json!({"key": "notes", "maxLines": 2}),
    )
    .await;
    assert_eq!(k["removed"], 4, "{k}");
    let before = d["session"]["sessionId"].clone();
    let r = payload(
        &mut ws,
        "r4",
        "sessions.reset",
        json!({"key": "notes", "reason": "new"}),
    )
    .await;
    assert_ne!(r["entry"]["sessionId"], before);
    assert_eq!(r["entry"]["messageCount"], 0);
    let x = payload(&mut ws, "x1", "sessions.delete", json!({"key": "notes"})).await;
    assert_eq!(x["deleted"], true);
    let x = refusal(
        &mut ws,
        "x2",
        "sessions.delete",
        Some(json!({"key": "notes"})),
    )
    .await;
    assert_eq!(x.1, "session not found: agent:main:notes");
}

#[tokio::test]
async fn logs_tail_serves_the_gateways_own_lines_with_cursors() {
    let server = Server::start(&[]);
    let mut ws = connected(&server.url()).await;
    let t = call(&mut ws, "t1", "logs.tail", Some(json!({"limit": 50}))).await;
    let p = &t["payload"];
    let lines = p["lines"].as_array().unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l.as_str().unwrap().contains("clawdbot gateway listening")),
        "{p}"
    );
    let line: Value = serde_json::from_str(lines[0].as_str().unwrap()).unwrap();
    assert_eq!(keys(&line), ["level", "message", "subsystem", "time"]);
    assert!(!t.to_string().contains(TOKEN));
    let cursor = p["cursor"].as_u64().unwrap();
    assert_eq!(cursor, p["size"].as_u64().unwrap());
    // New lines after the cursor: another client connects (logged at info).
    let _other = connected(&server.url()).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let next = loop {
        let t = call(&mut ws, "t2", "logs.tail", Some(json!({"cursor": cursor}))).await;
        if !t["payload"]["lines"].as_array().unwrap().is_empty()
            || std::time::Instant::now() > deadline
        {
            break t;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let new_lines = next["payload"]["lines"].as_array().unwrap();
    assert!(
        new_lines
            .iter()
            .any(|l| l.as_str().unwrap().contains("client connected")),
        "{next}"
    );
    assert!(next["payload"]["cursor"].as_u64().unwrap() > cursor);
    let reset = payload(&mut ws, "t3", "logs.tail", json!({"cursor": u64::MAX / 2})).await;
    assert_eq!(reset["reset"], true);
    for (id, params) in [
        ("b1", json!({"limit": 0})),
        ("b2", json!({"maxBytes": 2_000_000})),
        ("b3", json!({"bogus": 1})),
    ] {
        let res = call(&mut ws, id, "logs.tail", Some(params)).await;
        assert_eq!(error_of(&res).0, "INVALID_REQUEST", "{res}");
    }
}

#[tokio::test]
async fn invalid_session_limits_refuse_to_start() {
    let (status, err) = run_expect_exit(&["--max-sessions", "0"], &env_with_token());
    assert!(!status.success());
    assert!(
        err.contains("--max-sessions must be between 1 and 100000"),
        "{err}"
    );
    let (status, err) = run_expect_exit(
        &[
            "--max-message-bytes",
            "65536",
            "--session-max-bytes",
            "4096",
        ],
        &env_with_token(),
    );
    assert!(!status.success());
    assert!(err.contains("--max-message-bytes"), "{err}");
}

/// A server whose demo provider pauses between chunks, so a run can be caught running.
fn slow_server() -> Server {
    let mut env = env_with_token();
    env.push(("CLAWDBOT_DEMO_CHUNK_DELAY_MS".into(), "300".into()));
    Server::start_with_env(&[], &env)
}

fn send_frame(id: &str, key: &str, message: &str) -> Value {
    json!({"type": "req", "id": id, "method": "chat.send", "params": {
        "sessionKey": key, "message": message, "idempotencyKey": format!("run-{id}")}})
}

#[tokio::test]
async fn chat_abort_stops_a_running_run_and_keeps_the_partial_answer() {
    let server = slow_server();
    let mut ws = connected_writer(&server.url()).await;
    send_json(
        &mut ws,
        &send_frame("slow", "main", "tell me a long story please"),
    )
    .await;
    let first = until(&mut ws, |f| {
        f["event"] == "chat" && f["payload"]["state"] == "delta"
    })
    .await;
    assert_eq!(first["payload"]["runId"], "run-slow");
    // While it runs: the read loop still answers, a second run in the session is refused,
    // the same idempotency key is reported in flight.
    let busy = call(
        &mut ws,
        "b",
        "chat.send",
        Some(json!({"sessionKey": "main", "message": "another", "idempotencyKey": "other"})),
    )
    .await;
    let (code, msg) = error_of(&busy);
    assert_eq!(code, "UNAVAILABLE");
    assert!(msg.contains("already in progress"), "{msg}");
    assert_eq!(busy["error"]["retryable"], true);
    let again = call(
        &mut ws,
        "again",
        "chat.send",
        Some(json!({"sessionKey": "main", "message": "x", "idempotencyKey": "run-slow"})),
    )
    .await;
    assert_eq!(again["payload"]["status"], "in_flight", "{again}");
    let stab = call(&mut ws, "d", "diagnostics.stability", None).await;
    assert_eq!(stab["payload"]["activeRuns"], 1, "{stab}");

    let res = payload(&mut ws, "a", "chat.abort", json!({"sessionKey": "main"})).await;
    assert_eq!(
        res,
        json!({"ok": true, "aborted": true, "runIds": ["run-slow"]})
    );
    let end = until(&mut ws, |f| {
        f["event"] == "chat"
            && f["payload"]["runId"] == "run-slow"
            && f["payload"]["state"] != "delta"
    })
    .await;
    assert_eq!(end["payload"]["state"], "aborted", "{end}");
    let h = payload(&mut ws, "h", "chat.history", json!({"sessionKey": "main"})).await;
    let msgs = h["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2, "{h}");
    assert_eq!(msgs[1]["stopReason"], "aborted");
    let partial = msgs[1]["content"][0]["text"].as_str().unwrap();
    assert!(
        !partial.is_empty() && !partial.ends_with("machine."),
        "{partial}"
    );
    // Aborting again aborts nothing; the session takes a new run at once.
    let res = payload(
        &mut ws,
        "a2",
        "chat.abort",
        json!({"sessionKey": "main", "runId": "run-slow"}),
    )
    .await;
    assert_eq!(res["aborted"], false);
    let stab = call(&mut ws, "d2", "diagnostics.stability", None).await;
    assert_eq!(stab["payload"]["activeRuns"], 0, "{stab}");
}

#[tokio::test]
async fn a_client_that_goes_away_cancels_its_runs() {
    let server = slow_server();
    let url = server.url();
    let mut observer = connected_with_scopes(&url, &[READ]).await;
    let mut client = connected_writer(&url).await;
    send_json(
        &mut client,
        &send_frame("gone", "work", "a long answer please"),
    )
    .await;
    until(&mut client, |f| {
        f["event"] == "chat" && f["payload"]["state"] == "delta"
    })
    .await;
    drop(client);
    // The observer (a reader) sees the run end as aborted, long before it would finish.
    let end = until(&mut observer, |f| {
        f["event"] == "chat"
            && f["payload"]["runId"] == "run-gone"
            && f["payload"]["state"] != "delta"
    })
    .await;
    assert_eq!(end["payload"]["state"], "aborted", "{end}");
    let stab = call(&mut observer, "d", "diagnostics.stability", None).await;
    assert_eq!(stab["payload"]["activeRuns"], 0, "{stab}");
    // sessions.reset aborts a run too.
    let mut admin = connected_with_scopes(&url, &[ADMIN]).await;
    send_json(&mut admin, &send_frame("r", "work", "another long one")).await;
    until(&mut admin, |f| {
        f["event"] == "chat" && f["payload"]["state"] == "delta"
    })
    .await;
    let r = call(
        &mut admin,
        "reset",
        "sessions.reset",
        Some(json!({"key": "work"})),
    )
    .await;
    assert_eq!(r["ok"], true, "{r}");
    let end = until(&mut admin, |f| {
        f["event"] == "chat" && f["payload"]["runId"] == "run-r" && f["payload"]["state"] != "delta"
    })
    .await;
    assert_eq!(end["payload"]["state"], "aborted");
}

#[tokio::test]
async fn persisted_sessions_survive_a_restart_without_secrets_on_disk() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("clawdbot-persist-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_arg = dir.to_str().unwrap().to_string();
    let mut server = Server::start(&["--sessions-dir", &dir_arg]);
    let mut ws = connected_writer(&server.url()).await;
    let (_, _, end) = chat_send(&mut ws, "p", "main", "keep this").await;
    assert_eq!(end["state"], "final");
    drop(ws);
    let (status, _) = server.signal_and_wait(libc::SIGTERM, Duration::from_secs(10));
    assert!(status.success());

    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let meta = files[0].metadata().unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let text = std::fs::read_to_string(files[0].path()).unwrap();
    assert!(text.contains("keep this"));
    assert!(
        !text.contains(TOKEN),
        "the token reached the sessions volume"
    );

    let server = Server::start(&["--sessions-dir", &dir_arg]);
    let mut ws = connected(&server.url()).await;
    let h = payload(&mut ws, "h", "chat.history", json!({"sessionKey": "main"})).await;
    let msgs = h["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2, "{h}");
    assert_eq!(msgs[0]["content"][0]["text"], "keep this");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
