//! `clawdbot healthcheck`: the image's HEALTHCHECK (a scratch image has no shell or curl).
//!
//! A plain HTTP/1.1 `GET /health` over a std TCP socket, bounded by one overall deadline:
//! exit 0 on a `200` status line within the timeout, else exit 1 with a one-line reason.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct HealthcheckArgs {
    /// Health port to probe.
    #[arg(long, default_value_t = crate::defaults::HEALTH_PORT)]
    pub port: u16,
    /// Host to probe.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Overall deadline for connect, request and status line, in milliseconds.
    #[arg(long = "timeout-ms", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub timeout_ms: u64,
}

pub fn run(args: HealthcheckArgs) -> anyhow::Result<ExitCode> {
    let timeout = Duration::from_millis(args.timeout_ms);
    match probe(&args.host, args.port, timeout) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(reason) => {
            eprintln!(
                "healthcheck: http://{}:{}/health: {reason}",
                args.host, args.port
            );
            Ok(ExitCode::from(1))
        }
    }
}

/// Largest response head read before giving up.
const MAX_HEAD: usize = 16 * 1024;

/// Probes `GET /health`; `Err` carries a one-line reason.
pub fn probe(host: &str, port: u16, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    let mut last_err = format!("no address for {host}");
    let mut stream = None;
    for addr in addrs {
        let left = remaining(deadline)?;
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                last_err = format!("connect to {addr} timed out");
            }
            Err(e) => last_err = format!("cannot connect to {addr}: {e}"),
        }
    }
    let mut stream = stream.ok_or(last_err)?;

    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let request = format!(
        "GET /health HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: clawdbot-healthcheck\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    stream
        .set_write_timeout(Some(remaining(deadline)?))
        .map_err(|e| format!("socket error: {e}"))?;
    stream
        .write_all(request.as_bytes())
        .map_err(|e| io_reason("sending the request", &e))?;

    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        if let Some(line_end) = head.windows(2).position(|w| w == b"\r\n") {
            return check_status_line(&head[..line_end]);
        }
        if head.len() > MAX_HEAD {
            return Err("response line too long".into());
        }
        stream
            .set_read_timeout(Some(remaining(deadline)?))
            .map_err(|e| format!("socket error: {e}"))?;
        match stream.read(&mut buf) {
            Ok(0) if head.is_empty() => return Err("connection closed without a response".into()),
            Ok(0) => return check_status_line(&head),
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_reason("waiting for the response", &e)),
        }
    }
}

fn remaining(deadline: Instant) -> Result<Duration, String> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err("timed out".into())
    } else {
        Ok(left)
    }
}

fn io_reason(what: &str, e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            format!("timed out {what}")
        }
        _ => format!("error {what}: {e}"),
    }
}

/// `Ok` for an `HTTP/1.x 200` status line.
pub fn check_status_line(line: &[u8]) -> Result<(), String> {
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let version = parts.next().unwrap_or("");
    let code = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(format!(
            "not an HTTP response: {:?}",
            line.chars().take(60).collect::<String>()
        ));
    }
    if code == "200" {
        Ok(())
    } else {
        Err(format!(
            "status {}",
            line.trim_start_matches(version).trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert!(check_status_line(b"HTTP/1.1 200 OK").is_ok());
        assert!(check_status_line(b"HTTP/1.0 200").is_ok());
        assert_eq!(
            check_status_line(b"HTTP/1.1 503 Service Unavailable"),
            Err("status 503 Service Unavailable".into())
        );
        assert!(check_status_line(b"SSH-2.0-OpenSSH").is_err());
        assert!(check_status_line(b"HTTP/1.1 2000 OK").is_err());
    }
}
