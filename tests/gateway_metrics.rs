//! `/metrics` over real loopback sockets: served on the health port only, Prometheus text
//! format 0.0.4, counters move with real traffic, bounded labels, no secret in any label.

#[path = "gateway_support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::SinkExt;
use serde_json::json;
use support::*;
use tokio_tungstenite::tungstenite::Message;

/// GET /metrics; returns (status, content-type, body).
async fn scrape_raw(addr: SocketAddr) -> (u16, String, String) {
    let (code, head, body) = http_get_full(addr, "/metrics").await;
    (code, header_value(&head, "content-type"), body)
}

/// Parses the exposition text into `series -> value`, checking its shape on the way:
/// every family has HELP and TYPE before its samples, every sample line is `series value`.
fn parse(text: &str) -> HashMap<String, f64> {
    let mut out = HashMap::new();
    let mut typed = std::collections::HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split_whitespace();
            let name = it.next().expect("TYPE name");
            let kind = it.next().expect("TYPE kind");
            assert!(
                ["counter", "gauge", "histogram"].contains(&kind),
                "bad TYPE: {line}"
            );
            typed.insert(name.to_string());
            continue;
        }
        if line.starts_with("# HELP ") || line.is_empty() {
            continue;
        }
        assert!(!line.starts_with('#'), "unexpected comment: {line}");
        let (series, value) = line.rsplit_once(' ').expect("`series value`");
        let name = series.split('{').next().unwrap();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| typed.contains(*f)))
            .unwrap_or(name);
        assert!(typed.contains(family), "sample before its TYPE: {line}");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name: {line}"
        );
        let v: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value: {line}"));
        out.insert(series.to_string(), v);
    }
    out
}

fn value(m: &HashMap<String, f64>, series: &str) -> f64 {
    *m.get(series)
        .unwrap_or_else(|| panic!("series {series} missing; have {:?}", m.keys()))
}

async fn scrape(server: &Server) -> (String, HashMap<String, f64>) {
    let (code, ctype, body) = scrape_raw(server.health).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(ctype, "text/plain; version=0.0.4; charset=utf-8");
    let parsed = parse(&body);
    (body, parsed)
}

#[tokio::test]
async fn metrics_only_on_the_health_port() {
    let server = Server::in_process(&[]);
    let (code, _, _) = scrape_raw(server.health).await;
    assert_eq!(code, 200);
    let (code, _, _) = scrape_raw(server.gateway).await;
    assert_eq!(code, 404, "the gateway port must not serve /metrics");
}

#[tokio::test]
async fn counters_follow_real_traffic() {
    let server = Server::in_process(&["--rate-limit", "1", "--rate-burst", "2"]);
    let (_, before) = scrape(&server).await;
    assert_eq!(value(&before, "clawdbot_connections_open"), 0.0);
    assert_eq!(
        value(&before, "clawdbot_handshakes_total{result=\"ok\"}"),
        0.0
    );

    // One good connection that stays open, a health request, a chat (demo provider),
    // an unknown method, then a rate-limited request.
    let mut ws = connected(&server.url()).await;
    assert_eq!(call(&mut ws, "1", "health", None).await["ok"], true);
    let mut other = connected_writer(&server.url()).await;
    let (chat, _, end) = chat_send(&mut other, "c", "main", "hi").await;
    assert_eq!(chat["ok"], true, "{chat}");
    assert_eq!(end["state"], "final", "{end}");
    let unknown = call(&mut other, "u", "no.such.method-12345", None).await;
    assert_eq!(unknown["ok"], false);
    assert_eq!(call(&mut ws, "2", "status", None).await["ok"], true);
    let limited = call(&mut ws, "3", "status", None).await;
    assert_eq!(limited["ok"], false);
    assert_eq!(limited["error"]["code"], "UNAVAILABLE", "{limited}");

    // Protocol mismatch, a missing token, a non-connect first request.
    let mut ws3 = open(&server.url()).await;
    let res = handshake(&mut ws3, 1, 2, Some(TOKEN)).await;
    assert_eq!(res["ok"], false);
    let mut ws4 = open(&server.url()).await;
    let res = handshake(&mut ws4, 3, 4, None).await;
    assert_eq!(res["ok"], false);
    let mut ws5 = open(&server.url()).await;
    let _challenge = recv_json(&mut ws5).await;
    send_json(&mut ws5, &json!({"type":"req","id":"x","method":"health"})).await;
    let _ = expect_close(&mut ws5, Duration::from_secs(5)).await;
    // A binary frame after the handshake.
    let mut ws6 = connected(&server.url()).await;
    ws6.send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    let (code, _) = expect_close(&mut ws6, Duration::from_secs(5)).await;
    assert_eq!(code, 1008);

    drop((ws3, ws4, ws5, ws6));
    wait_open(&server, 2.0).await;
    let (_, m) = scrape(&server).await;
    assert_eq!(value(&m, "clawdbot_handshakes_total{result=\"ok\"}"), 3.0);
    assert_eq!(
        value(
            &m,
            "clawdbot_handshakes_total{result=\"protocol_mismatch\"}"
        ),
        1.0
    );
    assert_eq!(
        value(&m, "clawdbot_handshakes_total{result=\"auth_missing\"}"),
        1.0
    );
    assert_eq!(
        value(&m, "clawdbot_handshakes_total{result=\"invalid\"}"),
        1.0
    );
    assert_eq!(value(&m, "clawdbot_auth_failures_total"), 1.0);
    assert_eq!(
        value(
            &m,
            "clawdbot_requests_total{method=\"health\",result=\"ok\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &m,
            "clawdbot_requests_total{method=\"chat.send\",result=\"ok\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &m,
            "clawdbot_requests_total{method=\"unknown\",result=\"error\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &m,
            "clawdbot_requests_total{method=\"status\",result=\"rate_limited\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &m,
            "clawdbot_requests_total{method=\"status\",result=\"ok\"}"
        ),
        1.0
    );
    assert_eq!(value(&m, "clawdbot_rate_limited_total"), 1.0);
    assert_eq!(
        value(&m, "clawdbot_frames_rejected_total{reason=\"binary\"}"),
        1.0
    );
    assert_eq!(
        value(
            &m,
            "clawdbot_provider_latency_seconds_count{provider=\"demo\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &m,
            "clawdbot_provider_latency_seconds_bucket{provider=\"demo\",le=\"+Inf\"}"
        ),
        1.0
    );
    // No client-chosen string became a label value.
    assert!(m.keys().all(|k| !k.contains("no.such.method")));

    drop(ws);
    drop(other);
    wait_open(&server, 0.0).await;
}

/// Polls until `clawdbot_connections_open` equals `want` (closing takes a moment).
async fn wait_open(server: &Server, want: f64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (_, m) = scrape(server).await;
        let open = value(&m, "clawdbot_connections_open");
        if open == want {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "connections_open stayed at {open}, expected {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn oversize_frames_and_handshake_timeouts_are_counted() {
    let server = Server::in_process(&["--max-payload", "65536", "--handshake-timeout-ms", "300"]);
    let mut ws = connected(&server.url()).await;
    assert_eq!(close_code_of_oversized_chat(&mut ws).await, 1009);
    let mut idle = open(&server.url()).await;
    let _challenge = recv_json(&mut idle).await;
    let (code, _) = expect_close(&mut idle, Duration::from_secs(5)).await;
    assert_eq!(code, 1008);
    let (_, m) = scrape(&server).await;
    assert_eq!(
        value(&m, "clawdbot_frames_rejected_total{reason=\"oversize\"}"),
        1.0
    );
    assert_eq!(
        value(&m, "clawdbot_handshakes_total{result=\"timeout\"}"),
        1.0
    );
}

#[tokio::test]
async fn no_token_in_any_label_after_auth_failures() {
    let server = Server::in_process(&["--auth-failures", "2"]);
    let wrong = "wrong-token-SHOULD-NEVER-APPEAR-0123456789";
    // 2 per client id, 5 x 2 = 10 per address.
    for i in 0..10 {
        let mut ws = open(&server.url()).await;
        let _challenge = recv_json(&mut ws).await;
        send_json(&mut ws, &connect_frame_as(&format!("c{i}"), Some(wrong))).await;
        let res = recv_json(&mut ws).await;
        assert_eq!(res["ok"], false);
    }
    // The address's budget is spent: the next upgrade is refused with 429.
    let refused = tokio_tungstenite::connect_async(server.url()).await;
    assert!(refused.is_err(), "upgrade should be refused");
    let (body, m) = scrape(&server).await;
    assert!(!body.contains(wrong), "wrong token leaked into /metrics");
    assert!(!body.contains(TOKEN), "server token leaked into /metrics");
    assert!(!body.contains("SHOULD-NEVER"), "part of the token leaked");
    assert_eq!(
        value(&m, "clawdbot_handshakes_total{result=\"auth_mismatch\"}"),
        10.0
    );
    assert_eq!(value(&m, "clawdbot_auth_failures_total"), 10.0);
    assert_eq!(
        value(
            &m,
            "clawdbot_upgrades_refused_total{reason=\"auth_blocked\"}"
        ),
        1.0
    );
}
