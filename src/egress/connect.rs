//! One client of the CONNECT proxy: read the request head, check the destination
//! against the allowlist, dial it, answer, then relay.
//!
//! Answers: 200 (tunnel established), 400 (malformed request), 403 (destination not
//! allowed), 405 (any method but CONNECT; `Allow: CONNECT`), 502 (upstream unreachable
//! or timed out), 503 (tunnel limit reached). `GET /health` (origin form, not a proxy
//! request) answers 200 so that `clawdbot healthcheck --port <proxy port>` works.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::{debug, info, warn};

use super::allow::Destination;
use super::pipe::relay;
use super::Proxy;

/// Largest request head accepted.
const MAX_HEAD: usize = 8 * 1024;
/// Time a client has to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Writes a short HTTP/1.1 response and closes.
async fn respond(stream: &mut TcpStream, status: &str, extra: &str, body: &str) {
    let text = format!(
        "HTTP/1.1 {status}\r\n{extra}Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(text.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Reads until the end of the head; returns (head, bytes read after it).
async fn read_head(stream: &mut TcpStream) -> Result<(String, Vec<u8>), &'static str> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let read = async {
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let rest = buf.split_off(end + 4);
                let head = String::from_utf8(buf).map_err(|_| "request head is not UTF-8")?;
                return Ok((head, rest));
            }
            if buf.len() > MAX_HEAD {
                return Err("request head too large");
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return Err("client closed before the request head"),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(HEAD_TIMEOUT, read)
        .await
        .unwrap_or(Err("timed out waiting for the request head"))
}

pub(super) async fn handle(mut client: TcpStream, proxy: Arc<Proxy>) {
    let Ok(_permit) = proxy.tunnels.clone().try_acquire_owned() else {
        warn!(
            max = proxy.max_tunnels,
            "egress refused: tunnel limit reached"
        );
        respond(
            &mut client,
            "503 Service Unavailable",
            "",
            "tunnel limit reached\n",
        )
        .await;
        return;
    };
    let (head, early) = match read_head(&mut client).await {
        Ok(h) => h,
        Err(reason) => {
            debug!(reason, "egress: bad request");
            respond(&mut client, "400 Bad Request", "", &format!("{reason}\n")).await;
            return;
        }
    };
    let mut parts = head.lines().next().unwrap_or("").split_whitespace();
    let (method, target, version) = (parts.next(), parts.next(), parts.next());
    let (Some(method), Some(target), Some(version)) = (method, target, version) else {
        respond(
            &mut client,
            "400 Bad Request",
            "",
            "malformed request line\n",
        )
        .await;
        return;
    };
    if !version.starts_with("HTTP/1.") {
        respond(&mut client, "400 Bad Request", "", "HTTP/1.x only\n").await;
        return;
    }
    if method == "GET" && target == "/health" {
        let body = format!(
            "{{\"status\":\"ok\",\"version\":\"{}\"}}",
            env!("CARGO_PKG_VERSION")
        );
        respond(&mut client, "200 OK", "", &body).await;
        return;
    }
    if method != "CONNECT" {
        debug!(method, "egress: method not allowed");
        respond(
            &mut client,
            "405 Method Not Allowed",
            "Allow: CONNECT\r\n",
            "only CONNECT is supported (this proxy tunnels HTTPS)\n",
        )
        .await;
        return;
    }
    let dest = match Destination::parse(target) {
        Ok(d) => d,
        Err(_) => {
            respond(
                &mut client,
                "400 Bad Request",
                "",
                "CONNECT target must be HOST:PORT\n",
            )
            .await;
            return;
        }
    };
    if !proxy.allow.allows(&dest) {
        warn!(destination = %dest, "egress refused: destination not in the allowlist");
        respond(
            &mut client,
            "403 Forbidden",
            "",
            "destination not allowed by the egress policy\n",
        )
        .await;
        return;
    }
    let dial = TcpStream::connect((dest.resolver_host(), dest.port));
    let upstream = match tokio::time::timeout(proxy.connect_timeout, dial).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            warn!(destination = %dest, error = %e, "egress upstream unreachable");
            respond(&mut client, "502 Bad Gateway", "", "upstream unreachable\n").await;
            return;
        }
        Err(_) => {
            warn!(destination = %dest, timeout_ms = proxy.connect_timeout.as_millis() as u64, "egress upstream connect timed out");
            respond(
                &mut client,
                "502 Bad Gateway",
                "",
                "upstream connect timed out\n",
            )
            .await;
            return;
        }
    };
    let _ = upstream.set_nodelay(true);
    if client
        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .await
        .is_err()
    {
        return;
    }
    let mut upstream = upstream;
    if !early.is_empty() && upstream.write_all(&early).await.is_err() {
        return;
    }
    info!(destination = %dest, "tunnel opened");
    let r = relay(client, upstream, proxy.idle_timeout).await;
    info!(
        destination = %dest,
        up_bytes = r.up + early.len() as u64,
        down_bytes = r.down,
        idle_timeout = r.idle_timeout,
        "tunnel closed"
    );
}
