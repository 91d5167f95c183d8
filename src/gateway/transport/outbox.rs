//! The bounded send queue of one connection and the task that writes it to the socket.
//!
//! The queue is bounded three times: in frames (`--send-queue`), in bytes
//! (`--max-buffered-bytes`, a semaphore whose permits the writer returns once a frame
//! is on the wire), and by the budget shared by all connections
//! (`--max-buffered-bytes-total`, [`OutboundBudget`]). Responses wait for room at most
//! `--send-timeout-ms` (backpressure: meanwhile the connection reads no further
//! requests); events never wait. A client that does not read within that time is
//! disconnected, so its memory use, and the sum over all clients, stays bounded.

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::SplitSink;
use futures_util::SinkExt;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use super::WsStream;

/// Outgoing bytes queued across all connections: a semaphore of
/// `--max-buffered-bytes-total` permits.
#[derive(Debug, Clone)]
pub struct OutboundBudget {
    permits: Arc<Semaphore>,
    max: usize,
}

impl OutboundBudget {
    pub fn new(max_bytes: usize) -> Self {
        let max = max_bytes.clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
        OutboundBudget {
            permits: Arc::new(Semaphore::new(max)),
            max,
        }
    }
    /// Bytes queued now.
    pub fn used(&self) -> usize {
        self.max.saturating_sub(self.permits.available_permits())
    }
    pub fn max(&self) -> usize {
        self.max
    }
    fn permits(&self, len: usize) -> u32 {
        len.clamp(1, self.max) as u32
    }
}

enum Out {
    /// A text frame (shared: an event fanned out to many connections is one buffer)
    /// with its permits in this queue's bytes and in the budget of all connections.
    Text(Utf8Bytes, OwnedSemaphorePermit, OwnedSemaphorePermit),
    Ping,
    Close(u16, String),
}

/// Why a frame could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// No room: the client does not read fast enough.
    SlowConsumer,
    /// The writer stopped (socket error or already closed).
    Closed,
}

pub struct Outbox {
    /// The queue and its bounds; also handed out (cloned) for frames produced outside
    /// the connection's loop, so every frame passes the same bounds.
    queue: OutboxSender,
    writer: JoinHandle<()>,
}

type Sink = SplitSink<WsStream, Message>;

impl Outbox {
    pub fn new(sink: Sink, frames: usize, max_bytes: usize, global: OutboundBudget) -> Self {
        let (tx, rx) = mpsc::channel(frames.max(1));
        let max_bytes = max_bytes.clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
        let writer = tokio::spawn(write_loop(sink, rx));
        Outbox {
            queue: OutboxSender {
                tx,
                bytes: Arc::new(Semaphore::new(max_bytes)),
                max_bytes,
                global,
            },
            writer,
        }
    }

    /// A cloneable handle on this queue (events fanned out to subscribers, the final
    /// response of a long-running request).
    pub fn sender(&self) -> OutboxSender {
        self.queue.clone()
    }

    /// Queues a frame, waiting at most `wait` for room.
    pub async fn send_json<T: serde::Serialize>(
        &self,
        frame: &T,
        wait: Duration,
    ) -> Result<(), SendError> {
        self.queue.send_json(frame, wait).await
    }

    /// Queues a frame only if there is room now.
    pub fn try_send_json<T: serde::Serialize>(&self, frame: &T) -> Result<(), SendError> {
        let text = serde_json::to_string(frame).map_err(|_| SendError::Closed)?;
        self.queue.try_send_text(text.into())
    }

    pub fn ping(&self) -> Result<(), SendError> {
        self.queue.tx.try_send(Out::Ping).map_err(map_try)
    }

    /// Resolves when the writer stops.
    pub async fn closed(&self) {
        self.queue.tx.closed().await
    }

    /// Queues a close frame and waits (bounded) until it is written. A full queue means
    /// the client is not reading: then the socket is dropped without a close frame.
    pub async fn close(self, code: u16, reason: &str) {
        let queued = self
            .queue
            .tx
            .try_send(Out::Close(code, reason.to_string()))
            .is_ok();
        drop(self.queue);
        let mut writer = self.writer;
        if queued
            && tokio::time::timeout(Duration::from_secs(2), &mut writer)
                .await
                .is_ok()
        {
            return;
        }
        writer.abort();
    }

    /// Queues a close frame and lets the writer finish on its own (bounded by
    /// [`CLOSE_NOW_WAIT`]) without waiting for it: for connections closed to make room.
    pub fn close_now(self, code: u16, reason: &str) {
        let _ = self.queue.tx.try_send(Out::Close(code, reason.to_string()));
        drop(self.queue);
        let writer = self.writer;
        tokio::spawn(async move {
            let mut writer = writer;
            if tokio::time::timeout(CLOSE_NOW_WAIT, &mut writer)
                .await
                .is_err()
            {
                writer.abort();
            }
        });
    }

    /// Stops the writer at once (slow consumer): no close frame, the socket is dropped.
    pub fn abort(self) {
        self.writer.abort();
    }
}

/// How long [`Outbox::close_now`] lets the close frame take.
const CLOSE_NOW_WAIT: Duration = Duration::from_millis(200);

fn map_try<T>(e: mpsc::error::TrySendError<T>) -> SendError {
    match e {
        mpsc::error::TrySendError::Full(_) => SendError::SlowConsumer,
        mpsc::error::TrySendError::Closed(_) => SendError::Closed,
    }
}

/// Most frames written between two flushes.
const MAX_BATCH: usize = 64;

/// Writes the queue to the socket: every frame queued at that moment (at most
/// [`MAX_BATCH`]) is fed to the socket, then flushed once, so a burst of events costs
/// one write rather than one per frame. The frames' permits are returned after the
/// flush: until then their bytes still count against the bounds.
async fn write_loop(mut sink: Sink, mut rx: mpsc::Receiver<Out>) {
    let mut written = Vec::with_capacity(MAX_BATCH);
    'frames: while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(item) = next.take() {
            let fed = match item {
                Out::Text(text, permit, global) => {
                    written.push((permit, global));
                    sink.feed(Message::Text(text)).await
                }
                Out::Ping => sink.feed(Message::Ping(Default::default())).await,
                Out::Close(code, reason) => {
                    let frame = CloseFrame {
                        code: CloseCode::from(code),
                        reason: reason.into(),
                    };
                    // `send` flushes what was fed before it too.
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    break 'frames;
                }
            };
            if fed.is_err() {
                break 'frames;
            }
            if written.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        let flushed = sink.flush().await;
        written.clear();
        if flushed.is_err() {
            break;
        }
    }
    rx.close();
}

/// A cloneable handle on a connection's queue for frames produced outside its loop
/// (events fanned out to subscribers, the final response of a long-running request).
/// It shares the queue's frame and byte bounds and the budget of all connections; it
/// never grows them.
#[derive(Clone)]
pub struct OutboxSender {
    tx: mpsc::Sender<Out>,
    bytes: Arc<Semaphore>,
    max_bytes: usize,
    global: OutboundBudget,
}

impl OutboxSender {
    /// Permits a frame of `len` bytes takes (a frame larger than the whole budget
    /// takes all of it, so it is sent alone).
    fn permits(&self, len: usize) -> u32 {
        len.clamp(1, self.max_bytes) as u32
    }

    /// Bytes queued on this connection and not yet written, besides `own` (the permits
    /// of the frame the caller is queueing).
    fn queued_besides(&self, own: &OwnedSemaphorePermit) -> usize {
        self.max_bytes
            .saturating_sub(self.bytes.available_permits())
            .saturating_sub(own.num_permits())
    }

    /// Queues already-serialized text only if there is room now, in this queue and in
    /// the budget of all connections (events: a slow reader misses them rather than
    /// growing the queue).
    pub fn try_send_text(&self, text: Utf8Bytes) -> Result<(), SendError> {
        let permit = self
            .bytes
            .clone()
            .try_acquire_many_owned(self.permits(text.len()))
            .map_err(|_| SendError::SlowConsumer)?;
        let global = self
            .global
            .permits
            .clone()
            .try_acquire_many_owned(self.global.permits(text.len()))
            .map_err(|_| SendError::SlowConsumer)?;
        self.tx
            .try_send(Out::Text(text, permit, global))
            .map_err(map_try)
    }

    /// Queues a frame, waiting at most `wait` for room (responses).
    pub async fn send_json<T: serde::Serialize>(
        &self,
        frame: &T,
        wait: Duration,
    ) -> Result<(), SendError> {
        let text = Utf8Bytes::from(serde_json::to_string(frame).map_err(|_| SendError::Closed)?);
        let deadline = tokio::time::Instant::now() + wait;
        let permit = tokio::time::timeout_at(
            deadline,
            self.bytes
                .clone()
                .acquire_many_owned(self.permits(text.len())),
        )
        .await
        .map_err(|_| SendError::SlowConsumer)?
        .map_err(|_| SendError::Closed)?;
        let wanted = self.global.permits(text.len());
        let global = match self.global.permits.clone().try_acquire_many_owned(wanted) {
            Ok(p) => p,
            // The budget of all connections is used up. A connection that still has
            // frames queued is one of the readers holding it: dropped at once, which
            // frees its bytes. One with an empty queue (a new client, a quiet one) waits.
            Err(_) if self.queued_besides(&permit) > 0 => return Err(SendError::SlowConsumer),
            Err(_) => tokio::time::timeout_at(
                deadline,
                self.global.permits.clone().acquire_many_owned(wanted),
            )
            .await
            .map_err(|_| SendError::SlowConsumer)?
            .map_err(|_| SendError::Closed)?,
        };
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        self.tx
            .send_timeout(Out::Text(text, permit, global), remaining)
            .await
            .map_err(|e| match e {
                mpsc::error::SendTimeoutError::Timeout(_) => SendError::SlowConsumer,
                mpsc::error::SendTimeoutError::Closed(_) => SendError::Closed,
            })
    }
}
