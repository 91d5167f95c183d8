//! `clawdbot egress-proxy` over real loopback sockets: allowed CONNECT tunnels bytes both
//! ways, refused destinations get 403 and a warn line, other methods 405, the tunnel
//! limit 503, an unreachable upstream 502, a port forward relays a WebSocket session to a
//! real `clawdbot serve`, and the live provider's HTTPS client goes through HTTPS_PROXY.
//! Hostile clients (idle sockets, slow heads, log floods): `tests/egress_hostile.rs`.

#[path = "egress_support/mod.rs"]
mod egress;
#[path = "gateway_support/mod.rs"]
mod support;

use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use egress::*;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[tokio::test]
async fn allowed_connect_tunnels_bytes_both_ways() {
    let (echo, accepted) = upper_echo().await;
    let target = echo.to_string();
    let proxy = Proxy::start(&["--allow", &target]);
    // Bytes sent right behind the CONNECT head (before the 200) must not be lost.
    let head = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\nearly");
    let (code, text, mut s) = request(proxy.addr, &head).await;
    assert_eq!(code, 200, "{text}");
    assert_eq!(read_exact_within(&mut s, 5).await, b"EARLY");
    s.write_all(b"hello through the tunnel").await.unwrap();
    assert_eq!(
        read_exact_within(&mut s, 24).await,
        b"HELLO THROUGH THE TUNNEL"
    );
    // A large transfer in both directions.
    let payload: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let (mut r, mut w) = s.into_split();
    let sent = payload.clone();
    let writer = tokio::spawn(async move { w.write_all(&sent).await.unwrap() });
    let mut back = vec![0u8; payload.len()];
    tokio::time::timeout(Duration::from_secs(10), r.read_exact(&mut back))
        .await
        .expect("bulk read timeout")
        .unwrap();
    writer.await.unwrap();
    assert_eq!(back, payload.to_ascii_uppercase());
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    proxy.wait_for_log("tunnel opened");
}

#[tokio::test]
async fn refused_destination_gets_403_and_a_warn_line() {
    let (echo, accepted) = upper_echo().await;
    let proxy = Proxy::start(&["--allow", "api.anthropic.com:443"]);
    let (code, text, _s) = connect(proxy.addr, &echo.to_string()).await;
    assert_eq!(code, 403, "{text}");
    let line = proxy.wait_for_log("egress refused");
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains(&format!("destination={echo}")), "{line}");
    // Same host, other port: refused too (exact HOST:PORT match).
    let (code, _, _) = connect(proxy.addr, "api.anthropic.com:80").await;
    assert_eq!(code, 403);
    // A malformed target is a 400, never dialled.
    let (code, _, _) = connect(proxy.addr, "no-port-here").await;
    assert_eq!(code, 400);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        0,
        "a refused destination was dialled"
    );
}

#[tokio::test]
async fn default_allowlist_is_the_provider_hosts() {
    let proxy = Proxy::start(&[]);
    let line = proxy.wait_for_log("clawdbot egress proxy listening");
    assert!(
        line.contains("allow=api.anthropic.com:443,api.openai.com:443"),
        "{line}"
    );
    let (code, _, _) = connect(proxy.addr, "example.org:443").await;
    assert_eq!(code, 403);
}

#[tokio::test]
async fn allowlist_from_the_environment_and_bad_entries_refuse_to_start() {
    let (echo, _) = upper_echo().await;
    let list = format!("example.org:443, {echo}");
    let proxy = Proxy::start_with_env(&[], &[("CLAWDBOT_EGRESS_ALLOW", &list)]);
    let line = proxy.wait_for_log("clawdbot egress proxy listening");
    assert!(
        line.contains(&format!("allow=example.org:443,{echo}")),
        "{line}"
    );
    let (code, _, _) = connect(proxy.addr, &echo.to_string()).await;
    assert_eq!(code, 200);
    let (code, _, _) = connect(proxy.addr, "api.anthropic.com:443").await;
    assert_eq!(code, 403, "an explicit list replaces the defaults");

    let out = Command::new(env!("CARGO_BIN_EXE_clawdbot"))
        .args(["egress-proxy", "--port", "0", "--allow", "no-port"])
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: ") && err.contains("HOST:PORT"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
}

#[tokio::test]
async fn other_methods_get_405_and_health_answers() {
    let proxy = Proxy::start(&[]);
    for head in [
        "GET http://api.anthropic.com/ HTTP/1.1\r\nHost: api.anthropic.com\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        "DELETE /x HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        let (code, text, _) = request(proxy.addr, head).await;
        assert_eq!(code, 405, "{head:?} -> {text}");
        assert!(text.contains("Allow: CONNECT"), "{text}");
    }
    let (code, _, _) = request(proxy.addr, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(code, 200);
    // `clawdbot healthcheck` works against the proxy port (the egress service's HEALTHCHECK).
    let out = Command::new(env!("CARGO_BIN_EXE_clawdbot"))
        .args(["healthcheck", "--port", &proxy.addr.port().to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

#[tokio::test]
async fn tunnel_limit_answers_503_until_a_tunnel_closes() {
    let (echo, _) = upper_echo().await;
    let target = echo.to_string();
    let proxy = Proxy::start(&["--allow", &target, "--max-tunnels", "2"]);
    let (c1, _, t1) = connect(proxy.addr, &target).await;
    let (c2, _, _t2) = connect(proxy.addr, &target).await;
    assert_eq!((c1, c2), (200, 200));
    let (c3, text, _) = connect(proxy.addr, &target).await;
    assert_eq!(c3, 503, "{text}");
    // The gauges follow the replies (a client may read its 200 first): wait for them.
    let refused = "clawdbot_egress_refused_total{reason=\"tunnel_limit\"}";
    egress::wait_metric(proxy.addr, refused, |v| v == 1).await;
    let m = egress::wait_metric(proxy.addr, "clawdbot_egress_tunnels_open", |v| v == 2).await;
    assert_eq!(value(&m, refused), 1);
    drop(t1);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (code, _, _s) = connect(proxy.addr, &target).await;
        if code == 200 {
            break;
        }
        assert_eq!(code, 503);
        assert!(Instant::now() < deadline, "the tunnel slot was never freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn unreachable_upstream_gets_502() {
    // A port that was free a moment ago: nothing listens there.
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let proxy = Proxy::start(&["--allow", &closed.to_string()]);
    let (code, text, _) = connect(proxy.addr, &closed.to_string()).await;
    assert_eq!(code, 502, "{text}");
    proxy.wait_for_log("egress upstream unreachable");
}

#[tokio::test]
async fn idle_tunnels_are_closed() {
    let (echo, _) = upper_echo().await;
    let target = echo.to_string();
    let proxy = Proxy::start(&["--allow", &target, "--idle-timeout-ms", "300"]);
    let (code, _, mut s) = connect(proxy.addr, &target).await;
    assert_eq!(code, 200);
    let mut b = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut b))
        .await
        .expect("idle tunnel was not closed")
        .unwrap_or(0);
    assert_eq!(n, 0);
    let line = proxy.wait_for_log("tunnel closed");
    assert!(line.contains("idle_timeout=true"), "{line}");
}

#[tokio::test]
async fn port_forward_relays_a_websocket_session_to_clawdbot_serve() {
    let server = Server::start(&[]);
    let proxy = Proxy::start(&[
        "--forward",
        &format!("0={}", server.gateway),
        "--forward",
        &format!("0={}", server.health),
    ]);
    assert_eq!(proxy.forwards.len(), 2, "{}", proxy.logs());
    let url = format!("ws://{}", proxy.forwards[0]);
    let mut ws = connected_writer(&url).await;
    let res = call(&mut ws, "1", "health", None).await;
    assert_eq!(res["ok"], true, "{res}");
    let (chat, _, end) = chat_send(&mut ws, "2", "main", "via forward").await;
    assert_eq!(chat["ok"], true, "{chat}");
    assert_eq!(end["state"], "final", "{end}");
    // A wrong token is still refused by the gateway behind the forward.
    let mut bad = open(&url).await;
    let res = handshake(&mut bad, 3, 4, Some("wrong-token-wrong-token-wrong")).await;
    assert_eq!(res["ok"], false);
    // The health port's /metrics through the second forward.
    let (code, body) = http_get(proxy.forwards[1], "/metrics").await;
    assert_eq!(code, 200);
    assert!(body.contains("clawdbot_handshakes_total{result=\"auth_mismatch\"} 1"));
}

/// The live provider's reqwest client honours HTTPS_PROXY: a chat with a real-looking
/// key is sent as a CONNECT to api.anthropic.com:443 through the proxy, which refuses
/// it (no network needed), and the run ends with a `chat` error event.
#[tokio::test]
async fn live_provider_goes_through_https_proxy() {
    let proxy = Proxy::start(&["--allow", "example.invalid:443"]);
    let mut env = env_with_token();
    env.push((
        "ANTHROPIC_API_KEY".into(),
        "sk-ant-api03-TESTONLYkey0123456789abcdef".into(),
    ));
    env.push(("HTTPS_PROXY".into(), format!("http://{}", proxy.addr)));
    let server = Server::start_with_env(&[], &env);
    let mut ws = connected_writer(&server.url()).await;
    let (res, _, end) = chat_send(&mut ws, "1", "main", "hi").await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(end["state"], "error", "{end}");
    assert!(!end["errorMessage"]
        .as_str()
        .unwrap_or_default()
        .contains("TESTONLY"));
    let line = proxy.wait_for_log("egress refused");
    assert!(line.contains("destination=api.anthropic.com:443"), "{line}");
    assert!(
        !proxy.logs().contains("TESTONLY"),
        "the key reached the proxy log"
    );
}
