//! One WebSocket connection of the gateway, in three steps: the upgrade (`upgrade`:
//! origin, budgets, the pending pool), the handshake and admission (`handshake`:
//! challenge, `connect`, token, authenticated slot) and the loop (`requests`:
//! requests, ticks, rate, idle timeout, the shutdown drain), during which an idle
//! connection's codec is replaced when a burst grew its buffers (`shrink`). One task
//! does it all: every wait also writes the connection's queue (`io`). This file holds
//! the connection's state, how it ends and how it closes.

mod handshake;
mod io;
mod requests;
mod shrink;
mod upgrade;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio_tungstenite::tungstenite::{self, Message};
use tracing::{debug, info, warn};

use super::admission::{ConnectionGuard, PendingSlot};
use super::conns::{Conn, MISSED_RUN_END};
use super::limits::{CLOSE_REPLY_WAIT, OUTBOX_CLOSE_NOW_WAIT, OUTBOX_CLOSE_WAIT};
use super::metrics::{Disconnect, FrameReject, Handshake};
use super::transport::frame_gate::Oversize;
use super::transport::outbox::{OutboxSender, SendError};
use super::transport::writer::{WriteEnd, Writer};
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
    conn_id: Arc<str>,
    /// The connection's send queue (its writer is in `io`).
    out: OutboxSender,
    io: io::Io,
    /// Messages read from the socket so far (see `FrameGate::at_message_boundary`).
    delivered: u64,
    /// The place in the pending pool, until `connect` succeeds.
    pending: Option<PendingSlot>,
    /// The authenticated slot, from `connect` on.
    slot: Option<ConnectionGuard>,
    /// Set by a successful `connect`: the grant and the handle events reach it by.
    client: Option<Arc<Conn>>,
}

impl Connection {
    /// The connection's state, boxed: it is moved once, into the heap, and the task
    /// holds a pointer to it rather than a copy of it per await point.
    fn boxed(
        socket: WsStream,
        gw: Arc<Gateway>,
        peer: SocketAddr,
        conn_id: Arc<str>,
        pending: PendingSlot,
    ) -> Box<Connection> {
        let out = OutboxSender::new(
            gw.limits.send_queue,
            gw.limits.max_buffered_bytes,
            gw.outbound.clone(),
        );
        let writer = Writer::new(out.clone(), gw.limits.send_timeout());
        Box::new(Connection {
            gw,
            peer,
            conn_id,
            out,
            io: io::Io::new(socket, writer),
            delivered: 0,
            pending: Some(pending),
            slot: None,
            client: None,
        })
    }

    async fn run(mut self: Box<Self>) {
        debug!("websocket opened");
        // The handshake and the close run boxed, so that the task a held connection
        // keeps (the loop's state) does not also reserve room for their state.
        let end = match Box::pin(self.handshake()).await {
            Ok(protocol) => {
                let started = std::time::Instant::now();
                let end = self.serve(protocol).await;
                self.unregister();
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
        Box::pin(self.finish(end)).await;
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

    /// Queues a response, waiting at most `--send-timeout-ms` for room (the queue is
    /// written meanwhile).
    async fn respond(&mut self, frame: &ResponseFrame) -> Result<(), End> {
        let sent = self
            .io
            .writing(self.out.send_json(frame, self.gw.limits.send_timeout()))
            .await;
        match sent {
            Ok(sent) => sent.map_err(send_end),
            Err(end) => Err(self.wrote(end)),
        }
    }

    async fn reply_err(&mut self, id: serde_json::Value, error: ErrorShape) -> Result<(), End> {
        self.respond(&ResponseFrame::err(id, error)).await
    }

    /// How the connection ends once its writer ended.
    fn wrote(&self, end: WriteEnd) -> End {
        End::Drop(match (self.out.closing(), end) {
            (Some(reason), _) => reason,
            (None, WriteEnd::Stalled) => SLOW_CONSUMER,
            (None, WriteEnd::Failed | WriteEnd::Closed) => "socket write failed",
        })
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
    async fn finish(self: Box<Self>, end: End) {
        // The slots are held until the close is written: the shutdown drain waits for
        // them, and the process must not exit under a close frame still queued.
        let Connection {
            out,
            mut io,
            gw,
            slot,
            pending,
            ..
        } = *self;
        let slots = (slot, pending);
        // A close asked for outside the queue (a run's end that found it full, the
        // shutdown): written after what the queue holds; wait for it (bounded).
        if let Some(reason) = out.closing() {
            if reason == MISSED_RUN_END {
                gw.metrics.disconnect(Disconnect::MissedRunEnd);
            }
            debug!(reason, "closing after the send queue");
            io.close(close::GOING_AWAY, reason, OUTBOX_CLOSE_WAIT).await;
            io.drain(CLOSE_REPLY_WAIT).await;
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
            }
            End::Close(code, reason) => {
                debug!(code, reason, "closing");
                io.close(code, reason, OUTBOX_CLOSE_WAIT).await;
                io.drain(CLOSE_REPLY_WAIT).await;
            }
            End::CloseNow(code, reason) => {
                debug!(code, reason, "closing");
                // Closed to make room: the room is given back before the close is
                // written.
                drop(slots);
                io.close(code, reason, OUTBOX_CLOSE_NOW_WAIT).await;
            }
        }
        debug!("websocket closed");
    }
}

/// The size of the task each connection runs as (its future), noted when the first
/// one starts.
static TASK_BYTES: AtomicUsize = AtomicUsize::new(0);

fn note_task_bytes(bytes: usize) {
    TASK_BYTES.store(bytes, Ordering::Relaxed);
}

/// See [`TASK_BYTES`] (`clawdbot_connection_task_bytes`; 0 before the first connection).
pub fn connection_task_bytes() -> usize {
    TASK_BYTES.load(Ordering::Relaxed)
}

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
