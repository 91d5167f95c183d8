//! ws-load against a minimal in-test gateway on loopback that speaks the handshake
//! (challenge, `connect` with the token checked, `health` responses, ticks).

use std::net::SocketAddr;
use std::process::Command;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

const TOKEN: &str = "bench-test-token-0123456789abcdef";

async fn serve_one(stream: tokio::net::TcpStream) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let challenge =
        json!({"type": "event", "event": "connect.challenge", "payload": {"nonce": "n", "ts": 0}});
    if ws.send(Message::text(challenge.to_string())).await.is_err() {
        return;
    }
    while let Some(Ok(msg)) = ws.next().await {
        let Message::Text(t) = msg else { continue };
        let Ok(v) = serde_json::from_str::<Value>(&t) else {
            return;
        };
        let id = v["id"].clone();
        let reply = match v["method"].as_str() {
            Some("connect") if v["params"]["auth"]["token"] == TOKEN => {
                json!({"type": "res", "id": id, "ok": true, "payload": {"type": "hello-ok", "protocol": 4}})
            }
            Some("connect") => {
                let r = json!({"type": "res", "id": id, "ok": false, "error": {"code": "UNAUTHORIZED", "message": "bad token"}});
                let _ = ws.send(Message::text(r.to_string())).await;
                return;
            }
            Some("health") => {
                // An event before the response: the client must skip it.
                let tick = json!({"type": "event", "event": "tick", "payload": {"ts": 1}});
                let _ = ws.send(Message::text(tick.to_string())).await;
                json!({"type": "res", "id": id, "ok": true, "payload": {"ok": true}})
            }
            _ => {
                json!({"type": "res", "id": id, "ok": false, "error": {"code": "INVALID_REQUEST"}})
            }
        };
        if ws.send(Message::text(reply.to_string())).await.is_err() {
            return;
        }
    }
}

fn start_server() -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                tokio::spawn(serve_one(stream));
            }
        });
    });
    rx.recv().unwrap()
}

fn ws_load(addr: SocketAddr, token: &str, args: &[&str]) -> (i32, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ws-load"))
        .arg("--addr")
        .arg(addr.to_string())
        .args(args)
        .env("CLAWDBOT_GATEWAY_TOKEN", token)
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.code().unwrap_or(-1),
        json,
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn latency_mode_measures_health_over_several_connection_counts() {
    let addr = start_server();
    let pid = std::process::id().to_string();
    let (code, out, err) = ws_load(
        addr,
        TOKEN,
        &[
            "--pid",
            &pid,
            "latency",
            "--conns",
            "1,5",
            "--seconds",
            "0.3",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let runs = out["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[1]["connections"], 5);
    for r in runs {
        assert!(r["requests_ok"].as_u64().unwrap() > 0);
        assert_eq!(r["requests_failed"], 0);
        assert!(
            r["latency"]["p99_us"].as_u64().unwrap() >= r["latency"]["p50_us"].as_u64().unwrap()
        );
        assert!(r["server_rss_before_bytes"].as_u64().unwrap() > 0);
    }
}

#[test]
fn hold_mode_keeps_connections_open() {
    let addr = start_server();
    let (code, out, err) = ws_load(
        addr,
        TOKEN,
        &[
            "--sources",
            "2",
            "hold",
            "--max",
            "30",
            "--hold-seconds",
            "0.2",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out["opened"], 30);
    assert_eq!(out["open_after_hold"], 30);
    assert_eq!(out["stop_reason"], "target reached");
}

#[test]
fn a_wrong_token_is_reported_not_counted() {
    let addr = start_server();
    let (code, _, err) = ws_load(
        addr,
        "wrong-token-wrong-token-wrong",
        &["latency", "--conns", "1", "--seconds", "0.2"],
    );
    assert_eq!(code, 2);
    assert!(err.contains("connect refused"), "{err}");
    assert!(
        !err.contains("wrong-token"),
        "the token must not be printed: {err}"
    );
}

#[test]
fn non_loopback_targets_are_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_ws-load"))
        .args([
            "--addr",
            "192.0.2.1:18789",
            "latency",
            "--conns",
            "1",
            "--seconds",
            "0.2",
        ])
        .env("CLAWDBOT_GATEWAY_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a loopback address"));
}

#[test]
fn paced_latency_mode_sends_at_the_given_rate() {
    let addr = start_server();
    let (code, out, err) = ws_load(
        addr,
        TOKEN,
        &[
            "latency",
            "--conns",
            "4",
            "--seconds",
            "0.5",
            "--rate",
            "20",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let run = &out["runs"][0];
    assert_eq!(run["rate_per_connection"], 20.0);
    // 4 connections × 20/s × 0.5 s = 40 requests (± scheduling at the edges).
    let ok = run["requests_ok"].as_u64().unwrap();
    assert!((36..=44).contains(&ok), "{ok} requests");
}

#[test]
fn churn_mode_reports_the_real_clients_success_rate() {
    let addr = start_server();
    let (code, out, err) = ws_load(
        addr,
        TOKEN,
        &[
            "--sources",
            "2",
            "churn",
            "--sockets",
            "20",
            "--seconds",
            "1",
            "--probe-interval-ms",
            "100",
        ],
    );
    assert_eq!(code, 0, "{err}");
    // This server never closes an unauthenticated socket: all 20 stay upgraded, and the
    // real client (its own source address) still gets in every time.
    assert_eq!(out["attackers_held_at_start"], 20, "{out}");
    let attempts = out["probe_attempts"].as_u64().unwrap();
    assert!(attempts >= 5, "{out}");
    assert_eq!(out["probe_ok"], attempts, "{out}");
    assert_eq!(out["probe_success_rate"], 1.0, "{out}");
    assert_eq!(out["first_error"], Value::Null, "{out}");
}
