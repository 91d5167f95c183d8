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
use tokio::sync::OwnedSemaphorePermit;
use tracing::{debug, info, warn};

use super::allow::Destination;
use super::bounds::{HEAD_READ_CHUNK, LOG_TOKEN_MAX, MAX_HEAD, RESPOND_TIMEOUT};
use super::pending::PendingSlot;
use super::pipe::relay;
use super::stats::Refusal;
use super::Proxy;

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
    let mut buf = Vec::with_capacity(HEAD_READ_CHUNK);
    let mut chunk = [0u8; HEAD_READ_CHUNK];
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

/// A refusal: status line, extra header lines and body of the short response.
struct Reply {
    status: &'static str,
    extra: &'static str,
    body: &'static str,
}

impl Reply {
    const fn new(status: &'static str, body: &'static str) -> Reply {
        Reply {
            status,
            extra: "",
            body,
        }
    }

    async fn send(self, client: &mut TcpStream) {
        respond(client, self.status, self.extra, self.body).await;
    }
}

const BAD_REQUEST: &str = "400 Bad Request";
const UNAVAILABLE: &str = "503 Service Unavailable";
const BAD_GATEWAY: &str = "502 Bad Gateway";

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
        Err(e) => return head_refusal(&proxy, e).send(&mut client).await,
    };
    let (method, target) = match request_line(&proxy, &head) {
        Ok(line) => line,
        Err(reply) => return reply.send(&mut client).await,
    };
    match (method, target) {
        ("GET", "/health") => health(&mut client, &proxy).await,
        ("GET", "/metrics") => metrics(&mut client, &proxy).await,
        _ => tunnel(client, &proxy, method, target, early).await,
    }
}

/// The answer to a client whose request head did not arrive whole.
fn head_refusal(proxy: &Proxy, e: HeadError) -> Reply {
    match e {
        HeadError::Evicted | HeadError::Closed => Reply::new(UNAVAILABLE, "proxy busy\n"),
        HeadError::Timeout => {
            if proxy.stats.refuse(Refusal::HeadTimeout) {
                debug!("egress: no request head in time");
            }
            Reply::new(
                "408 Request Timeout",
                "timed out waiting for the request head\n",
            )
        }
        HeadError::TooLarge | HeadError::NotUtf8 => {
            let reason = if e == HeadError::TooLarge {
                "request head too large\n"
            } else {
                "request head is not UTF-8\n"
            };
            if proxy.stats.refuse(Refusal::BadRequest) {
                debug!(reason = reason.trim_end(), "egress: bad request");
            }
            Reply::new(BAD_REQUEST, reason)
        }
    }
}

/// The method and target of an HTTP/1.x request line.
fn request_line<'h>(proxy: &Proxy, head: &'h str) -> Result<(&'h str, &'h str), Reply> {
    let mut parts = head.lines().next().unwrap_or("").split_whitespace();
    let (method, target, version) = (parts.next(), parts.next(), parts.next());
    let (Some(method), Some(target), Some(version)) = (method, target, version) else {
        proxy.stats.refuse(Refusal::BadRequest);
        return Err(Reply::new(BAD_REQUEST, "malformed request line\n"));
    };
    if !version.starts_with("HTTP/1.") {
        proxy.stats.refuse(Refusal::BadRequest);
        return Err(Reply::new(BAD_REQUEST, "HTTP/1.x only\n"));
    }
    Ok((method, target))
}

/// `GET /health`: 200 with the version (for `clawdbot healthcheck --port`).
async fn health(client: &mut TcpStream, proxy: &Proxy) {
    proxy.stats.health_answered.fetch_add(1, Ordering::Relaxed);
    let body = format!(
        "{{\"status\":\"ok\",\"version\":\"{}\"}}",
        env!("CARGO_PKG_VERSION")
    );
    respond(client, "200 OK", "", &body).await;
}

/// `GET /metrics`: the counters in the Prometheus text format.
async fn metrics(client: &mut TcpStream, proxy: &Proxy) {
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
}

/// A `CONNECT` to an allowed destination, within the tunnel limit: dials it, answers
/// 200 and relays (with the bytes the client sent after its head).
async fn tunnel(mut client: TcpStream, proxy: &Proxy, method: &str, target: &str, early: Vec<u8>) {
    let (dest, _permit) = match admit(proxy, method, target) {
        Ok(admitted) => admitted,
        Err(reply) => return reply.send(&mut client).await,
    };
    let mut upstream = match dial(proxy, &dest).await {
        Ok(s) => s,
        Err(reply) => return reply.send(&mut client).await,
    };
    if client
        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .await
        .is_err()
    {
        return;
    }
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

/// The checks before a tunnel: `CONNECT` only, a `HOST:PORT` target, the allowlist,
/// then a tunnel slot (held by the returned permit).
fn admit(
    proxy: &Proxy,
    method: &str,
    target: &str,
) -> Result<(Destination, OwnedSemaphorePermit), Reply> {
    if method != "CONNECT" {
        if proxy.stats.refuse(Refusal::MethodNotAllowed) {
            debug!(method = truncate(method), "egress: method not allowed");
        }
        return Err(Reply {
            status: "405 Method Not Allowed",
            extra: "Allow: CONNECT\r\n",
            body: "only CONNECT is supported (this proxy tunnels HTTPS)\n",
        });
    }
    let Ok(dest) = Destination::parse(target) else {
        proxy.stats.refuse(Refusal::BadRequest);
        return Err(Reply::new(
            BAD_REQUEST,
            "CONNECT target must be HOST:PORT\n",
        ));
    };
    if !proxy.allow.allows(&dest) {
        if proxy.stats.refuse(Refusal::DestinationNotAllowed) {
            warn!(destination = %dest, "egress refused: destination not in the allowlist");
        }
        return Err(Reply::new(
            "403 Forbidden",
            "destination not allowed by the egress policy\n",
        ));
    }
    let Ok(permit) = proxy.tunnels.clone().try_acquire_owned() else {
        if proxy.stats.refuse(Refusal::TunnelLimit) {
            warn!(
                max = proxy.max_tunnels,
                "egress refused: tunnel limit reached"
            );
        }
        return Err(Reply::new(UNAVAILABLE, "tunnel limit reached\n"));
    };
    Ok((dest, permit))
}

/// Connects to the destination within `--connect-timeout-ms`.
async fn dial(proxy: &Proxy, dest: &Destination) -> Result<TcpStream, Reply> {
    let dial = TcpStream::connect((dest.resolver_host(), dest.port));
    match tokio::time::timeout(proxy.connect_timeout, dial).await {
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            Ok(s)
        }
        Ok(Err(e)) => {
            if proxy.stats.refuse(Refusal::UpstreamUnreachable) {
                warn!(destination = %dest, error = %e, "egress upstream unreachable");
            }
            Err(Reply::new(BAD_GATEWAY, "upstream unreachable\n"))
        }
        Err(_) => {
            if proxy.stats.refuse(Refusal::UpstreamUnreachable) {
                warn!(destination = %dest, timeout_ms = proxy.connect_timeout.as_millis() as u64, "egress upstream connect timed out");
            }
            Err(Reply::new(BAD_GATEWAY, "upstream connect timed out\n"))
        }
    }
}

/// A client-supplied token cut to a loggable length.
fn truncate(s: &str) -> &str {
    let mut end = s.len().min(LOG_TOKEN_MAX);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
