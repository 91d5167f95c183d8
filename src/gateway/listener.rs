//! The accept loop of each HTTP port (gateway and health): a bounded number of HTTP
//! connections, each with a deadline for its request head.
//!
//! A port takes at most `--max-http-connections` connections, plus
//! [`HTTP_HEALTH_RESERVE`](super::limits::HTTP_HEALTH_RESERVE) more that only serve
//! the health endpoints (with a short head deadline and no keep-alive); see
//! [`HttpSlots`]. When all are taken, a new connection evicts the oldest one that has
//! not sent a complete request head, so `/health` answers at once however many silent
//! sockets are held or reopened; only when every slot holds a connection past its head
//! is a new one closed as soon as it is accepted (it costs a file descriptor for an
//! instant, never a task). Every connection must send a complete request head within
//! `--http-header-timeout-ms`, which also ends a kept-alive connection that waits that
//! long for its next request. A WebSocket upgrade leaves this budget for the WebSocket
//! budgets (`ws/upgrade.rs`).
//!
//! The loop runs until `closed` (the end of the shutdown drain), so `/ready` answers
//! 503 while connections drain.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;
use tracing::warn;

use super::admission::{HttpSlot, HttpSlots};
use super::limits::{
    ACCEPT_ERROR_PAUSE, ACCEPT_WARNING_EVERY, HTTP_CLOSE_GRACE, MAX_HEAD_BYTES,
    RESERVE_HEADER_TIMEOUT, SOCKET_SEND_BUFFER,
};
use super::metrics::HttpEnd;
use super::Gateway;

/// Paths a reserve slot serves.
const HEALTH_PATHS: [&str; 3] = ["/health", "/ready", "/metrics"];

fn limit_send_buffer(stream: &tokio::net::TcpStream) {
    use std::os::fd::AsRawFd;
    let size = SOCKET_SEND_BUFFER;
    // SAFETY: setsockopt on an open socket with a valid c_int option value.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// A request extension that closes the request's HTTP connection at once (for a
/// streamed response whose reader stopped reading: hyper does not poll the body while
/// the socket is full, so only dropping the connection frees it).
#[derive(Debug, Clone, Default)]
pub struct CloseConnection(Arc<tokio::sync::Notify>);

impl CloseConnection {
    pub fn close(&self) {
        self.0.notify_one();
    }
}

/// Which of the gateway's two ports a loop serves.
#[derive(Debug, Clone, Copy)]
pub enum Port {
    Gateway,
    Health,
}

impl Port {
    fn slots(self, gw: &Gateway) -> &HttpSlots {
        match self {
            Port::Gateway => &gw.http_gateway,
            Port::Health => &gw.http_health,
        }
    }
}

/// Accepts connections on `listener` until `closed` turns true.
pub async fn run(
    listener: TcpListener,
    app: Router,
    gw: Arc<Gateway>,
    port: Port,
    mut closed: watch::Receiver<bool>,
) {
    let mut last_accept_warning: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = until_closed(&mut closed) => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors or a connection reset before accept: back off
                // briefly instead of spinning; warn at most once a minute.
                if last_accept_warning.is_none_or(|t| t.elapsed() >= ACCEPT_WARNING_EVERY) {
                    warn!(error = %e, "accept failed (raise the open-files limit if this repeats)");
                    last_accept_warning = Some(Instant::now());
                }
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        let Some(admitted) = port.slots(&gw).admit(gw.limits.max_http_connections) else {
            gw.metrics.http_end(HttpEnd::Refused);
            drop(stream);
            continue;
        };
        if admitted.evicted_one {
            gw.metrics.http_end(HttpEnd::Evicted);
        }
        let _ = stream.set_nodelay(true);
        limit_send_buffer(&stream);
        let app = app.clone();
        let gw = gw.clone();
        let closed = closed.clone();
        let slot = Arc::new(admitted.slot);
        tokio::spawn(serve_connection(stream, peer, app, gw, slot, closed));
    }
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    app: Router,
    gw: Arc<Gateway>,
    slot: Arc<HttpSlot>,
    mut closed: watch::Receiver<bool>,
) {
    let reserve = slot.is_reserve();
    let svc_gw = gw.clone();
    let svc_slot = slot.clone();
    let closer = CloseConnection::default();
    let svc_closer = closer.clone();
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        svc_slot.head_received();
        req.extensions_mut().insert(ConnectInfo(peer));
        req.extensions_mut().insert(svc_closer.clone());
        let app = app.clone();
        let gw = svc_gw.clone();
        async move {
            if reserve && !HEALTH_PATHS.contains(&req.uri().path()) {
                gw.metrics.http_end(HttpEnd::ReserveMisuse);
                let busy = (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many HTTP connections (retry later)\n",
                );
                return Ok::<_, Infallible>(busy.into_response());
            }
            app.oneshot(req).await
        }
    });
    let header_timeout = if reserve {
        gw.limits.http_header_timeout().min(RESERVE_HEADER_TIMEOUT)
    } else {
        gw.limits.http_header_timeout()
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(!reserve);
    let conn = builder
        .serve_connection(TokioIo::new(stream), svc)
        .with_upgrades();
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        // Dropping the connection closes the socket; the slot is already the new one's.
        () = slot.evicted() => return,
        () = closer.0.notified() => return,
        () = until_closed(&mut closed) => {
            conn.as_mut().graceful_shutdown();
            match tokio::time::timeout(HTTP_CLOSE_GRACE, conn.as_mut()).await {
                Ok(r) => r,
                Err(_) => return,
            }
        }
    };
    if let Err(e) = result {
        if e.is_timeout() {
            gw.metrics.http_end(HttpEnd::HeaderTimeout);
        }
    }
}

/// Resolves once `closed` is true (or its sender is gone).
async fn until_closed(closed: &mut watch::Receiver<bool>) {
    let _ = closed.wait_for(|c| *c).await;
}
