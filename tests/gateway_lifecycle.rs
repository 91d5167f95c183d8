//! Lifecycle of `clawdbot serve`: HTTP endpoints on both ports, graceful shutdown with
//! open connections, and logs that never contain a secret.

#[path = "gateway_support/mod.rs"]
mod support;

use std::time::Duration;

use serde_json::Value;
use support::*;

#[tokio::test]
async fn health_and_ready_answer_on_both_ports() {
    let server = Server::start(&[]);
    assert_ne!(server.gateway.port(), server.health.port());
    for addr in [server.health, server.gateway] {
        let (code, body) = http_get(addr, "/health").await;
        assert_eq!(code, 200, "{addr}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["status"], "ok");
        assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
        assert!(v["uptimeMs"].is_u64());
        let (code, body) = http_get(addr, "/ready").await;
        assert_eq!(code, 200, "{addr}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["status"], "ready");
        let (code, _) = http_get(addr, "/nope").await;
        assert_eq!(code, 404);
    }
    // The WebSocket lives only on the gateway port.
    assert!(
        tokio_tungstenite::connect_async(format!("ws://{}", server.health))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn sigterm_closes_open_connections_with_1001_and_exits_0() {
    let mut server = Server::start(&[]);
    let mut clients = Vec::new();
    for _ in 0..5 {
        clients.push(connected(&server.url()).await);
    }
    // A connection still in its handshake is closed too.
    let mut pending = open(&server.url()).await;
    let _challenge = recv_json(&mut pending).await;

    let waiter = tokio::task::spawn_blocking(move || {
        let (status, took) = server.signal_and_wait(libc::SIGTERM, Duration::from_secs(5));
        (status, took, server.logs())
    });
    for ws in clients.iter_mut() {
        let ev = recv_json(ws).await;
        assert_eq!(ev["event"], "shutdown", "{ev}");
        let (code, _) = expect_close(ws, Duration::from_secs(5)).await;
        assert_eq!(code, 1001);
    }
    let (code, _) = expect_close(&mut pending, Duration::from_secs(5)).await;
    assert_eq!(code, 1001);
    let (status, took, logs) = waiter.await.unwrap();
    assert!(status.success(), "exit status {status:?}; logs:\n{logs}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(logs.contains("shutdown requested"), "{logs}");
}

#[tokio::test]
async fn sigint_stops_an_idle_server_quickly() {
    let mut server = Server::start(&[]);
    let (status, took) = server.signal_and_wait(libc::SIGINT, Duration::from_secs(5));
    assert!(status.success());
    assert!(took < Duration::from_secs(2), "took {took:?}");
}

/// Drives a server through accepted and refused handshakes and every method except
/// `chat` (with real-looking keys the provider may be live; no test leaves loopback).
async fn exercise(server: &Server) -> String {
    let mut transcript = String::new();
    for token in [
        None,
        Some("wrong-token-0123456789abcdefghijkl"),
        Some(TOKEN),
    ] {
        let mut ws = open(&server.url()).await;
        let res = handshake(&mut ws, 3, 4, token).await;
        transcript.push_str(&res.to_string());
        if res["ok"] == true {
            for m in ["health", "status", "system-presence", "config.get", "bogus"] {
                transcript.push_str(&call(&mut ws, m, m, None).await.to_string());
            }
        }
    }
    transcript
}

#[tokio::test]
async fn logs_and_responses_never_contain_the_token_or_provider_keys() {
    let anthropic = "sk-ant-api03-SECRETSECRETSECRET-0123456789-abcdefghijk";
    let openai = "sk-proj-SECRETSECRETSECRET-9876543210-zyxwvutsrq";
    for format in ["human", "json"] {
        let mut env = env_with_token();
        env.retain(|(k, _)| k != "RUST_LOG");
        env.push(("RUST_LOG".into(), "trace".into()));
        env.push(("ANTHROPIC_API_KEY".into(), anthropic.into()));
        env.push(("OPENAI_API_KEY".into(), openai.into()));
        let mut server = Server::start_with_env(&["--log-format", format], &env);
        let transcript = exercise(&server).await;
        let (status, _) = server.signal_and_wait(libc::SIGTERM, Duration::from_secs(5));
        assert!(status.success());
        let logs = server.logs();
        assert!(logs.contains("client connected"), "{logs}");
        for secret in [TOKEN, anthropic, openai, "SECRETSECRET"] {
            assert!(
                !logs.contains(secret),
                "{format} logs contain a secret:\n{logs}"
            );
            assert!(!transcript.contains(secret), "a response contains a secret");
        }
        if format == "json" {
            let mut conn_ids = 0;
            for line in logs.lines() {
                let v: Value =
                    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                if let Some(id) = v.pointer("/span/conn_id") {
                    assert_eq!(id.as_str().unwrap().len(), 36);
                    conn_ids += 1;
                }
            }
            assert!(conn_ids >= 3, "no per-connection id in JSON logs:\n{logs}");
        } else {
            assert!(logs.contains("conn{conn_id="), "{logs}");
        }
    }
}

/// The token as tungstenite's frame dumps would print it (lowercase hex bytes).
fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn trace_logging_of_dependencies_is_capped_and_client_strings_are_clipped() {
    let mut env = env_with_token();
    env.retain(|(k, _)| k != "RUST_LOG");
    env.push((
        "RUST_LOG".into(),
        "trace,tungstenite=trace,tungstenite::protocol=trace,tokio_tungstenite=trace,hyper=trace,[conn]=trace"
            .into(),
    ));
    let mut server = Server::start_with_env(&[], &env);
    exercise(&server).await;
    // A pre-auth request with a huge method name, then a huge client id on connect.
    let long = "m".repeat(60_000);
    let mut ws = open(&server.url()).await;
    let _challenge = recv_json(&mut ws).await;
    send_json(
        &mut ws,
        &serde_json::json!({"type": "req", "id": "x", "method": long}),
    )
    .await;
    let res = recv_json(&mut ws).await;
    assert_eq!(res["ok"], false, "{res}");
    let mut ws = open(&server.url()).await;
    let _challenge = recv_json(&mut ws).await;
    let mut connect = connect_frame(3, 4, Some(TOKEN));
    connect["params"]["client"]["id"] = serde_json::json!("c".repeat(30_000));
    send_json(&mut ws, &connect).await;
    assert_eq!(recv_json(&mut ws).await["ok"], true);
    drop(ws);
    let (status, _) = server.signal_and_wait(libc::SIGTERM, Duration::from_secs(5));
    assert!(status.success());
    let logs = server.logs();
    assert!(logs.contains("client connected"), "{logs}");
    let token_hex = hex(TOKEN);
    for needle in [
        TOKEN,
        &token_hex,
        &token_hex[..16],
        "\"method\":\"connect\"",
        "connect.challenge",
    ] {
        assert!(!logs.contains(needle), "logs contain {needle:?}:\n{logs}");
    }
    let longest = logs.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 2048, "a log line of {longest} bytes");
    assert!(
        !logs.contains(&"m".repeat(65)),
        "an unclipped method name was logged"
    );
    assert!(
        !logs.contains(&"c".repeat(65)),
        "an unclipped client id was logged"
    );
}
