//! `clawdbot egress-proxy` under hostile clients, over real loopback sockets: idle and
//! slow sockets on the proxy port take no tunnel slot and cannot starve `/health` or a
//! `CONNECT`; forwards close clients that never speak (and never dial the target for
//! them) and clients that stay open after the target closed; refusals are counted in
//! `/metrics` while their log lines stay bounded; the soft open-files limit is raised at
//! start; absurd limits are refused. Assertions are on responses and `/metrics`.

#[path = "egress_support/mod.rs"]
mod egress;

use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use egress::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const EVICTED: &str = "clawdbot_egress_refused_total{reason=\"pending_evicted\"}";

#[tokio::test]
async fn idle_sockets_take_no_tunnel_slot_and_never_starve_health_or_connect() {
    let (echo, accepted) = upper_echo().await;
    let target = echo.to_string();
    let proxy = Proxy::start(&[
        "--allow",
        &target,
        "--max-pending",
        "4",
        "--max-tunnels",
        "2",
    ]);
    // Five times the pending budget in sockets that never send a byte.
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(TcpStream::connect(proxy.addr).await.unwrap());
    }
    // Every idle socket beyond the budget is evicted (each scrape evicts one more).
    wait_metric(proxy.addr, EVICTED, |n| n >= 16).await;
    let (code, body) = support_get(proxy.addr, "/health").await;
    assert_eq!(code, 200, "{body}");
    // Both tunnel slots are still free: idle sockets never held one.
    let (c1, _, mut t1) = connect(proxy.addr, &target).await;
    let (c2, _, _t2) = connect(proxy.addr, &target).await;
    assert_eq!((c1, c2), (200, 200));
    t1.write_all(b"ok").await.unwrap();
    assert_eq!(read_exact_within(&mut t1, 2).await, b"OK");
    let (c3, text, _) = connect(proxy.addr, &target).await;
    assert_eq!(c3, 503, "{text}");
    let m = scrape(proxy.addr).await;
    assert_eq!(value(&m, "clawdbot_egress_tunnels_open"), 2, "{m}");
    assert_eq!(
        value(&m, "clawdbot_egress_refused_total{reason=\"tunnel_limit\"}"),
        1
    );
    assert!(
        value(&m, "clawdbot_egress_pending{port=\"proxy\"}") <= 4,
        "{m}"
    );
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
    // The evicted idle sockets were told (503) and closed; the rest get 408 at the head
    // deadline.
    let mut told = 0;
    for s in &mut idle {
        let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(200), s.peek(&mut [0u8; 16])).await
        else {
            continue;
        };
        if n > 0 {
            let got = read_to_eof(s, Duration::from_secs(5)).await;
            if got.starts_with(b"HTTP/1.1 503 ") {
                told += 1;
            } else {
                assert!(got.starts_with(b"HTTP/1.1 408 "), "{got:?}");
            }
        }
    }
    assert!(told >= 16, "only {told} evicted sockets got a 503");
}

#[tokio::test]
async fn slow_and_silent_heads_are_closed_at_the_head_deadline() {
    let proxy = Proxy::start(&["--head-timeout-ms", "300"]);
    let mut silent = TcpStream::connect(proxy.addr).await.unwrap();
    let mut slow = TcpStream::connect(proxy.addr).await.unwrap();
    // One byte every 50 ms: traffic, but never a complete head.
    let dripping = async {
        for b in b"CONNECT api.anthropic.com:443 HTTP/1.1\r\nHost: api.anthropic.com:443\r\n" {
            if slow.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let ((), got) = tokio::join!(dripping, read_to_eof(&mut silent, Duration::from_secs(10)));
    assert!(
        got.starts_with(b"HTTP/1.1 408 "),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    let got = read_to_eof(&mut slow, Duration::from_secs(10)).await;
    assert!(
        got.starts_with(b"HTTP/1.1 408 "),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    let m = scrape(proxy.addr).await;
    assert_eq!(
        value(&m, "clawdbot_egress_refused_total{reason=\"head_timeout\"}"),
        2,
        "{m}"
    );
    assert_eq!(
        value(&m, "clawdbot_egress_pending{port=\"proxy\"}"),
        0,
        "{m}"
    );
}

#[tokio::test]
async fn forwards_close_silent_clients_without_a_slot_or_a_dial() {
    let (echo, accepted) = upper_echo().await;
    let proxy = Proxy::start(&[
        "--forward",
        &format!("0={echo}"),
        "--max-forward-connections",
        "1",
        "--max-pending",
        "2",
        "--first-byte-timeout-ms",
        "1000",
    ]);
    let fwd = proxy.forwards[0];
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(TcpStream::connect(fwd).await.unwrap());
    }
    // A client that speaks gets the one forward slot while the silent ones wait.
    let mut talker = TcpStream::connect(fwd).await.unwrap();
    talker.write_all(b"hello").await.unwrap();
    assert_eq!(read_exact_within(&mut talker, 5).await, b"HELLO");
    // Every silent client is closed (evicted or at the first-byte deadline), never dialled.
    for s in &mut silent {
        read_to_eof(s, Duration::from_secs(10)).await;
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "a silent client was dialled"
    );
    let m = scrape(proxy.addr).await;
    let timed_out = value(
        &m,
        "clawdbot_egress_refused_total{reason=\"first_byte_timeout\"}",
    );
    let evicted = value(&m, EVICTED);
    assert_eq!(timed_out + evicted, 3, "{m}");
    assert!(evicted >= 1, "{m}");
    assert_eq!(value(&m, "clawdbot_egress_forwards_open"), 1, "{m}");
    assert_eq!(
        value(&m, "clawdbot_egress_pending{port=\"forward\"}"),
        0,
        "{m}"
    );
    // The talker still works.
    talker.write_all(b"again").await.unwrap();
    assert_eq!(read_exact_within(&mut talker, 5).await, b"AGAIN");
}

/// A target that answers one chunk, then closes.
async fn one_shot_server() -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 64];
                if let Ok(n) = s.read(&mut buf).await {
                    let _ = s.write_all(&buf[..n].to_ascii_uppercase()).await;
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_client_that_stays_open_after_the_target_closed_frees_its_slot() {
    let target = one_shot_server().await;
    let proxy = Proxy::start(&[
        "--forward",
        &format!("0={target}"),
        "--max-forward-connections",
        "1",
        "--first-byte-timeout-ms",
        "300",
    ]);
    let fwd = proxy.forwards[0];
    let mut first = TcpStream::connect(fwd).await.unwrap();
    first.write_all(b"a").await.unwrap();
    assert_eq!(read_exact_within(&mut first, 1).await, b"A");
    // `first` never closes. Another client gets the slot once the linger has passed,
    // not after the 300 s idle timeout.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mut next = TcpStream::connect(fwd).await.unwrap();
        next.write_all(b"b").await.unwrap();
        let mut b = [0u8; 1];
        match tokio::time::timeout(Duration::from_secs(5), next.read(&mut b)).await {
            Ok(Ok(1)) => {
                assert_eq!(&b, b"B");
                break;
            }
            _ => {
                assert!(Instant::now() < deadline, "the slot was never freed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    let _keep = first;
}

#[tokio::test]
async fn refusals_are_counted_and_their_log_lines_bounded() {
    let (echo, _) = upper_echo().await;
    let target = echo.to_string();
    let proxy = Proxy::start(&["--allow", &target, "--max-tunnels", "1"]);
    let (code, _, _tunnel) = connect(proxy.addr, &target).await;
    assert_eq!(code, 200);
    const REFUSED: u64 = 100;
    for _ in 0..REFUSED {
        let (code, text, _) = connect(proxy.addr, &target).await;
        assert_eq!(code, 503, "{text}");
    }
    let m = scrape(proxy.addr).await;
    assert_eq!(
        value(&m, "clawdbot_egress_refused_total{reason=\"tunnel_limit\"}"),
        REFUSED
    );
    // At most 10 individual lines per 10 s interval (the run may straddle one boundary).
    let suppressed = value(&m, "clawdbot_egress_log_lines_suppressed_total");
    assert!(suppressed >= REFUSED - 20, "{m}");
    let lines = proxy
        .logs()
        .lines()
        .filter(|l| l.contains("tunnel limit reached"))
        .count() as u64;
    assert!(lines <= 20, "{lines} refusal lines for {REFUSED} refusals");
}

fn soft_nofile(pid: u32) -> u64 {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    line.split_whitespace().nth(3).unwrap().parse().unwrap()
}

#[tokio::test]
async fn the_soft_open_files_limit_is_raised_to_fit_the_budgets() {
    // Defaults, no forwards: 32 pending + 2 x 64 tunnel ends + 1 listener + 64 headroom.
    let proxy = Proxy::start_with(&[], &[], Some((128, 4096)));
    let m = scrape(proxy.addr).await;
    assert_eq!(value(&m, "clawdbot_egress_open_files_limit"), 225, "{m}");
    assert_eq!(soft_nofile(proxy.child.id()), 225);
    // Two forwards of 1024 connections need more than the hard limit: raised to it,
    // and the proxy says so at start.
    let proxy = Proxy::start_with(
        &["--forward", "0=127.0.0.1:9", "--forward", "0=127.0.0.1:9"],
        &[],
        Some((128, 4096)),
    );
    let m = scrape(proxy.addr).await;
    assert_eq!(value(&m, "clawdbot_egress_open_files_limit"), 4096, "{m}");
    assert_eq!(soft_nofile(proxy.child.id()), 4096);
    assert!(
        proxy.logs().contains("open-files limit is below"),
        "{}",
        proxy.logs()
    );
}

#[test]
fn absurd_limits_are_refused_with_exit_2() {
    for (flag, v) in [
        ("--max-tunnels", "18446744073709551615"),
        ("--max-tunnels", "0"),
        ("--max-forward-connections", "1000000"),
        ("--max-pending", "0"),
        ("--max-pending", "100000"),
        ("--head-timeout-ms", "1"),
        ("--first-byte-timeout-ms", "99"),
        ("--idle-timeout-ms", "1"),
        ("--connect-timeout-ms", "18446744073709551615"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_clawdbot"))
            .args([
                "egress-proxy",
                "--bind",
                "127.0.0.1",
                "--port",
                "0",
                flag,
                v,
            ])
            .env_clear()
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {v}: {err}");
        assert!(err.contains(flag), "{flag} {v}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{flag} {v}: {err}");
    }
}

/// Plain `GET path` on the proxy port; (status, whole response).
async fn support_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let (code, text, mut s) =
        request(addr, &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n")).await;
    let rest = read_to_eof(&mut s, Duration::from_secs(5)).await;
    (code, text + &String::from_utf8_lossy(&rest))
}
