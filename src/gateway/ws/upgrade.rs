//! The WebSocket upgrade of `GET /` on the gateway port: refuses browser origins not
//! in `--allow-origin`, blocked peers and a full gateway before upgrading, then gives
//! the connection a place in the pending pool and starts it ([`Connection::run`]).
//!
//! The upgrade is done here rather than by axum's extractor so that the socket under
//! the codec is a [`FrameGate`]: until `connect` succeeds, frames larger than
//! `--max-preauth-payload` are refused by their header, before anything is buffered.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;
use tracing::{debug, info_span, Instrument};

use super::Connection;
use crate::gateway::admission::PendingSlot;
use crate::gateway::limits::{MIN_WRITE_BUFFER_BYTES, WS_READ_BUFFER_BYTES, WS_WRITE_BUFFER_BYTES};
use crate::gateway::metrics::UpgradeRefused;
use crate::gateway::transport::frame_gate::FrameGate;
use crate::gateway::Gateway;
use crate::logging::clip;

fn refuse(status: StatusCode, text: &'static str) -> Response {
    (status, text).into_response()
}

/// True when a comma-separated header contains `token` (case-insensitive).
fn header_has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

/// `GET /` on the gateway port: refuses browser origins not in `--allow-origin`,
/// blocked peers and a full gateway before upgrading; then the connection takes a place
/// in the pending pool until `connect` succeeds.
pub async fn upgrade(
    State(gw): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut req: Request,
) -> Response {
    if gw.is_shutting_down() {
        gw.metrics.upgrade_refused(UpgradeRefused::ShuttingDown);
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "gateway shutting down\n");
    }
    let headers = req.headers();
    // A browser always sends Origin on a WebSocket upgrade; native clients do not.
    // Refused before anything is counted, so a web page cannot use up a budget.
    if let Some(origin) = headers.get(header::ORIGIN) {
        if !gw.origin_allowed(origin) {
            debug!(%peer, origin = clip(origin.to_str().unwrap_or("?")), "upgrade refused: origin not allowed");
            gw.metrics.upgrade_refused(UpgradeRefused::Origin);
            return refuse(
                StatusCode::FORBIDDEN,
                "origin not allowed (see --allow-origin)\n",
            );
        }
    }
    if let Some(wait) = gw.auth_failures.blocked_ip(peer.ip()) {
        debug!(%peer, "upgrade refused: too many failed authentication attempts");
        gw.metrics.upgrade_refused(UpgradeRefused::AuthBlocked);
        let secs = wait.as_secs().max(1).to_string();
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, secs)],
            "too many failed authentication attempts\n",
        )
            .into_response();
    }
    if gw.conns.current() >= gw.limits.max_connections {
        debug!(%peer, max = gw.limits.max_connections, "upgrade refused: connection limit reached");
        gw.metrics.upgrade_refused(UpgradeRefused::ConnectionLimit);
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "too many connections\n");
    }
    let is_upgrade = header_has_token(headers, header::CONNECTION, "upgrade")
        && header_has_token(headers, header::UPGRADE, "websocket");
    if !is_upgrade {
        return refuse(
            StatusCode::UPGRADE_REQUIRED,
            "this is the WebSocket gateway (use ws://)\n",
        );
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        return (
            StatusCode::UPGRADE_REQUIRED,
            [(header::SEC_WEBSOCKET_VERSION, "13")],
            "unsupported WebSocket version\n",
        )
            .into_response();
    }
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
        return refuse(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key\n");
    };
    let accept = derive_accept_key(key.as_bytes());
    let Some(on_upgrade) = req.extensions_mut().remove::<hyper::upgrade::OnUpgrade>() else {
        return refuse(StatusCode::BAD_REQUEST, "connection cannot be upgraded\n");
    };
    let (pending, evicted) = gw.pending.admit(peer.ip());
    if evicted > 0 {
        debug!(%peer, evicted, "pending connections evicted for a new one");
    }
    // The upgrade's arguments are boxed and the opening runs boxed, so that the task
    // does not keep room for them once the connection runs.
    let opening = Box::new((on_upgrade, gw, peer, pending));
    let task = async move {
        let Some(conn) = Box::pin(open(opening)).await else {
            return;
        };
        let span = info_span!("conn", conn_id = %conn.conn_id, peer = %conn.peer);
        conn.run().instrument(span).await
    };
    // What every connection holds for as long as it is open (the task's future; its
    // state and its rare large steps are boxed): `clawdbot_connection_task_bytes`.
    super::note_task_bytes(std::mem::size_of_val(&task));
    tokio::spawn(task);
    let mut res = Response::new(Body::empty());
    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = res.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    res
}

/// What [`open`] needs: the upgrade to wait for, the gateway, the peer and its place
/// in the pending pool.
type Opening = (
    hyper::upgrade::OnUpgrade,
    Arc<Gateway>,
    SocketAddr,
    PendingSlot,
);

/// Waits for the upgrade, then builds the codec over the gate over the upgraded socket,
/// and the connection's state; `None` when the upgrade failed.
async fn open(opening: Box<Opening>) -> Option<Box<Connection>> {
    let (on_upgrade, gw, peer, pending) = *opening;
    let upgraded = match on_upgrade.await {
        Ok(u) => u,
        Err(e) => {
            debug!(%peer, error = %e, "upgrade failed");
            return None;
        }
    };
    let socket = FrameGate::new(TokioIo::new(upgraded), gw.limits.max_preauth_payload);
    let ws = WebSocketStream::from_raw_socket(socket, Role::Server, Some(ws_config(&gw))).await;
    let conn_id = uuid::Uuid::new_v4().to_string().into();
    Some(Connection::boxed(ws, gw, peer, conn_id, pending))
}

/// Codec settings: the gate enforces the size limits first; these are the backstop.
fn ws_config(gw: &Gateway) -> WebSocketConfig {
    let max = gw.limits.max_payload;
    WebSocketConfig::default()
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
        // Small per-connection buffers (tungstenite's defaults are 128 KiB each, which
        // dominated memory per idle connection): the read buffer is allocated with the
        // codec, so it is tiny and the frame gate reads ahead in bursts instead.
        .read_buffer_size(WS_READ_BUFFER_BYTES)
        .write_buffer_size(WS_WRITE_BUFFER_BYTES)
        // Must stay above the write buffer size; bounds what a slow reader can queue.
        .max_write_buffer_size(
            (gw.limits.max_buffered_bytes.max(max) * 2).max(MIN_WRITE_BUFFER_BYTES),
        )
}
