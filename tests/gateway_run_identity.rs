//! Run identity over real sockets: a run belongs to the session instance it started in.
//! `chat.send K`, `sessions.delete K` and `chat.send K` pipelined: the first run is
//! aborted with the first `K`; its end must neither store into the new `K` nor mark the
//! new run's session idle (else a third run would be accepted while the second streams).

#[path = "gateway_support/mod.rs"]
mod support;

use serde_json::{json, Value};
use support::*;

/// Frames until one satisfies `pred` (events and responses alike); returns it.
async fn until(ws: &mut Ws, pred: impl Fn(&Value) -> bool) -> Value {
    loop {
        let f = recv_json(ws).await;
        if pred(&f) {
            return f;
        }
    }
}

fn ended(f: &Value, run: &str) -> bool {
    f["event"] == "chat"
        && f["payload"]["runId"] == run
        && ["final", "error", "aborted"]
            .iter()
            .any(|s| f["payload"]["state"] == *s)
}

fn req(id: &str, method: &str, params: Value) -> Value {
    json!({"type": "req", "id": id, "method": method, "params": params})
}

fn send(id: &str, key: &str, message: &str) -> Value {
    let params = json!({"sessionKey": key, "message": message, "idempotencyKey": id});
    req(id, "chat.send", params)
}

#[tokio::test]
async fn a_deleted_sessions_run_leaves_the_recreated_session_alone() {
    let mut env = env_with_token();
    env.push(("CLAWDBOT_DEMO_CHUNK_DELAY_MS".into(), "40".into()));
    let server = Server::start_with_env(&[], &env);
    let scopes = ["operator.read", "operator.write", "operator.admin"];
    let mut ws = connected_with_scopes(&server.url(), &scopes).await;
    for round in 0..10 {
        let key = format!("agent:main:round{round}");
        let (old, new, third) = (
            format!("old{round}"),
            format!("new{round}"),
            format!("third{round}"),
        );
        // Pipelined: all three leave before any answer arrives.
        send_json(&mut ws, &send(&old, &key, "first: tell me a long story")).await;
        send_json(&mut ws, &req("del", "sessions.delete", json!({"key": key}))).await;
        send_json(&mut ws, &send(&new, &key, "second: hello")).await;
        until(&mut ws, |f| ended(f, &old)).await;
        // The old run has ended; the new one still streams: a third must wait.
        send_json(&mut ws, &send(&third, &key, "third")).await;
        let refused = until(&mut ws, |f| f["id"] == third.as_str()).await;
        until(&mut ws, |f| ended(f, &new)).await;
        let id = format!("history{round}");
        send_json(
            &mut ws,
            &req(&id, "chat.history", json!({"sessionKey": key})),
        )
        .await;
        let history = until(&mut ws, |f| f["id"] == id.as_str()).await;
        let runs: Vec<String> = history["payload"]["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| format!("{} {}", m["role"].as_str().unwrap_or("?"), m["runId"]))
            .collect();
        assert_eq!(
            runs,
            [format!("user \"{new}\""), format!("assistant \"{new}\"")],
            "round {round}: the new session holds another run's messages"
        );
        assert_eq!(
            refused["ok"], false,
            "round {round}: a third run was accepted while the second streamed: {refused}"
        );
        if refused["ok"] == true {
            until(&mut ws, |f| ended(f, &third)).await;
        }
    }
}
