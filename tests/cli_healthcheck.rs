//! `clawdbot healthcheck` through the real binary against real loopback servers.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn healthcheck(port: u16, timeout_ms: u64) -> Output {
    Command::new(env!("CARGO_BIN_EXE_clawdbot"))
        .args([
            "healthcheck",
            "--port",
            &port.to_string(),
            "--host",
            "127.0.0.1",
            "--timeout-ms",
            &timeout_ms.to_string(),
        ])
        .output()
        .expect("run clawdbot healthcheck")
}

/// A one-shot HTTP server: reads the request head, records it, answers `response`.
fn serve_once(response: &'static str) -> (u16, std::thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut req = Vec::new();
        let mut buf = [0u8; 512];
        while !req.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = conn.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            req.extend_from_slice(&buf[..n]);
        }
        conn.write_all(response.as_bytes()).unwrap();
        String::from_utf8_lossy(&req).into_owned()
    });
    (port, handle)
}

#[test]
fn healthcheck_passes_on_200() {
    let (port, server) = serve_once(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\nConnection: close\r\n\r\n{\"status\":\"ok\"}",
    );
    let out = healthcheck(port, 2000);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let request = server.join().unwrap();
    assert!(request.starts_with("GET /health HTTP/1.1\r\n"), "{request}");
    assert!(
        request.contains(&format!("Host: 127.0.0.1:{port}\r\n")),
        "{request}"
    );
}

#[test]
fn healthcheck_fails_on_non_200() {
    let (port, server) =
        serve_once("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
    let out = healthcheck(port, 2000);
    server.join().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("status 503 Service Unavailable"),
        "{stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}

#[test]
fn healthcheck_fails_on_a_closed_port() {
    // Bind then drop: the port is very likely closed right after.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = healthcheck(port, 2000);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot connect"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}

#[test]
fn healthcheck_times_out_on_a_server_that_never_answers() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accept and hold the connection open without answering until the probe is done.
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let _ = wait.recv_timeout(Duration::from_secs(10));
        drop(conn);
    });
    let start = Instant::now();
    let out = healthcheck(port, 500);
    let took = start.elapsed();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("timed out"), "{stderr}");
    // The deadline is honoured (generous bound for a loaded machine).
    assert!(took < Duration::from_millis(2500), "took {took:?}");
    done.send(()).unwrap();
    holder.join().unwrap();
}

#[test]
fn healthcheck_rejects_a_non_http_answer() {
    let (port, server) = serve_once("SSH-2.0-OpenSSH_9.2\r\n");
    let out = healthcheck(port, 2000);
    server.join().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an HTTP response"));
}
