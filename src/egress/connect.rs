//! One client of the CONNECT proxy: take a place in the pending budget, read the request
//! head under the head deadline, then (and only then) take a tunnel slot, check the
//! destination against the allowlist, dial it, answer, and relay.
//!
//! Answers: 200 (tunnel established), 400 (malformed request), 403 (destination not
//! allowed), 405 (any method but CONNECT; `Allow: CONNECT`), 408 (no complete head within
//! `--head-timeout-ms`), 502 (upstream unreachable or timed out), 503 (tunnel limit
//! reached, or evicted from the full pending budget by a newer connection).
//! `GET /health` (origin form, not a proxy request) answers 200 so that
//! `clawdbot healthcheck --port <proxy port>` works; `GET /metrics` serves the counters.
//! Neither needs a tunnel slot. Refusals are counted; their log lines are rate-limited
//! (see `stats`).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::{debug, info, warn};

use super::allow::Destination;
use super::pending::PendingSlot;
use super::pipe::relay;
use super::stats::Refusal;
use super::Proxy;

/// Largest request head accepted.
const MAX_HEAD: usize = 8 * 1024;
/// A response to a refused client is small; a client that does not read it still cannot
/// hold its task longer than this.
const RESPOND_TIMEOUT: Duration = Duration::from_secs(2);

/// Writes a short HTTP/1.1 response and closes.
async fn respond(stream: &mut TcpStream, status: &str, extra: &str, body: &str) {
    let text = format!(
        "HTTP/1.1 {status}\r\n{extra}Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let write = async {
        let _ = stream.write_all(text.as_bytes()).await;
        let _ = stream.shutdown().await;
    };
    let _ = tokio::time::timeout(RESPOND_TIMEOUT, write).await;
}

/// Why no request head was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HeadError {
    Closed,
    Timeout,
    TooLarge,
    NotUtf8,
    Evicted,
}

/// Reads until the end of the head; returns (head, bytes read after it).
async fn read_head(
    stream: &mut TcpStream,
    deadline: Duration,
) -> Result<(String, Vec<u8>), HeadError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let read = async {
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let rest = buf.split_off(end + 4);
                let head = String::from_utf8(buf).map_err(|_| HeadError::NotUtf8)?;
                return Ok((head, rest));
            }
            if buf.len() > MAX_HEAD {
                return Err(HeadError::TooLarge);
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return Err(HeadError::Closed),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(deadline, read)
        .await
        .unwrap_or(Err(HeadError::Timeout))
}

/// Serves one accepted client; `slot` is its place in the pending budget, taken by the
/// accept loop in accept order.
pub(super) async fn handle(mut client: TcpStream, slot: PendingSlot, proxy: Arc<Proxy>) {
    let read = tokio::select! {
        r = read_head(&mut client, proxy.head_timeout) => r,
        () = slot.evicted() => Err(HeadError::Evicted),
    };
    drop(slot);
    let (head, early) = match read {
        Ok(h) => h,
        Err(HeadError::Closed) => return,
        Err(HeadError::Evicted) => {
            respond(&mut client, "503 Service Unavailable", "", "proxy busy\n").await;
            return;
        }
        Err(HeadError::Timeout) => {
            if proxy.stats.refuse(Refusal::HeadTimeout) {
                debug!("egress: no request head in time");
            }
            respond(
                &mut client,
                "408 Request Timeout",
                "",
                "timed out waiting for the request head\n",
            )
            .await;
            return;
        }
        Err(e) => {
            let reason = if e == HeadError::TooLarge {
                "request head too large\n"
            } else {
                "request head is not UTF-8\n"
            };
            if proxy.stats.refuse(Refusal::BadRequest) {
                debug!(reason = reason.trim_end(), "egress: bad request");
            }
            respond(&mut client, "400 Bad Request", "", reason).await;
            return;
        }
    };
    let mut parts = head.lines().next().unwrap_or("").split_whitespace();
    let (method, target, version) = (parts.next(), parts.next(), parts.next());
    let (Some(method), Some(target), Some(version)) = (method, target, version) else {
        proxy.stats.refuse(Refusal::BadRequest);
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
        proxy.stats.refuse(Refusal::BadRequest);
        respond(&mut client, "400 Bad Request", "", "HTTP/1.x only\n").await;
        return;
    }
    if method == "GET" && target == "/health" {
        proxy.stats.health_answered.fetch_add(1, Ordering::Relaxed);
        let body = format!(
            "{{\"status\":\"ok\",\"version\":\"{}\"}}",
            env!("CARGO_PKG_VERSION")
        );
        respond(&mut client, "200 OK", "", &body).await;
        return;
    }
    if method == "GET" && target == "/metrics" {
        let body = proxy.metrics();
        let text = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            crate::prometheus::CONTENT_TYPE,
            body.len()
        );
        let _ = tokio::time::timeout(RESPOND_TIMEOUT, async {
            let _ = client.write_all(text.as_bytes()).await;
            let _ = client.shutdown().await;
        })
        .await;
        return;
    }
    if method != "CONNECT" {
        if proxy.stats.refuse(Refusal::MethodNotAllowed) {
            debug!(method = truncate(method), "egress: method not allowed");
        }
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
            proxy.stats.refuse(Refusal::BadRequest);
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
        if proxy.stats.refuse(Refusal::DestinationNotAllowed) {
            warn!(destination = %dest, "egress refused: destination not in the allowlist");
        }
        respond(
            &mut client,
            "403 Forbidden",
            "",
            "destination not allowed by the egress policy\n",
        )
        .await;
        return;
    }
    let Ok(_permit) = proxy.tunnels.clone().try_acquire_owned() else {
        if proxy.stats.refuse(Refusal::TunnelLimit) {
            warn!(
                max = proxy.max_tunnels,
                "egress refused: tunnel limit reached"
            );
        }
        respond(
            &mut client,
            "503 Service Unavailable",
            "",
            "tunnel limit reached\n",
        )
        .await;
        return;
    };
    let dial = TcpStream::connect((dest.resolver_host(), dest.port));
    let upstream = match tokio::time::timeout(proxy.connect_timeout, dial).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            if proxy.stats.refuse(Refusal::UpstreamUnreachable) {
                warn!(destination = %dest, error = %e, "egress upstream unreachable");
            }
            respond(&mut client, "502 Bad Gateway", "", "upstream unreachable\n").await;
            return;
        }
        Err(_) => {
            if proxy.stats.refuse(Refusal::UpstreamUnreachable) {
                warn!(destination = %dest, timeout_ms = proxy.connect_timeout.as_millis() as u64, "egress upstream connect timed out");
            }
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
    proxy.stats.tunnels_opened.fetch_add(1, Ordering::Relaxed);
    let _open = proxy.stats.tunnels_open.enter();
    info!(destination = %dest, "tunnel opened");
    let r = relay(client, upstream, proxy.idle_timeout, proxy.linger).await;
    info!(
        destination = %dest,
        up_bytes = r.up + early.len() as u64,
        down_bytes = r.down,
        idle_timeout = r.idle_timeout,
        "tunnel closed"
    );
}

/// A client-supplied token cut to a loggable length.
fn truncate(s: &str) -> &str {
    let mut end = s.len().min(32);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
