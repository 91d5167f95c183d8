//! One WebSocket connection: the upgrade (origin, budgets), challenge, `connect`
//! handshake, then requests, ticks and the limits (rate, idle, handshake timeout, frame
//! size, bounded send queue).
//!
//! The upgrade is done here rather than by axum's extractor so that the socket under
//! the codec is a [`FrameGate`]: until `connect` succeeds, frames larger than
//! `--max-preauth-payload` are refused by their header, before anything is buffered.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::stream::SplitStream;
use futures_util::StreamExt;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::time::{sleep_until, Instant};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;
use tracing::{debug, info, info_span, warn, Instrument};

use super::auth::{AuthOutcome, MISMATCH_MESSAGE, MISSING_MESSAGE, RATE_LIMITED_MESSAGE};
use super::conns::Conn;
use super::frame_gate::{FrameGate, GateLimit, Oversize};
use super::limits::{ConnectionGuard, PendingSlot, RateLimiter};
use super::methods;
use super::outbox::{Outbox, SendError};
use super::scopes::Grant;
use super::Gateway;
use crate::logging::clip;
use crate::metrics::{Disconnect, FrameReject, Handshake, RequestResult, UpgradeRefused};
use crate::protocol::{
    close, codes, negotiate, now_ms, ClientFrame, ConnectParams, ErrorShape, EventFrame,
    RequestFrame, ResponseFrame, LATEST_PROTOCOL,
};

/// The socket of one gateway connection.
pub type WsStream = WebSocketStream<FrameGate<TokioIo<hyper::upgrade::Upgraded>>>;

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
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(e) => {
                debug!(%peer, error = %e, "upgrade failed");
                return;
            }
        };
        let limit = GateLimit::new(gw.limits.max_preauth_payload);
        let socket = FrameGate::new(TokioIo::new(upgraded), limit.clone());
        let ws = WebSocketStream::from_raw_socket(socket, Role::Server, Some(ws_config(&gw))).await;
        let conn_id = uuid::Uuid::new_v4().to_string();
        let span = info_span!("conn", conn_id = %conn_id, %peer);
        Connection::run(ws, gw, peer, conn_id, pending, limit)
            .instrument(span)
            .await
    });
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

/// Codec settings: the gate enforces the size limits first; these are the backstop.
fn ws_config(gw: &Gateway) -> WebSocketConfig {
    let max = gw.limits.max_payload;
    WebSocketConfig::default()
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
        // Small per-connection buffers (tungstenite's defaults are 128 KiB each, which
        // dominated memory per idle connection); larger frames still grow the buffer.
        .read_buffer_size(WS_BUFFER_BYTES)
        .write_buffer_size(WS_BUFFER_BYTES)
        // Must stay above the write buffer size; bounds what a slow reader can queue.
        .max_write_buffer_size((gw.limits.max_buffered_bytes.max(max) * 2).max(512 * 1024))
}

/// Read and write buffer of each WebSocket connection.
const WS_BUFFER_BYTES: usize = 8 * 1024;

/// How a connection loop ended: a close frame to send, or drop the socket at once.
enum End {
    Close(u16, &'static str),
    /// Send the close frame without waiting for the client's reply.
    CloseNow(u16, &'static str),
    Drop(&'static str),
}

struct Connection {
    gw: Arc<Gateway>,
    peer: SocketAddr,
    conn_id: String,
    out: Outbox,
    stream: SplitStream<WsStream>,
    /// The inbound size limit (pre-auth until `connect` succeeds).
    limit: GateLimit,
    /// The place in the pending pool, until `connect` succeeds.
    pending: Option<PendingSlot>,
    /// The authenticated slot, from `connect` on.
    slot: Option<ConnectionGuard>,
    /// Set by a successful `connect`: the grant and the handle events reach it by.
    client: Option<Arc<Conn>>,
}

impl Connection {
    async fn run(
        socket: WsStream,
        gw: Arc<Gateway>,
        peer: SocketAddr,
        conn_id: String,
        pending: PendingSlot,
        limit: GateLimit,
    ) {
        let progress = socket.get_ref().write_progress();
        let (sink, stream) = socket.split();
        let out = Outbox::new(
            sink,
            gw.limits.send_queue,
            gw.limits.max_buffered_bytes,
            gw.outbound.clone(),
            progress,
            gw.limits.send_timeout(),
        );
        let mut conn = Connection {
            gw,
            peer,
            conn_id,
            out,
            stream,
            limit,
            pending: Some(pending),
            slot: None,
            client: None,
        };
        debug!("websocket opened");
        let end = match conn.handshake().await {
            Ok(protocol) => {
                let started = std::time::Instant::now();
                let end = conn.serve(protocol).await;
                conn.unregister();
                let reason = match &end {
                    End::Close(_, reason) | End::CloseNow(_, reason) | End::Drop(reason) => *reason,
                };
                info!(
                    reason,
                    duration_ms = started.elapsed().as_millis() as u64,
                    "client disconnected"
                );
                end
            }
            Err(end) => end,
        };
        conn.finish(end).await;
    }

    /// Resolves when this pending connection is evicted from the pool (never after auth).
    fn evicted(&self) -> impl std::future::Future<Output = ()> + 'static {
        let slot = self.pending.as_ref().map(|p| p.evicted_handle());
        async move {
            match slot {
                Some(notify) => notify.notified().await,
                None => std::future::pending().await,
            }
        }
    }

    fn handshake_result(&self, result: Handshake) {
        self.gw.metrics.handshake(result);
    }

    /// Counts an oversized frame behind a read error; true when it was one.
    fn note_read_end(&self, end: &End) -> bool {
        let oversize = matches!(end, End::Close(code, _) if *code == close::MESSAGE_TOO_BIG);
        if oversize {
            self.gw.metrics.frame_rejected(FrameReject::Oversize);
        }
        oversize
    }

    /// Queues a frame if there is room now; a full queue ends the connection.
    fn send<T: serde::Serialize>(&self, frame: &T) -> Result<(), End> {
        self.out.try_send_json(frame).map_err(send_end)
    }

    /// Queues a response, waiting at most `--send-timeout-ms` for room.
    async fn respond(&self, frame: &ResponseFrame) -> Result<(), End> {
        self.out
            .send_json(frame, self.gw.limits.send_timeout())
            .await
            .map_err(send_end)
    }

    async fn reply_err(&self, id: serde_json::Value, error: ErrorShape) -> Result<(), End> {
        self.respond(&ResponseFrame::err(id, error)).await
    }

    /// Challenge, then the first frame must be a valid `connect`. Returns the protocol.
    async fn handshake(&mut self) -> Result<u32, End> {
        let nonce = uuid::Uuid::new_v4().to_string();
        // Waits for room like a response: while slow readers hold the global outbound
        // budget, a new client's (empty) queue waits instead of failing.
        self.out
            .send_json(
                &EventFrame::challenge(&nonce, now_ms()),
                self.gw.limits.send_timeout(),
            )
            .await
            .map_err(send_end)?;
        let deadline = Instant::now() + self.gw.limits.handshake_timeout();
        let mut shutdown = self.gw.shutdown.clone();
        let evicted = self.evicted();
        tokio::pin!(evicted);
        loop {
            let msg = tokio::select! {
                _ = &mut evicted => {
                    debug!("pending connection evicted for a newer one");
                    self.handshake_result(Handshake::Evicted);
                    return Err(End::CloseNow(close::TRY_AGAIN_LATER, "too many pending connections"));
                }
                _ = sleep_until(deadline) => {
                    debug!("handshake timeout");
                    self.handshake_result(Handshake::Timeout);
                    return Err(End::Close(close::POLICY_VIOLATION, "handshake timeout"));
                }
                _ = shutdown.wait_for(|s| *s) => {
                    self.handshake_result(Handshake::Aborted);
                    return Err(End::Close(close::GOING_AWAY, "gateway shutting down"));
                }
                msg = self.stream.next() => msg,
            };
            let msg = match read_result(msg) {
                Ok(m) => m,
                Err(end) => {
                    let oversize = self.note_read_end(&end);
                    self.handshake_result(if oversize {
                        Handshake::Invalid
                    } else {
                        Handshake::Aborted
                    });
                    return Err(end);
                }
            };
            let text = match msg {
                Message::Text(t) => t,
                Message::Binary(_) => {
                    self.gw.metrics.frame_rejected(FrameReject::Binary);
                    self.handshake_result(Handshake::Invalid);
                    return Err(End::Close(
                        close::POLICY_VIOLATION,
                        "invalid handshake: expected a JSON text frame",
                    ));
                }
                _ => continue,
            };
            if text.len() > self.gw.limits.max_preauth_payload {
                // Unreachable while the gate holds the pre-auth limit; kept as a backstop.
                debug!(
                    size = text.len(),
                    "handshake frame larger than the pre-auth limit"
                );
                self.gw.metrics.frame_rejected(FrameReject::Oversize);
                self.handshake_result(Handshake::Invalid);
                return Err(End::Close(
                    close::MESSAGE_TOO_BIG,
                    "handshake frame too large",
                ));
            }
            return self.connect(text.as_str()).await;
        }
    }

    async fn connect(&mut self, text: &str) -> Result<u32, End> {
        let req = match serde_json::from_str::<ClientFrame>(text) {
            Ok(ClientFrame::Req(req)) => req,
            _ => {
                debug!("handshake refused: first frame is not a request");
                self.gw.metrics.frame_rejected(FrameReject::Invalid);
                self.handshake_result(Handshake::Invalid);
                return Err(End::Close(
                    close::POLICY_VIOLATION,
                    "invalid handshake: first request must be connect",
                ));
            }
        };
        if req.method != "connect" {
            debug!(
                method = clip(&req.method),
                "handshake refused: first request is not connect"
            );
            self.handshake_result(Handshake::Invalid);
            self.reply_err(
                req.id,
                ErrorShape::invalid("invalid handshake: first request must be connect"),
            )
            .await?;
            return Err(End::Close(
                close::POLICY_VIOLATION,
                "invalid handshake: first request must be connect",
            ));
        }
        let params: ConnectParams = match req.params.clone().map(serde_json::from_value).transpose()
        {
            Ok(Some(p)) => p,
            Ok(None) | Err(_) => {
                self.handshake_result(Handshake::Invalid);
                self.reply_err(req.id, ErrorShape::invalid("invalid connect params"))
                    .await?;
                return Err(End::Close(
                    close::POLICY_VIOLATION,
                    "invalid connect params",
                ));
            }
        };
        let (Some(min), Some(max)) = (params.min_protocol, params.max_protocol) else {
            self.handshake_result(Handshake::Invalid);
            self.reply_err(
                req.id,
                ErrorShape::invalid(
                    "invalid connect params: minProtocol and maxProtocol are required",
                ),
            )
            .await?;
            return Err(End::Close(
                close::POLICY_VIOLATION,
                "invalid connect params",
            ));
        };
        let Some(protocol) = negotiate(min, max) else {
            info!(min, max, "handshake refused: protocol mismatch");
            self.handshake_result(Handshake::ProtocolMismatch);
            self.reply_err(
                req.id,
                ErrorShape::invalid("protocol mismatch")
                    .with_details(json!({ "expectedProtocol": LATEST_PROTOCOL })),
            )
            .await?;
            return Err(End::Close(close::PROTOCOL_ERROR, "protocol mismatch"));
        };
        let ip = self.peer.ip();
        let client_id = params
            .client
            .as_ref()
            .and_then(|c| c.id.as_deref())
            .unwrap_or("-")
            .to_string();
        if let Some(wait) = self.gw.auth_failures.blocked(ip, &client_id) {
            warn!("handshake refused: too many failed authentication attempts");
            self.handshake_result(Handshake::AuthBlocked);
            self.reply_err(
                req.id,
                ErrorShape::new(codes::INVALID_REQUEST, RATE_LIMITED_MESSAGE)
                    .retry_after(wait.as_millis() as u64),
            )
            .await?;
            return Err(End::Close(
                close::POLICY_VIOLATION,
                "too many failed attempts",
            ));
        }
        let presented = params.auth.as_ref().and_then(|a| a.token.as_deref());
        let outcome = self.gw.auth.check(presented);
        if outcome != AuthOutcome::Ok {
            let blocked = self.gw.auth_failures.record(ip, &client_id);
            let (message, reason) = match outcome {
                AuthOutcome::Missing => {
                    self.handshake_result(Handshake::AuthMissing);
                    (MISSING_MESSAGE, "unauthorized: gateway token missing")
                }
                _ => {
                    self.handshake_result(Handshake::AuthMismatch);
                    (MISMATCH_MESSAGE, "unauthorized: gateway token mismatch")
                }
            };
            warn!(reason, peer_blocked = blocked, "handshake refused");
            self.reply_err(req.id, ErrorShape::invalid(message)).await?;
            return Err(End::Close(close::POLICY_VIOLATION, reason));
        }
        // Authenticated: leave the pending pool for an authenticated slot.
        let Some(slot) = self.gw.conns.try_acquire(self.gw.limits.max_connections) else {
            self.gw
                .metrics
                .upgrade_refused(UpgradeRefused::ConnectionLimit);
            self.handshake_result(Handshake::Aborted);
            self.reply_err(
                req.id,
                ErrorShape::new(codes::UNAVAILABLE, "too many connections (retry later)")
                    .retry_after(1000),
            )
            .await?;
            return Err(End::Close(close::TRY_AGAIN_LATER, "too many connections"));
        };
        self.slot = Some(slot);
        self.pending = None;
        self.limit.set(self.gw.limits.max_payload);
        let client = params.client.unwrap_or_default();
        info!(
            protocol,
            client_id = clip(client.id.as_deref().unwrap_or("-")),
            client_version = clip(client.version.as_deref().unwrap_or("-")),
            client_mode = clip(client.mode.as_deref().unwrap_or("-")),
            role = clip(params.role.as_deref().unwrap_or("-")),
            device_identity = params.device.is_some(),
            "client connected"
        );
        self.handshake_result(Handshake::Ok);
        let grant = Grant::from_connect(params.role.as_deref(), params.scopes.as_deref());
        let hello = methods::hello_ok(&self.gw, protocol, &self.conn_id, &grant);
        let client = Arc::new(Conn::new(self.conn_id.clone(), grant, self.out.sender()));
        self.gw.clients.insert(client.clone());
        self.client = Some(client);
        self.respond(&ResponseFrame::ok(req.id, hello)).await?;
        Ok(protocol)
    }

    /// After the handshake: requests, ticks, idle timeout and shutdown.
    async fn serve(&mut self, protocol: u32) -> End {
        let gw = self.gw.clone();
        let limits = &gw.limits;
        let mut rate = RateLimiter::new(limits.rate_limit, limits.rate_burst);
        let tick_every = limits.tick_interval();
        let mut tick = tokio::time::interval_at(Instant::now() + tick_every, tick_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let idle_timeout = limits.idle_timeout();
        let idle = tokio::time::sleep(idle_timeout);
        tokio::pin!(idle);
        let mut shutdown = self.gw.shutdown.clone();
        loop {
            let msg = tokio::select! {
                // The watch guard is dropped inside the block: only `()` lives across
                // the drain's await.
                _ = async { let _ = shutdown.wait_for(|s| *s).await; } => {
                    return self.shutting_down().await;
                }
                _ = tick.tick() => {
                    // A full queue skips this tick (responses, not events, decide when a
                    // reader is too slow); a client that stops reading also stops
                    // answering pings and meets the idle timeout.
                    let tick = self.out.try_send_json(&EventFrame::tick(now_ms()));
                    if tick == Err(SendError::Closed) || self.out.ping() == Err(SendError::Closed) {
                        return End::Drop("socket closed");
                    }
                    continue;
                }
                _ = &mut idle => {
                    info!(idle_ms = idle_timeout.as_millis() as u64, "idle timeout");
                    self.gw.metrics.disconnect(Disconnect::IdleTimeout);
                    return End::Close(close::NORMAL, "idle timeout");
                }
                _ = self.out.closed() => return End::Drop(if self.out.stalled() {
                    SLOW_CONSUMER
                } else {
                    "socket write failed"
                }),
                msg = self.stream.next() => msg,
            };
            idle.as_mut().reset(Instant::now() + idle_timeout);
            let msg = match read_result(msg) {
                Ok(m) => m,
                Err(end) => {
                    self.note_read_end(&end);
                    return end;
                }
            };
            let text = match msg {
                Message::Text(t) => t,
                Message::Binary(_) => {
                    self.gw.metrics.frame_rejected(FrameReject::Binary);
                    return End::Close(close::POLICY_VIOLATION, "binary frames are not supported");
                }
                _ => continue,
            };
            // Every text frame spends a token, requests or not.
            let limited = rate.try_take().err();
            let req = match serde_json::from_str::<ClientFrame>(text.as_str()) {
                Ok(ClientFrame::Req(req)) => req,
                Ok(ClientFrame::Other) => continue,
                Err(_) => {
                    self.gw.metrics.frame_rejected(FrameReject::Invalid);
                    return End::Close(close::POLICY_VIOLATION, "invalid frame");
                }
            };
            if let Some(wait) = limited {
                debug!(method = clip(&req.method), "request rate limited");
                self.gw
                    .metrics
                    .request(&req.method, RequestResult::RateLimited);
                let error = ErrorShape::new(
                    codes::UNAVAILABLE,
                    format!(
                        "rate limit exceeded: at most {} requests per second (retry later)",
                        limits.rate_limit
                    ),
                )
                .retry_after(wait.as_millis().max(1) as u64);
                if let Err(end) = self.reply_err(req.id, error).await {
                    return end;
                }
                continue;
            }
            if let Err(end) = self.request(protocol, req).await {
                return end;
            }
        }
    }

    /// The `shutdown` event, then a 1001 close. Runs this connection started end with
    /// the drain (`UNAVAILABLE` "shutting down"); their final `agent` responses are
    /// queued before the event, waited for at most [`RUN_DRAIN_WAIT`].
    async fn shutting_down(&mut self) -> End {
        if let Some(client) = &self.client {
            let until = Instant::now() + RUN_DRAIN_WAIT;
            while client
                .pending_replies
                .load(std::sync::atomic::Ordering::SeqCst)
                > 0
                && Instant::now() < until
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        let _ = self.send(&EventFrame::new(
            "shutdown",
            json!({ "reason": "gateway stopping" }),
        ));
        self.gw.metrics.disconnect(Disconnect::Shutdown);
        End::Close(close::GOING_AWAY, "gateway shutting down")
    }

    async fn request(&mut self, protocol: u32, req: RequestFrame) -> Result<(), End> {
        let started = std::time::Instant::now();
        let method = req.method.clone();
        let Some(client) = self.client.clone() else {
            return Err(End::Close(close::POLICY_VIOLATION, "not connected"));
        };
        let ctx = methods::Ctx {
            gw: &self.gw,
            conn: &client,
            protocol,
            req: &req,
        };
        // A request still running when shutdown begins is answered at once; the loop
        // then sends the `shutdown` event and the close frame.
        let mut shutdown = self.gw.shutdown.clone();
        let result = tokio::select! {
            r = methods::dispatch(&ctx) => r,
            _ = shutdown.wait_for(|s| *s) => Err(
                ErrorShape::new(codes::UNAVAILABLE, "shutting down").retry_after(1000),
            ),
        };
        let ok = result.is_ok();
        self.gw.metrics.request(
            &method,
            if ok {
                RequestResult::Ok
            } else {
                RequestResult::Error
            },
        );
        debug!(
            method = clip(&method),
            ok,
            ms = started.elapsed().as_millis() as u64,
            "request"
        );
        let frame = match result {
            Ok(payload) => ResponseFrame::ok(req.id, payload),
            Err(error) => ResponseFrame::err(req.id, error),
        };
        self.respond(&frame).await
    }

    /// Leaves the registry of connections (no more events) and cancels the runs this
    /// connection started: their upstream requests stop with them.
    fn unregister(&mut self) {
        if let Some(client) = self.client.take() {
            self.gw.clients.remove(&client.id);
            let cancelled = self.gw.runs.cancel_conn(&client.id);
            if cancelled > 0 {
                info!(
                    runs = cancelled,
                    "client went away: its runs were cancelled"
                );
            }
        }
    }

    /// Sends the close frame (or drops the socket) and waits briefly for the client's
    /// close reply so that the close frame is not lost to a TCP reset.
    async fn finish(self, end: End) {
        let Connection {
            out,
            mut stream,
            gw,
            ..
        } = self;
        match end {
            End::Drop(reason) => {
                if reason == SLOW_CONSUMER {
                    gw.metrics.disconnect(Disconnect::SlowConsumer);
                }
                if reason == CLIENT_GONE {
                    debug!(reason, "connection ended");
                } else {
                    warn!(reason, "connection dropped");
                }
                out.abort();
            }
            End::Close(code, reason) => {
                debug!(code, reason, "closing");
                out.close(code, reason).await;
                let drain = async { while let Some(Ok(_)) = stream.next().await {} };
                let _ = tokio::time::timeout(Duration::from_millis(500), drain).await;
            }
            End::CloseNow(code, reason) => {
                debug!(code, reason, "closing");
                out.close_now(code, reason);
            }
        }
        debug!("websocket closed");
    }
}

/// Longest the shutdown drain waits for a connection's runs to queue their final
/// responses before it sends the `shutdown` event.
const RUN_DRAIN_WAIT: Duration = Duration::from_secs(2);

const CLIENT_GONE: &str = "client went away";

const SLOW_CONSUMER: &str = "send queue full (slow consumer)";

fn send_end(e: SendError) -> End {
    match e {
        SendError::SlowConsumer => End::Drop(SLOW_CONSUMER),
        SendError::Closed => End::Drop("socket closed"),
    }
}

/// Maps a read result to a message, or to how the connection ends.
fn read_result(msg: Option<Result<Message, tungstenite::Error>>) -> Result<Message, End> {
    match msg {
        None => Err(End::Drop(CLIENT_GONE)),
        Some(Ok(Message::Close(_))) => Err(End::Close(close::NORMAL, "bye")),
        Some(Ok(m)) => Ok(m),
        Some(Err(tungstenite::Error::Capacity(e))) => {
            debug!(error = %e, "frame larger than the limit");
            Err(End::Close(close::MESSAGE_TOO_BIG, "message too big"))
        }
        Some(Err(tungstenite::Error::Io(e))) if Oversize::is(&e) => {
            debug!(error = %e, "frame refused by its header");
            Err(End::Close(close::MESSAGE_TOO_BIG, "message too big"))
        }
        Some(Err(e)) => {
            debug!(error = %e, "read error");
            Err(End::Drop("read error"))
        }
    }
}
