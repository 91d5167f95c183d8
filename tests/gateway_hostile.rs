//! Hostile clients over real loopback sockets (issue 13): pre-auth frames refused by
//! their header with bounded memory, the pending-connection budget under churn, browser
//! origins, HTTP head deadlines and slots under a tight open-files limit, the global
//! outbound budget, and shutdown. Counts are bounded; assertions use responses,
//! `/metrics` and `/proc/<pid>/status`, never log text or timing.

#[path = "gateway_support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clawdbot_testkit::ws_frame::{self, LenForm};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};

/// A masked client frame header announcing `len` payload bytes of a text frame.
fn text_header(len: u64) -> Vec<u8> {
    ws_frame::client_header(
        true,
        ws_frame::TEXT,
        len,
        LenForm::Shortest,
        [0x11, 0x22, 0x33, 0x44],
    )
}

/// Opens a WebSocket from a chosen loopback source address.
async fn open_from(src: &str, server: &Server) -> Result<RawWs, tungstenite::Error> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(format!("{src}:0").parse().expect("address"))?;
    let stream = socket.connect(server.gateway).await?;
    tokio_tungstenite::client_async(server.url(), stream)
        .await
        .map(|(ws, _)| ws)
}

/// Reads frames until the close frame; its code, or None when the socket ended without one.
async fn close_code(ws: &mut RawWs, within: Duration) -> Option<u16> {
    let read = async {
        while let Some(msg) = ws.next().await {
            match msg {
                Ok(Message::Close(Some(f))) => return Some(u16::from(f.code)),
                Ok(Message::Close(None)) => return Some(1005),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
        None
    };
    tokio::time::timeout(within, read).await.ok().flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preauth_frames_are_refused_by_their_header_and_memory_stays_bounded() {
    const N: usize = 150;
    const PREAUTH_KIB: u64 = 64;
    // Codec buffers, the connection task and its send queue (a debug build).
    const OVERHEAD_KIB: u64 = 32;
    raise_own_fd_limit();
    let server = Server::start(&[
        "--max-payload",
        "4194304",
        "--max-buffered-bytes",
        "4194304",
        "--max-unauth-connections",
        "1024",
        "--max-unauth-per-ip",
        "1024",
        "--handshake-timeout-ms",
        "60000",
    ]);
    // Warm up the runtime and allocator with one full connection.
    let mut ws = connected(&server.url()).await;
    assert_eq!(call(&mut ws, "w", "health", None).await["ok"], true);
    drop(ws);
    let base = server.rss_kib();

    // N sockets announce a 1 MiB frame (4 MiB allowed after auth), send 256 KiB of
    // it and stall: each is refused at the header with 1009.
    let chunk = Arc::new(vec![b'x'; 256 * 1024]);
    let mut tasks = Vec::new();
    for _ in 0..N {
        let (url, chunk) = (server.url(), chunk.clone());
        tasks.push(tokio::spawn(async move {
            let mut ws = open(&url).await;
            let _challenge = recv_json(&mut ws).await;
            let raw = match ws.get_mut() {
                tokio_tungstenite::MaybeTlsStream::Plain(s) => s,
                _ => unreachable!("plain ws"),
            };
            let _ = raw.write_all(&text_header(1 << 20)).await;
            let _ = tokio::time::timeout(Duration::from_secs(5), raw.write_all(&chunk)).await;
            let mut buf = Vec::new();
            // The server's close frame (1009) is the first thing after the challenge.
            let _ = tokio::time::timeout(Duration::from_secs(10), raw.read_to_end(&mut buf)).await;
            buf
        }));
    }
    for t in tasks {
        let buf = t.await.expect("task");
        // A close frame: 0x88, length, then the code 1009 (0x03f1).
        assert!(
            buf.len() >= 4 && buf[0] == 0x88 && buf[2..4] == [0x03, 0xf1],
            "expected a 1009 close frame, got {:?}",
            &buf[..buf.len().min(16)]
        );
    }
    let oversize = r#"clawdbot_frames_rejected_total{reason="oversize"}"#;
    assert_eq!(metric(&server, oversize).await, N as u64);

    // N sockets send 60 KiB of a 63 KiB frame (under the pre-auth limit) and stall:
    // buffered, and bounded by the pre-auth limit.
    let part = Arc::new(vec![b'y'; 60 * 1024]);
    let mut held = Vec::new();
    for _ in 0..N {
        let mut ws = open(&server.url()).await;
        let _challenge = recv_json(&mut ws).await;
        let raw = match ws.get_mut() {
            tokio_tungstenite::MaybeTlsStream::Plain(s) => s,
            _ => unreachable!("plain ws"),
        };
        raw.write_all(&text_header(63 * 1024)).await.unwrap();
        raw.write_all(&part).await.unwrap();
        held.push(ws);
    }
    let pending = "clawdbot_connections_pending";
    let n = wait_metric(&server, pending, Duration::from_secs(10), |v| v == N as u64).await;
    assert_eq!(n, N as u64);
    // The peak resident size covers both phases, whenever the server read the bytes.
    let peak = server.peak_rss_kib();
    let bound = N as u64 * (PREAUTH_KIB + OVERHEAD_KIB);
    eprintln!(
        "pre-auth stall: base {base} KiB, peak {peak} KiB, growth {} KiB for {N} sockets (bound {bound} KiB)",
        peak.saturating_sub(base)
    );
    assert!(
        peak.saturating_sub(base) <= bound,
        "{N} unauthenticated sockets grew the server by {} KiB (bound {bound} KiB)",
        peak - base
    );
    drop(held);
}

/// Opens from `src` and completes a handshake; false on any refusal or close.
async fn try_connect(src: &str, server: &Server) -> bool {
    let attempt = async {
        let mut ws = open_from(src, server).await.ok()?;
        loop {
            let msg = ws.next().await?.ok()?;
            let Message::Text(t) = msg else { continue };
            let v: serde_json::Value = serde_json::from_str(t.as_str()).ok()?;
            if v["event"] == "connect.challenge" {
                let frame = connect_frame(3, 4, Some(TOKEN));
                ws.send(Message::Text(frame.to_string().into()))
                    .await
                    .ok()?;
            } else if v["type"] == "res" {
                return Some(v["ok"] == true);
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), attempt)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_client_connects_while_unauthenticated_sockets_churn() {
    const ATTACKERS: usize = 300;
    const ATTEMPTS: usize = 10;
    raise_own_fd_limit();
    // Fewer authenticated slots than attackers: pending sockets must not take them.
    let server = Arc::new(Server::start(&[
        "--max-connections",
        "100",
        "--max-unauth-connections",
        "64",
        "--handshake-timeout-ms",
        "3000",
    ]));
    let stop = Arc::new(AtomicBool::new(false));
    let mut attackers = Vec::new();
    for i in 0..ATTACKERS {
        let (server, stop) = (server.clone(), stop.clone());
        attackers.push(tokio::spawn(async move {
            let src = format!("127.0.0.{}", 2 + i % 10);
            while !stop.load(Ordering::Relaxed) {
                match open_from(&src, &server).await {
                    // Hold it silently until the server closes it, then reconnect.
                    Ok(mut ws) => {
                        let _ = close_code(&mut ws, Duration::from_secs(10)).await;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
        }));
    }
    let pending = "clawdbot_connections_pending";
    let full = wait_metric(&server, pending, Duration::from_secs(20), |v| v >= 64).await;
    assert_eq!(full, 64, "the pending budget did not fill");
    let evicted = r#"clawdbot_handshakes_total{result="evicted"}"#;
    wait_metric(&server, evicted, Duration::from_secs(20), |v| v >= 100).await;
    let t0 = std::time::Instant::now();
    let mut ok = 0;
    for _ in 0..ATTEMPTS {
        if try_connect("127.0.0.1", &server).await {
            ok += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let churned = metric(&server, evicted).await;
    let open = metric(&server, pending).await;
    for a in attackers {
        a.abort();
    }
    eprintln!(
        "churn: real client {ok}/{ATTEMPTS} in {:?}, {churned} pending connections evicted",
        t0.elapsed()
    );
    assert!(churned >= 100, "no churn: {churned} evictions");
    assert!(open <= 64, "pending connections above the budget: {open}");
    assert!(
        ok * 10 >= ATTEMPTS * 9,
        "real client connected {ok} of {ATTEMPTS} times"
    );
}

/// Upgrade request with an `Origin` header.
async fn open_with_origin(server: &Server, origin: &str) -> Result<RawWs, tungstenite::Error> {
    let mut req = server.url().into_client_request()?;
    req.headers_mut()
        .insert("Origin", origin.parse().expect("header value"));
    let stream = TcpStream::connect(server.gateway).await?;
    tokio_tungstenite::client_async(req, stream)
        .await
        .map(|(ws, _)| ws)
}

fn http_status(r: Result<RawWs, tungstenite::Error>) -> u16 {
    match r {
        Err(tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("expected an HTTP refusal, got {e}"),
        Ok(_) => 101,
    }
}

#[tokio::test]
async fn browser_origins_are_refused_unless_allowed_and_cost_nothing() {
    let server = Server::start(&["--auth-failures", "2"]);
    // A page on any site: refused before the upgrade, however often.
    for _ in 0..20 {
        assert_eq!(
            http_status(open_with_origin(&server, "http://evil.example").await),
            403
        );
    }
    assert_eq!(
        http_status(open_with_origin(&server, "http://127.0.0.1:18789").await),
        403
    );
    let refused = r#"clawdbot_upgrades_refused_total{reason="origin"}"#;
    assert_eq!(metric(&server, refused).await, 21);
    assert_eq!(metric(&server, "clawdbot_auth_failures_total").await, 0);
    // The owner's native client (no Origin) is not locked out.
    let mut ws = open(&server.url()).await;
    assert_eq!(handshake(&mut ws, 3, 4, Some(TOKEN)).await["ok"], true);

    // An allowed page connects; its neighbour origin does not.
    let server = Server::start(&["--allow-origin", "http://127.0.0.1:3000,https://ui.example"]);
    let mut ws = open_with_origin(&server, "http://127.0.0.1:3000")
        .await
        .expect("allowed origin upgraded");
    assert_eq!(handshake(&mut ws, 3, 4, Some(TOKEN)).await["ok"], true);
    let mut ws = open_with_origin(&server, "https://UI.example")
        .await
        .expect("origins compare case-insensitively");
    assert_eq!(handshake(&mut ws, 3, 4, Some(TOKEN)).await["ok"], true);
    assert_eq!(
        http_status(open_with_origin(&server, "http://127.0.0.1:3001").await),
        403
    );
    // A wildcard or a path is not an origin.
    for bad in ["*", "http://ui.example/app", "ui.example"] {
        let (status, err) = run_expect_exit(
            &["--port", "0", "--health-port", "0", "--allow-origin", bad],
            &env_with_token(),
        );
        assert_eq!(status.code(), Some(2), "{bad}: {err}");
        assert!(err.contains("--allow-origin"), "{err}");
    }
}

/// True when the server closes `s` (EOF or reset) within `within`.
async fn closed_by_server(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_slow_and_idle_http_sockets_are_closed_by_the_head_deadline() {
    let server = Server::start(&["--http-header-timeout-ms", "500"]);
    let mut tasks = Vec::new();
    for i in 0..40 {
        let addr = if i % 2 == 0 {
            server.gateway
        } else {
            server.health
        };
        tasks.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            match i % 4 {
                // Silent.
                0 | 1 => {}
                // One byte of header every 100 ms.
                2 => {
                    let (mut r, mut w) = s.into_split();
                    let drip = tokio::spawn(async move {
                        let _ = w.write_all(b"GET /health HTTP/1.1\r\n").await;
                        for _ in 0..200 {
                            if w.write_all(b"X").await.is_err() {
                                break;
                            }
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    });
                    let mut buf = [0u8; 256];
                    let closed = tokio::time::timeout(Duration::from_secs(15), async {
                        loop {
                            match r.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(_) => continue,
                            }
                        }
                    })
                    .await
                    .is_ok();
                    drip.abort();
                    return closed;
                }
                // One request, then idle on the kept-alive connection.
                _ => {
                    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                        .await
                        .unwrap();
                }
            }
            closed_by_server(&mut s, Duration::from_secs(15)).await
        }));
    }
    let mut closed = 0;
    for t in tasks {
        if t.await.unwrap() {
            closed += 1;
        }
    }
    assert_eq!(closed, 40, "sockets left open past the head deadline");
    let timeouts = r#"clawdbot_http_connections_ended_total{reason="header_timeout"}"#;
    let n = wait_metric(&server, timeouts, Duration::from_secs(5), |v| v >= 40).await;
    assert!(n >= 40, "{n} header timeouts counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_while_idle_sockets_fill_a_tight_fd_limit() {
    const NOFILE: u64 = 1200;
    const IDLE: usize = 1200;
    let own = raise_own_fd_limit();
    assert!(
        own > IDLE as u64 + 200,
        "this test needs {IDLE}+ descriptors"
    );
    // Long head deadline: the idle sockets stay for the whole test.
    let server = Server::start_with_nofile(&["--http-header-timeout-ms", "60000"], NOFILE);
    // An authenticated client from before the flood keeps working.
    let mut ws = connected(&server.url()).await;
    let mut idle = Vec::with_capacity(IDLE);
    for i in 0..IDLE {
        let addr = if i % 2 == 0 {
            server.gateway
        } else {
            server.health
        };
        if let Ok(s) = TcpStream::connect(addr).await {
            idle.push(s);
        }
    }
    let evicted = r#"clawdbot_http_connections_ended_total{reason="evicted"}"#;
    // /health answers on both ports (a probe takes the place of the oldest idle socket).
    for addr in [server.health, server.gateway] {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let mut answered = false;
        while !answered && std::time::Instant::now() < deadline {
            answered = try_http_get(addr, "/health").await == Some(200);
            if !answered {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        assert!(
            answered,
            "/health on {addr} never answered under {IDLE} idle sockets"
        );
    }
    assert_eq!(call(&mut ws, "h", "health", None).await["ok"], true);
    let n = metric(&server, evicted).await;
    eprintln!(
        "{} idle sockets opened, {n} evicted for newer ones; server alive",
        idle.len()
    );
    assert!(n > 0, "the idle sockets never reached the HTTP slot cap");
    drop(idle);
}

/// Reads one response from a kept-alive HTTP/1.1 connection (head and a
/// `Content-Length` body); its status, or None when cut or late.
async fn read_response(s: &mut TcpStream) -> Option<u16> {
    let read = async {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = s.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).to_string();
            let Some(end) = text.find("\r\n\r\n") else {
                continue;
            };
            let len: usize = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return text.split_whitespace().nth(1)?.parse().ok();
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(3), read)
        .await
        .ok()
        .flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_at_once_while_silent_sockets_hold_every_http_slot() {
    const SLOTS: usize = 4;
    const RESERVE: usize = 16;
    const ROUNDS: usize = 6;
    const PER_ROUND: usize = SLOTS + RESERVE + 4;
    raise_own_fd_limit();
    // A 60 s head deadline: no slot frees by itself while the test runs.
    let server = Server::start(&[
        "--max-http-connections",
        "4",
        "--http-header-timeout-ms",
        "60000",
    ]);
    // Connections past their request head are never evicted: a WebSocket (it left the
    // HTTP budget) and a kept-alive HTTP connection on the health port.
    let mut ws = connected(&server.url()).await;
    let mut kept = TcpStream::connect(server.health).await.unwrap();
    let keep_alive_get = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    kept.write_all(keep_alive_get).await.unwrap();
    assert_eq!(read_response(&mut kept).await, Some(200));
    let mut silent = Vec::with_capacity(ROUNDS * 2 * PER_ROUND);
    for round in 0..ROUNDS {
        for addr in [server.gateway, server.health] {
            // More silent (or half-head) sockets than both pools hold, on every round.
            for i in 0..PER_ROUND {
                let mut s = TcpStream::connect(addr).await.unwrap();
                if i % 2 == 1 {
                    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
                        .await
                        .unwrap();
                }
                silent.push(s);
            }
            // First attempt, no retry: a probe accepted behind them must take the place
            // of the oldest waiting socket, not wait for a head deadline.
            assert_eq!(
                try_http_get(addr, "/health").await,
                Some(200),
                "round {round}: /health on {addr} with every slot held by silent sockets"
            );
        }
    }
    kept.write_all(keep_alive_get).await.unwrap();
    assert_eq!(
        read_response(&mut kept).await,
        Some(200),
        "a kept-alive connection past its head was evicted"
    );
    assert_eq!(call(&mut ws, "h", "health", None).await["ok"], true);
    let ended = |r: &str| format!("clawdbot_http_connections_ended_total{{reason=\"{r}\"}}");
    let evicted = metric(&server, &ended("evicted")).await;
    let min = ROUNDS * 2 * (PER_ROUND - SLOTS - RESERVE);
    assert!(
        evicted >= min as u64,
        "{evicted} evicted, expected >= {min}"
    );
    assert_eq!(metric(&server, &ended("refused")).await, 0);
    let open = metric(&server, "clawdbot_http_connections_open").await;
    assert!(
        open <= 2 * (SLOTS + RESERVE) as u64,
        "{open} HTTP connections open, more than both ports' slots"
    );
    drop(silent);
}

/// GET on a fresh connection; the status, or None when refused or cut.
async fn try_http_get(addr: std::net::SocketAddr, path: &str) -> Option<u16> {
    let attempt = async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.ok()?;
        let text = String::from_utf8_lossy(&buf).to_string();
        text.split_whitespace().nth(1)?.parse().ok()
    };
    tokio::time::timeout(Duration::from_secs(3), attempt)
        .await
        .ok()
        .flatten()
}

/// A slow reader: tiny receive buffer, `requests` health requests, never reads.
async fn slow_reader(server: &Server, requests: usize) -> RawWs {
    let mut ws = connected_slow_reader(server).await;
    for i in 0..requests {
        let req = json!({"type": "req", "id": format!("s{i}"), "method": "health"});
        let sent = tokio::time::timeout(
            Duration::from_secs(5),
            ws.send(Message::Text(req.to_string().into())),
        )
        .await;
        if !matches!(sent, Ok(Ok(()))) {
            break;
        }
    }
    ws
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_outbound_budget_drops_slow_readers() {
    const READERS: usize = 6;
    // Per connection 8 MiB (never reached here), 1 MiB across all connections.
    let server = Arc::new(Server::start(&[
        "--max-buffered-bytes",
        "8388608",
        "--max-buffered-bytes-total",
        "1048576",
        "--send-queue",
        "60000",
        "--send-timeout-ms",
        "1000",
        "--rate-limit",
        "1000000",
        "--rate-burst",
        "1000000",
    ]));
    let base = server.rss_kib();
    let mut tasks = Vec::new();
    for _ in 0..READERS {
        let server = server.clone();
        tasks.push(tokio::spawn(
            async move { slow_reader(&server, 6_000).await },
        ));
    }
    let mut readers = Vec::new();
    for t in tasks {
        readers.push(t.await.unwrap());
    }
    let slow = r#"clawdbot_disconnects_total{reason="slow_consumer"}"#;
    let dropped = wait_metric(&server, slow, Duration::from_secs(30), |v| v >= 1).await;
    assert!(dropped >= 1, "no slow reader dropped by the global budget");
    let peak = server.peak_rss_kib();
    eprintln!(
        "global budget: {dropped} of {READERS} slow readers dropped; RSS {base} KiB -> peak {peak} KiB"
    );
    assert!(metric(&server, "clawdbot_buffered_bytes").await <= 1_048_576);
    assert!(
        peak < base + 64 * 1024,
        "server memory grew from {base} KiB to a peak of {peak} KiB"
    );
    drop(readers);
    // Healthy afterwards.
    let mut ws = connected(&server.url()).await;
    assert_eq!(call(&mut ws, "after", "health", None).await["ok"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_answers_in_flight_requests_reports_the_drain_and_a_second_signal_exits() {
    // A provider that accepts the request and never answers: the run stays in flight.
    let stub = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stub_addr = stub.local_addr().unwrap();
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::channel(4);
    let stub_task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = stub.accept().await {
            let _ = seen_tx.send(()).await;
            held.push(s);
        }
    });
    let mut env = env_with_token();
    env.push((
        "ANTHROPIC_API_KEY".into(),
        "sk-ant-api03-Zq8vY2mKpL4nR7tW1xC9bF3hJ6dS0gA".into(),
    ));
    env.push(("ANTHROPIC_BASE_URL".into(), format!("http://{stub_addr}")));
    let mut server = Server::start_with_env(
        &[
            "--shutdown-grace-ms",
            "30000",
            "--max-payload",
            "65536",
            "--send-timeout-ms",
            "60000",
            "--max-buffered-bytes",
            "65536",
            "--send-queue",
            "10000",
            "--rate-limit",
            "1000000",
            "--rate-burst",
            "1000000",
        ],
        &env,
    );
    // A slow reader whose queue is full keeps the drain open until the grace period.
    let reader = slow_reader(&server, 5_000).await;
    let buffered = wait_metric(
        &server,
        "clawdbot_buffered_bytes",
        Duration::from_secs(20),
        |v| v + 2048 >= 65_536,
    )
    .await;
    assert!(
        buffered + 2048 >= 65_536,
        "the slow reader's queue never filled"
    );
    // A client with a request in flight: `agent` is acknowledged at once and answered
    // on the same id when its run ends (it needs the write scope).
    let mut ws = connected_writer(&server.url()).await;
    send_json(
        &mut ws,
        &json!({"type": "req", "id": "inflight", "method": "agent",
                "params": {"message": "hi", "agentId": "main", "idempotencyKey": "inflight-run"}}),
    )
    .await;
    let ack = recv_res(&mut ws).await;
    assert_eq!(ack["id"], "inflight");
    assert_eq!(ack["payload"]["status"], "accepted", "{ack}");
    tokio::time::timeout(Duration::from_secs(10), seen_rx.recv())
        .await
        .expect("the provider call never started");

    server.signal(libc::SIGTERM);
    let res = recv_res(&mut ws).await;
    assert_eq!(res["id"], "inflight");
    assert_eq!(res["ok"], false, "{res}");
    assert_eq!(res["error"]["code"], "UNAVAILABLE", "{res}");
    assert_eq!(res["error"]["message"], "shutting down", "{res}");
    let ev = recv_json(&mut ws).await;
    assert_eq!(ev["event"], "shutdown", "{ev}");
    let (code, _) = expect_close(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(code, 1001);
    // Draining: not ready, still alive, no new WebSockets.
    assert_eq!(try_http_get(server.health, "/ready").await, Some(503));
    assert_eq!(try_http_get(server.gateway, "/ready").await, Some(503));
    assert_eq!(try_http_get(server.health, "/health").await, Some(200));
    match tokio_tungstenite::connect_async(server.url()).await {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status().as_u16(), 503),
        Err(e) => panic!("expected HTTP 503 during the drain, got {e}"),
        Ok(_) => panic!("upgraded during the drain"),
    }
    // A second signal ends the drain at once.
    let (status, took) = server.signal_and_wait(libc::SIGINT, Duration::from_secs(10));
    assert_eq!(status.code(), Some(130), "{status:?}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    drop(reader);
    stub_task.abort();
}
