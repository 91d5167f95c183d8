//! Limits over real loopback sockets: frame size, request rate, failed-auth rate per
//! peer, handshake and idle timeouts, connection cap, slow readers.

#[path = "gateway_support/mod.rs"]
mod support;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use support::*;
use tokio_tungstenite::tungstenite::{self, Message};

#[tokio::test]
async fn oversized_frames_are_closed_with_1009() {
    let server = Server::in_process(&["--max-payload", "65536"]);
    // After the handshake: larger than maxPayload.
    let mut ws = connected(&server.url()).await;
    assert_eq!(close_code_of_oversized_chat(&mut ws).await, 1009);

    // Before the handshake: larger than the 64 KiB pre-auth limit (but below maxPayload).
    let server = Server::in_process(&["--max-payload", "262144"]);
    let mut ws = open(&server.url()).await;
    let _challenge = recv_json(&mut ws).await;
    let mut connect = connect_frame(3, 4, Some(TOKEN));
    connect["params"]["userAgent"] = json!("y".repeat(70_000));
    send_json(&mut ws, &connect).await;
    let (code, _) = expect_close(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(code, 1009);
    // The server still serves others.
    let mut ws = connected(&server.url()).await;
    assert_eq!(call(&mut ws, "h", "health", None).await["ok"], true);
}

#[tokio::test]
async fn request_rate_is_limited_per_connection() {
    let server = Server::in_process(&["--rate-limit", "5", "--rate-burst", "5"]);
    let mut ws = connected(&server.url()).await;
    for i in 0..30 {
        send_json(
            &mut ws,
            &json!({"type": "req", "id": format!("r{i}"), "method": "health"}),
        )
        .await;
    }
    let (mut ok, mut limited) = (0, 0);
    for _ in 0..30 {
        let res = recv_res(&mut ws).await;
        if res["ok"] == true {
            ok += 1;
        } else {
            assert_eq!(res["error"]["code"], "UNAVAILABLE", "{res}");
            assert!(res["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("rate limit exceeded"));
            assert_eq!(res["error"]["retryable"], true);
            assert!(res["error"]["retryAfterMs"].as_u64().unwrap() > 0);
            limited += 1;
        }
    }
    assert!((5..=12).contains(&ok), "ok={ok}");
    assert!(limited >= 18, "limited={limited}");
    // Tokens refill at the sustained rate.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(call(&mut ws, "later", "health", None).await["ok"], true);
    // A second connection has its own budget.
    let mut other = connected(&server.url()).await;
    assert_eq!(call(&mut other, "o", "health", None).await["ok"], true);
}

/// Opens a WebSocket from a chosen loopback source address.
async fn open_from(src: &str, server: &Server) -> Result<RawWs, tungstenite::Error> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{src}:0").parse().unwrap()).unwrap();
    let stream = socket.connect(server.gateway).await.unwrap();
    tokio_tungstenite::client_async(server.url(), stream)
        .await
        .map(|(ws, _)| ws)
}

/// Reads the challenge, sends `connect` as `client_id`, returns the response.
async fn connect_as(ws: &mut RawWs, client_id: &str, token: &str) -> serde_json::Value {
    let challenge = recv_json(ws).await;
    assert_eq!(challenge["event"], "connect.challenge");
    send_json(ws, &connect_frame_as(client_id, Some(token))).await;
    recv_res(ws).await
}

const WRONG: &str = "wrong-token-0123456789abcdef";

#[tokio::test]
async fn failed_auth_is_limited_per_peer_ip() {
    // Budget 3 per (address, client id), 3 x 5 = 15 per address.
    let server = Server::in_process(&["--auth-failures", "3", "--auth-failure-window-secs", "60"]);
    for _ in 0..3 {
        let mut ws = open_from("127.0.0.1", &server).await.unwrap();
        let res = connect_as(&mut ws, "cli", WRONG).await;
        assert_eq!(res["ok"], false);
        let msg = res["error"]["message"].as_str().unwrap();
        assert!(
            msg.starts_with("unauthorized: gateway token mismatch"),
            "{res}"
        );
        assert_eq!(expect_close(&mut ws, Duration::from_secs(5)).await.0, 1008);
    }
    // This client id from this address is now refused, even with the right token...
    let mut ws = open_from("127.0.0.1", &server).await.unwrap();
    let res = connect_as(&mut ws, "cli", TOKEN).await;
    assert_eq!(res["ok"], false, "{res}");
    let msg = res["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("too many failed authentication attempts"),
        "{res}"
    );
    assert!(res["error"]["retryAfterMs"].as_u64().unwrap() > 0, "{res}");
    assert_eq!(expect_close(&mut ws, Duration::from_secs(5)).await.0, 1008);
    // ...while another client behind the same address, and the same client id from
    // another address, still get in.
    let mut ws = open_from("127.0.0.1", &server).await.unwrap();
    assert_eq!(connect_as(&mut ws, "tui", TOKEN).await["ok"], true);
    let mut ws = open_from("127.0.0.2", &server).await.unwrap();
    assert_eq!(connect_as(&mut ws, "cli", TOKEN).await["ok"], true);
    // Rotating client ids does not escape the per-address budget (15 failures).
    for i in 0..12 {
        let mut ws = open_from("127.0.0.1", &server).await.unwrap();
        let res = connect_as(&mut ws, &format!("rotating-{i}"), WRONG).await;
        assert_eq!(res["ok"], false, "{res}");
    }
    match open_from("127.0.0.1", &server).await {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status().as_u16(), 429),
        Err(e) => panic!("expected HTTP 429, got {e}"),
        Ok(_) => panic!("a blocked address was upgraded"),
    }
    let mut ws = open_from("127.0.0.2", &server).await.unwrap();
    assert_eq!(connect_as(&mut ws, "cli", TOKEN).await["ok"], true);
    // The counters say the same (no log text involved).
    let mismatch = r#"clawdbot_handshakes_total{result="auth_mismatch"}"#;
    assert_eq!(metric(&server, mismatch).await, 15);
    let blocked = r#"clawdbot_handshakes_total{result="auth_blocked"}"#;
    assert_eq!(metric(&server, blocked).await, 1);
    let refused = r#"clawdbot_upgrades_refused_total{reason="auth_blocked"}"#;
    assert_eq!(metric(&server, refused).await, 1);
    assert_eq!(metric(&server, "clawdbot_auth_failures_total").await, 15);
}

#[tokio::test]
async fn handshake_timeout_closes_silent_clients() {
    let server = Server::in_process(&["--handshake-timeout-ms", "300"]);
    let mut ws = open(&server.url()).await;
    let _challenge = recv_json(&mut ws).await;
    let started = std::time::Instant::now();
    let (code, reason) = expect_close(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(code, 1008);
    assert_eq!(reason, "handshake timeout");
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn idle_timeout_closes_quiet_connections() {
    let server = Server::in_process(&["--idle-timeout-ms", "3000"]);
    let mut ws = connected(&server.url()).await;
    // Activity keeps it open past the timeout...
    for i in 0..6 {
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(
            call(&mut ws, &format!("k{i}"), "health", None).await["ok"],
            true
        );
    }
    // ...silence closes it.
    let started = std::time::Instant::now();
    let (code, reason) = expect_close(&mut ws, Duration::from_secs(5)).await;
    assert_eq!((code, reason.as_str()), (1000, "idle timeout"));
    assert!(started.elapsed() >= Duration::from_millis(2500));
}

#[tokio::test]
async fn connection_cap_refuses_extra_upgrades() {
    let server = Server::in_process(&["--max-connections", "2"]);
    let _a = connected(&server.url()).await;
    let _b = connected(&server.url()).await;
    match tokio_tungstenite::connect_async(server.url()).await {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status().as_u16(), 503),
        Err(e) => panic!("expected HTTP 503, got {e}"),
        Ok(_) => panic!("a third connection was accepted"),
    }
    drop(_a);
    // The slot is released once the server notices the close.
    let mut ok = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if let Ok((mut ws, _)) = tokio_tungstenite::connect_async(server.url()).await {
            ok = handshake(&mut ws, 3, 4, Some(TOKEN)).await["ok"] == true;
            break;
        }
    }
    assert!(ok, "slot not released after a client left");
}

#[tokio::test]
async fn slow_reader_is_disconnected_and_memory_stays_bounded() {
    let server = Server::start(&[
        "--send-queue",
        "16",
        "--send-timeout-ms",
        "500",
        "--max-buffered-bytes",
        "1048576",
        "--rate-limit",
        "1000000",
        "--rate-burst",
        "1000000",
    ]);
    let rss_before = server.rss_kib();
    // A client with a tiny receive buffer that never reads.
    let ws = connected_slow_reader(&server).await;
    let (mut sink, mut stream) = ws.split();
    // ~30 MB of responses requested; far more than the kernel buffers plus the queue.
    let mut sent = 0;
    for i in 0..50_000 {
        let req = json!({"type": "req", "id": format!("s{i}"), "method": "health"});
        if sink
            .send(Message::Text(req.to_string().into()))
            .await
            .is_err()
        {
            break;
        }
        sent += 1;
    }
    // Still without reading: the server must cut us off as a slow consumer.
    let slow = r#"clawdbot_disconnects_total{reason="slow_consumer"}"#;
    assert_eq!(
        wait_metric(&server, slow, Duration::from_secs(20), |v| v >= 1).await,
        1
    );
    // Reading now ends after what the kernel had buffered.
    let drained = tokio::time::timeout(Duration::from_secs(20), async {
        let mut frames = 0usize;
        while let Some(Ok(_)) = stream.next().await {
            frames += 1;
        }
        frames
    })
    .await
    .expect("the slow connection was not closed");
    eprintln!("slow reader: sent {sent} requests, received {drained} responses before the cut");
    assert!(
        drained < sent,
        "every response was delivered: not a slow reader"
    );
    let rss_after = server.rss_kib();
    assert!(
        rss_after < rss_before + 64 * 1024,
        "server memory grew from {rss_before} KiB to {rss_after} KiB"
    );
    eprintln!("server RSS: {rss_before} KiB before, {rss_after} KiB after");
    // The server is still healthy and the slot was released.
    let (code, body) = http_get(server.gateway, "/ready").await;
    assert_eq!(code, 200);
    assert!(body.contains("\"connections\":0"), "{body}");
}

#[tokio::test]
async fn pipelined_requests_get_backpressure_not_a_disconnect() {
    // A small queue, and a client that sends a burst far larger than it before reading.
    let server = Server::in_process(&[
        "--send-queue",
        "4",
        "--max-buffered-bytes",
        "1048576",
        "--rate-limit",
        "100000",
        "--rate-burst",
        "100000",
    ]);
    let mut ws = connected(&server.url()).await;
    for i in 0..500 {
        send_json(
            &mut ws,
            &json!({"type": "req", "id": format!("p{i}"), "method": "health"}),
        )
        .await;
    }
    for i in 0..500 {
        let res = recv_res(&mut ws).await;
        assert_eq!(res["id"], format!("p{i}"));
        assert_eq!(res["ok"], true);
    }
    let slow = r#"clawdbot_disconnects_total{reason="slow_consumer"}"#;
    assert_eq!(metric(&server, slow).await, 0);
}

#[tokio::test]
async fn tiny_limits_still_serve_small_frames() {
    let server = Server::in_process(&[
        "--max-payload",
        "2048",
        "--max-buffered-bytes",
        "2048",
        "--max-preauth-payload",
        "2048",
        "--send-queue",
        "1",
    ]);
    let mut ws = connected(&server.url()).await;
    for i in 0..5 {
        assert_eq!(
            call(&mut ws, &format!("t{i}"), "health", None).await["ok"],
            true
        );
    }
}
