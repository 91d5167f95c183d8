//! The handshake and admission of one connection: the `connect.challenge` event, then
//! the first frame must be a valid `connect` (protocol range, token, failed-auth
//! budgets) within `--handshake-timeout-ms`, while the connection holds a place in the
//! pending pool (a newer one may evict it). Success moves it to an authenticated slot,
//! raises the frame limit to `--max-payload` and answers `hello-ok`; every refusal goes
//! through [`Connection::refuse`]: count it, answer the request, close.

use std::sync::Arc;

use serde_json::{json, Value};
use tokio::time::{sleep_until, Instant};
use tokio_tungstenite::tungstenite::Message;
use tracing::{debug, info, warn};

use super::io::Event;
use super::{read_result, send_end, Connection, End};
use crate::gateway::auth::{AuthOutcome, MISMATCH_MESSAGE, MISSING_MESSAGE, RATE_LIMITED_MESSAGE};
use crate::gateway::conns::Conn;
use crate::gateway::limits::RETRY_LATER_MS;
use crate::gateway::methods;
use crate::gateway::metrics::{FrameReject, Handshake, UpgradeRefused};
use crate::gateway::quota;
use crate::gateway::scopes::Grant;
use crate::logging::clip;
use crate::protocol::{
    close, codes, negotiate, now_ms, ClientFrame, ConnectParams, ErrorShape, EventFrame,
    ResponseFrame, LATEST_PROTOCOL,
};

const NOT_CONNECT: &str = "invalid handshake: first request must be connect";

impl Connection {
    /// Challenge, then the first frame must be a valid `connect`. Returns the protocol.
    pub(super) async fn handshake(&mut self) -> Result<u32, End> {
        let nonce = uuid::Uuid::new_v4().to_string();
        // Waits for room like a response: while slow readers hold the global outbound
        // budget, a new client's (empty) queue waits instead of failing.
        let challenge = EventFrame::challenge(&nonce, now_ms());
        let wait = self.gw.limits.send_timeout();
        match self.io.writing(self.out.send_json(&challenge, wait)).await {
            Ok(sent) => sent.map_err(send_end)?,
            Err(end) => return Err(self.wrote(end)),
        }
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
                event = self.io.next() => event,
            };
            let msg = match msg {
                Event::Read(msg) => msg,
                Event::Wrote(end) => {
                    self.handshake_result(Handshake::Aborted);
                    return Err(self.wrote(end));
                }
                // Only registered (authenticated) connections are stopped this way.
                Event::Shutdown => {
                    self.handshake_result(Handshake::Aborted);
                    return Err(End::Close(close::GOING_AWAY, "gateway shutting down"));
                }
            };
            if let Some(Ok(_)) = &msg {
                self.delivered += 1;
            }
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

    /// Refuses the handshake: counts `result`, answers the request with `error`, then
    /// ends with a close frame (`code`, `reason`).
    async fn refuse(
        &mut self,
        result: Handshake,
        id: Value,
        error: ErrorShape,
        code: u16,
        reason: &'static str,
    ) -> Result<u32, End> {
        self.handshake_result(result);
        self.reply_err(id, error).await?;
        Err(End::Close(code, reason))
    }

    async fn connect(&mut self, text: &str) -> Result<u32, End> {
        let Ok(ClientFrame::Req(req)) = serde_json::from_str::<ClientFrame>(text) else {
            debug!("handshake refused: first frame is not a request");
            self.gw.metrics.frame_rejected(FrameReject::Invalid);
            self.handshake_result(Handshake::Invalid);
            return Err(End::Close(close::POLICY_VIOLATION, NOT_CONNECT));
        };
        let id = req.id;
        if req.method != "connect" {
            debug!(
                method = clip(&req.method),
                "handshake refused: first request is not connect"
            );
            let error = ErrorShape::invalid(NOT_CONNECT);
            let invalid = Handshake::Invalid;
            return self
                .refuse(invalid, id, error, close::POLICY_VIOLATION, NOT_CONNECT)
                .await;
        }
        let (params, min, max) = match connect_params(req.params) {
            Ok(p) => p,
            Err(message) => {
                let error = ErrorShape::invalid(message);
                return self
                    .refuse(
                        Handshake::Invalid,
                        id,
                        error,
                        close::POLICY_VIOLATION,
                        "invalid connect params",
                    )
                    .await;
            }
        };
        let Some(protocol) = negotiate(min, max) else {
            info!(min, max, "handshake refused: protocol mismatch");
            let error = ErrorShape::invalid("protocol mismatch")
                .with_details(json!({ "expectedProtocol": LATEST_PROTOCOL }));
            return self
                .refuse(
                    Handshake::ProtocolMismatch,
                    id,
                    error,
                    close::PROTOCOL_ERROR,
                    "protocol mismatch",
                )
                .await;
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
            let error = ErrorShape::new(codes::INVALID_REQUEST, RATE_LIMITED_MESSAGE)
                .retry_after(wait.as_millis() as u64);
            return self
                .refuse(
                    Handshake::AuthBlocked,
                    id,
                    error,
                    close::POLICY_VIOLATION,
                    "too many failed attempts",
                )
                .await;
        }
        let presented = params.auth.as_ref().and_then(|a| a.token.as_deref());
        let outcome = self.gw.auth.check(presented);
        if outcome != AuthOutcome::Ok {
            let blocked = self.gw.auth_failures.record(ip, &client_id);
            let (result, message, reason) = match outcome {
                AuthOutcome::Missing => (
                    Handshake::AuthMissing,
                    MISSING_MESSAGE,
                    "unauthorized: gateway token missing",
                ),
                _ => (
                    Handshake::AuthMismatch,
                    MISMATCH_MESSAGE,
                    "unauthorized: gateway token mismatch",
                ),
            };
            warn!(reason, peer_blocked = blocked, "handshake refused");
            let error = ErrorShape::invalid(message);
            return self
                .refuse(result, id, error, close::POLICY_VIOLATION, reason)
                .await;
        }
        // Authenticated: leave the pending pool for an authenticated slot.
        let Some(slot) = self.gw.conns.try_acquire(self.gw.limits.max_connections) else {
            self.gw
                .metrics
                .upgrade_refused(UpgradeRefused::ConnectionLimit);
            let error = ErrorShape::new(codes::UNAVAILABLE, "too many connections (retry later)")
                .retry_after(RETRY_LATER_MS);
            return self
                .refuse(
                    Handshake::Aborted,
                    id,
                    error,
                    close::TRY_AGAIN_LATER,
                    "too many connections",
                )
                .await;
        };
        self.slot = Some(slot);
        self.pending = None;
        if let Some(ws) = &mut self.io.ws {
            ws.get_mut().set_limit(self.gw.limits.max_payload);
        }
        let share = quota::client_identity(&params).map(|key| self.gw.client_shares.join(key));
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
        let client = Arc::new(Conn::new(
            self.conn_id.clone(),
            grant,
            self.out.clone(),
            share,
        ));
        self.gw.clients.insert(client.clone());
        self.client = Some(client);
        self.respond(&ResponseFrame::ok(id, hello)).await?;
        Ok(protocol)
    }
}

/// The `connect` params with their protocol range, or the error message.
fn connect_params(params: Option<Value>) -> Result<(ConnectParams, i64, i64), &'static str> {
    let Some(Ok(params)) = params.map(serde_json::from_value::<ConnectParams>) else {
        return Err("invalid connect params");
    };
    match (params.min_protocol, params.max_protocol) {
        (Some(min), Some(max)) => Ok((params, min, max)),
        _ => Err("invalid connect params: minProtocol and maxProtocol are required"),
    }
}
