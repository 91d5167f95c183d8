//! ws-load's hostile modes against small loopback servers written here, each with a
//! known behaviour, so every count the modes report is checked both ways.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

fn ws_load(args: &[&str]) -> (i32, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ws-load"))
        .args(args)
        .env_remove("CLAWDBOT_GATEWAY_TOKEN")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// Serves every connection on its own thread with `f`.
fn server(f: fn(TcpStream)) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || f(s));
        }
    });
    addr
}

fn read_head(s: &mut TcpStream) -> bool {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(1) => head.push(b[0]),
            _ => return false,
        }
    }
    true
}

/// Upgrades, then reads everything and never closes.
fn swallow(mut s: TcpStream) {
    if read_head(&mut s) {
        let _ = s.write_all(b"HTTP/1.1 101 Switching Protocols\r\n\r\n");
        let mut buf = [0u8; 65536];
        while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
    }
}

/// Refuses every upgrade with 503.
fn refuse(mut s: TcpStream) {
    if read_head(&mut s) {
        let _ = s.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
    }
}

/// Closes every connection after 300 ms.
fn close_soon(s: TcpStream) {
    std::thread::sleep(Duration::from_millis(300));
    drop(s);
}

/// Never closes (reads until the client goes).
fn never_close(mut s: TcpStream) {
    let mut buf = [0u8; 256];
    while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
}

/// Answers `GET /health` with 200.
fn health(mut s: TcpStream) {
    if read_head(&mut s) {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    }
}

#[test]
fn stall_mode_sends_all_but_the_last_byte_or_counts_refusals() {
    let addr = server(swallow).to_string();
    let pid = std::process::id().to_string();
    let (code, out, err) = ws_load(&[
        "--addr",
        &addr,
        "--pid",
        &pid,
        "stall",
        "--sockets",
        "6",
        "--frame-bytes",
        "200000",
        "--hold-seconds",
        "0.2",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out["upgraded"], 6, "{out}");
    assert_eq!(out["sent_all_but_last_byte"], 6, "{out}");
    assert_eq!(out["bytes_sent"], 6 * 199_999, "{out}");
    assert_eq!(out["closed_by_server"], 0, "{out}");
    assert!(out["server_rss_peak_bytes"].as_u64().unwrap() > 0, "{out}");

    let addr = server(refuse).to_string();
    let (code, out, err) = ws_load(&[
        "--addr",
        &addr,
        "stall",
        "--sockets",
        "4",
        "--hold-seconds",
        "0.1",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out["refused"], 4, "{out}");
    assert_eq!(out["upgraded"], 0, "{out}");
    assert_eq!(
        out["server_rss_growth_bytes"],
        Value::Null,
        "no --pid, no memory figure"
    );
}

#[test]
fn silent_mode_times_the_server_closing_each_kind() {
    let closing = server(close_soon).to_string();
    let open = server(never_close).to_string();
    let (code, out, err) = ws_load(&[
        "--addr",
        &closing,
        "silent",
        "--sockets",
        "8",
        "--seconds",
        "2",
        "--drip",
        "--also",
        &open,
    ]);
    assert_eq!(code, 0, "{err}");
    let groups = out["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 4, "{out}");
    for g in groups {
        assert_eq!(g["sockets"], 2, "{g}");
        assert_eq!(g["opened"], 2, "{g}");
        if g["target"] == closing.as_str() {
            assert_eq!(g["closed"], 2, "{g}");
            let min = g["close_min_s"].as_f64().unwrap();
            assert!((0.25..2.0).contains(&min), "{g}");
        } else {
            assert_eq!(g["closed"], 0, "{g}");
            assert_eq!(g["close_max_s"], Value::Null, "{g}");
        }
    }
}

#[test]
fn idle_health_mode_probes_while_sockets_are_held() {
    let idle = server(never_close).to_string();
    let up = server(health).to_string();
    let (code, out, err) = ws_load(&[
        "--addr",
        &idle,
        "idle-health",
        "--sockets",
        "50",
        "--health",
        &up,
        "--probes",
        "10",
        "--rate",
        "50",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out["idle_open_at_start"], 50, "{out}");
    assert_eq!(out["idle_open_at_end"], 50, "{out}");
    assert_eq!(out["probe_ok"], 10, "{out}");
    assert_eq!(out["latency"]["count"], 10, "{out}");
    assert_eq!(out["bad_probes_from_s"], Value::Null, "{out}");

    // A health address that refuses upgrades-style answers counts as "other status".
    let refusing = server(refuse).to_string();
    let (code, out, err) = ws_load(&[
        "--addr",
        &idle,
        "idle-health",
        "--sockets",
        "5",
        "--health",
        &refusing,
        "--probes",
        "3",
        "--rate",
        "50",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out["probe_ok"], 0, "{out}");
    assert_eq!(out["probe_other_status"], 3, "{out}");
    assert_eq!(out["first_error"], "HTTP 503", "{out}");
    let (from, until) = (
        out["bad_probes_from_s"].as_f64().unwrap(),
        out["bad_probes_until_s"].as_f64().unwrap(),
    );
    // Three probes at 50/s: sent at about 0, 20 and 40 ms.
    assert!(from < until && until < 2.0, "{out}");
}

#[test]
fn hostile_modes_refuse_unbounded_or_remote_runs() {
    for args in [
        &["--addr", "192.0.2.1:1", "silent", "--sockets", "1"][..],
        &["--addr", "127.0.0.1:1", "silent", "--sockets", "0"][..],
        &["--addr", "127.0.0.1:1", "silent", "--seconds", "1000"][..],
        &["--addr", "127.0.0.1:1", "stall", "--sockets", "100000"][..],
        &[
            "--addr",
            "127.0.0.1:1",
            "idle-health",
            "--health",
            "192.0.2.1:1",
        ][..],
        &[
            "--addr",
            "127.0.0.1:1",
            "idle-health",
            "--health",
            "127.0.0.1:1",
            "--probes",
            "100000",
        ][..],
    ] {
        let (code, _, err) = ws_load(args);
        assert_eq!(code, 2, "{args:?}: {err}");
    }
}
