//! Shared by the egress proxy tests: a running `clawdbot egress-proxy` (killed on drop),
//! a loopback upper-casing echo server, raw proxy requests and `/metrics` scrapes.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clawdbot_testkit::child::LoggedChild;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A running `clawdbot egress-proxy`, killed on drop.
pub struct Proxy {
    pub child: LoggedChild,
    pub addr: SocketAddr,
    pub forwards: Vec<SocketAddr>,
}

fn field(line: &str, name: &str) -> Option<SocketAddr> {
    let key = format!(" {name}=");
    let rest = &line[line.find(&key)? + key.len()..];
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    rest[..end].parse().ok()
}

impl Proxy {
    pub fn start(args: &[&str]) -> Proxy {
        Self::start_with_env(args, &[])
    }

    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Proxy {
        Self::start_with(args, env, None)
    }

    /// Starts the proxy; with `nofile = Some((soft, hard))` it starts under that
    /// open-files limit.
    pub fn start_with(args: &[&str], env: &[(&str, &str)], nofile: Option<(u64, u64)>) -> Proxy {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_clawdbot"));
        cmd.arg("egress-proxy")
            .args(["--bind", "127.0.0.1", "--port", "0"])
            .args(args)
            .env_clear()
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .envs(env.iter().copied());
        if let Some((soft, hard)) = nofile {
            // SAFETY: setrlimit is async-signal-safe; the closure owns copies of the numbers.
            unsafe {
                cmd.pre_exec(move || rlimit::setrlimit(rlimit::Resource::NOFILE, soft, hard));
            }
        }
        let mut child = LoggedChild::spawn(&mut cmd).expect("spawn clawdbot egress-proxy");
        let mut forwards = Vec::new();
        let line = child
            .wait_for_line(Duration::from_secs(20), |line| {
                if line.contains("forwarding") {
                    forwards.push(field(line, "listen").expect("forward listen address"));
                }
                line.contains("clawdbot egress proxy listening")
            })
            .unwrap_or_else(|ended| {
                panic!(
                    "proxy did not start ({:?}); logs:\n{}",
                    ended.status, ended.logs
                )
            });
        let addr = field(&line, "proxy").expect("proxy address");
        Proxy {
            child,
            addr,
            forwards,
        }
    }

    pub fn logs(&self) -> String {
        self.child.logs()
    }

    pub fn wait_for_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let logs = self.logs();
            if let Some(line) = logs.lines().find(|l| l.contains(needle)) {
                return line.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {needle:?}; logs:\n{logs}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A loopback TCP server that answers every chunk with the chunk upper-cased, and
/// counts the connections it accepted.
pub async fn upper_echo() -> (SocketAddr, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            let up = buf[..n].to_ascii_uppercase();
                            if s.write_all(&up).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    (addr, accepted)
}

/// Sends `head` to the proxy and reads the response head; returns (status, head, stream).
pub async fn request(proxy: SocketAddr, head: &str) -> (u16, String, TcpStream) {
    let mut s = TcpStream::connect(proxy).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut b = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut b))
            .await
            .expect("response timeout")
            .unwrap();
        assert!(
            n > 0,
            "closed before a response head: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.push(b[0]);
    }
    let text = String::from_utf8(buf).unwrap();
    let code = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    (code, text, s)
}

pub async fn connect(proxy: SocketAddr, target: &str) -> (u16, String, TcpStream) {
    request(
        proxy,
        &format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n"),
    )
    .await
}

pub async fn read_exact_within(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut buf))
        .await
        .expect("read timeout")
        .unwrap();
    buf
}

/// `GET /metrics` on the proxy port: the body.
pub async fn scrape(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .expect("metrics timeout")
        .unwrap();
    let text = String::from_utf8(buf).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
    text.split_once("\r\n\r\n").unwrap().1.to_string()
}

/// The value of one series (`name{labels}`) in a scrape.
pub fn value(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no series {series} in:\n{metrics}"))
}

/// Scrapes until `series` satisfies `ok` (deadline 10 s); returns the last scrape.
pub async fn wait_metric(addr: SocketAddr, series: &str, ok: impl Fn(u64) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let m = scrape(addr).await;
        if ok(value(&m, series)) {
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "{series} never reached the expected value:\n{m}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reads until EOF (or reset) within `within`; returns what was read, panics otherwise.
pub async fn read_to_eof(s: &mut TcpStream, within: Duration) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    let read = async {
        loop {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(within, read)
        .await
        .expect("the proxy did not close the connection in time");
    buf
}
