//! One WebSocket connection of the gateway, in three steps: the upgrade (`upgrade`:
//! origin, budgets, the pending pool), the handshake and admission (`handshake`:
//! challenge, `connect`, token, authenticated slot) and the loop (`requests`:
//! requests, ticks, rate, idle timeout, the shutdown drain), during which an idle
//! connection's codec is replaced when a burst grew its buffers (`shrink`). This file
//! holds the connection's state, how it ends and how it closes.

mod handshake;
mod requests;
mod shrink;
mod upgrade;

use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::stream::SplitStream;
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::{self, Message};
use tracing::{debug, info, warn};

use super::admission::{ConnectionGuard, PendingSlot};
use super::conns::{Conn, MISSED_RUN_END};
use super::limits::CLOSE_REPLY_WAIT;
use super::metrics::{Disconnect, FrameReject, Handshake};
use super::transport::frame_gate::{GateLimit, HighWater, Oversize};
use super::transport::outbox::{Outbox, SendError};
use super::transport::WsStream;
use super::Gateway;
use crate::protocol::{close, ErrorShape, ResponseFrame};

pub use upgrade::upgrade;

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
    /// The read half of the socket (`None` only for the instant `shrink` rebuilds it).
    stream: Option<SplitStream<WsStream>>,
    /// Messages read from `stream` so far (see `FrameGate::at_message_boundary`).
    delivered: u64,
    /// The largest frame the codec carried since it was last rebuilt.
    high_water: HighWater,
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
        let high_water = socket.get_ref().high_water();
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
            stream: Some(stream),
            delivered: 0,
            high_water,
            limit,
            pending: Some(pending),
            slot: None,
            client: None,
        };
        debug!("websocket opened");
        // The handshake and the close run boxed, so that the task a held connection
        // keeps (the loop's state) does not also reserve room for their state.
        let end = match Box::pin(conn.handshake()).await {
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
        Box::pin(conn.finish(end)).await;
    }

    /// Resolves when this pending connection is evicted from the pool (never after auth).
    fn evicted(&self) -> impl std::future::Future<Output = ()> + 'static {
        let evicted = self.pending.as_ref().map(|p| p.evicted_future());
        async move {
            match evicted {
                Some(evicted) => evicted.await,
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
        // The slots are held until the close is written: the shutdown drain waits for
        // them, and the process must not exit under a close frame still queued.
        let Connection {
            out,
            mut stream,
            gw,
            slot,
            pending,
            ..
        } = self;
        let _slots = (slot, pending);
        // A close asked for outside the queue (a run's end that found it full, the
        // shutdown): the writer sends it after what it holds; wait for it (bounded).
        if let Some(reason) = out.closing() {
            if reason == MISSED_RUN_END {
                gw.metrics.disconnect(Disconnect::MissedRunEnd);
            }
            debug!(reason, "closing after the send queue");
            out.close(close::GOING_AWAY, reason).await;
            let drain = async { while let Some(Ok(_)) = next_message(&mut stream).await {} };
            let _ = tokio::time::timeout(CLOSE_REPLY_WAIT, drain).await;
            debug!("websocket closed");
            return;
        }
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
                let drain = async { while let Some(Ok(_)) = next_message(&mut stream).await {} };
                let _ = tokio::time::timeout(CLOSE_REPLY_WAIT, drain).await;
            }
            End::CloseNow(code, reason) => {
                debug!(code, reason, "closing");
                out.close_now(code, reason);
            }
        }
        debug!("websocket closed");
    }
}

const CLIENT_GONE: &str = "client went away";

const SLOW_CONSUMER: &str = "send queue full (slow consumer)";

fn send_end(e: SendError) -> End {
    match e {
        SendError::SlowConsumer => End::Drop(SLOW_CONSUMER),
        SendError::Closed => End::Drop("socket closed"),
    }
}

/// The next message of the read half (`None`: the socket is gone).
async fn next_message(
    stream: &mut Option<SplitStream<WsStream>>,
) -> Option<Result<Message, tungstenite::Error>> {
    match stream {
        Some(s) => s.next().await,
        None => None,
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
