//! The bounded send queue of one connection and the task that writes it to the socket.
//!
//! The queue is bounded twice: in frames (`--send-queue`) and in bytes
//! (`--max-buffered-bytes`, a semaphore whose permits the writer returns once a frame
//! is on the wire). Responses wait for room at most `--send-timeout-ms` (backpressure:
//! meanwhile the connection reads no further requests); events never wait. A client
//! that does not read within that time is disconnected, so its memory use stays bounded.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::stream::SplitSink;
use futures_util::SinkExt;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

enum Out {
    Text(String, OwnedSemaphorePermit),
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
    tx: mpsc::Sender<Out>,
    bytes: Arc<Semaphore>,
    max_bytes: usize,
    writer: JoinHandle<()>,
}

impl Outbox {
    pub fn new(sink: SplitSink<WebSocket, Message>, frames: usize, max_bytes: usize) -> Self {
        let (tx, rx) = mpsc::channel(frames.max(1));
        let max_bytes = max_bytes.clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
        let writer = tokio::spawn(write_loop(sink, rx));
        Outbox {
            tx,
            bytes: Arc::new(Semaphore::new(max_bytes)),
            max_bytes,
            writer,
        }
    }

    /// Permits a frame of `len` bytes takes (a frame larger than the whole budget
    /// takes all of it, so it is sent alone).
    fn permits(&self, len: usize) -> u32 {
        len.clamp(1, self.max_bytes) as u32
    }

    /// Queues a frame, waiting at most `wait` for room.
    pub async fn send_json<T: serde::Serialize>(
        &self,
        frame: &T,
        wait: Duration,
    ) -> Result<(), SendError> {
        let text = serde_json::to_string(frame).map_err(|_| SendError::Closed)?;
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
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        self.tx
            .send_timeout(Out::Text(text, permit), remaining)
            .await
            .map_err(|e| match e {
                mpsc::error::SendTimeoutError::Timeout(_) => SendError::SlowConsumer,
                mpsc::error::SendTimeoutError::Closed(_) => SendError::Closed,
            })
    }

    /// Queues a frame only if there is room now.
    pub fn try_send_json<T: serde::Serialize>(&self, frame: &T) -> Result<(), SendError> {
        let text = serde_json::to_string(frame).map_err(|_| SendError::Closed)?;
        let permit = self
            .bytes
            .clone()
            .try_acquire_many_owned(self.permits(text.len()))
            .map_err(|_| SendError::SlowConsumer)?;
        self.tx.try_send(Out::Text(text, permit)).map_err(map_try)
    }

    pub fn ping(&self) -> Result<(), SendError> {
        self.tx.try_send(Out::Ping).map_err(map_try)
    }

    /// Resolves when the writer stops.
    pub async fn closed(&self) {
        self.tx.closed().await
    }

    /// Queues a close frame and waits (bounded) until it is written. A full queue means
    /// the client is not reading: then the socket is dropped without a close frame.
    pub async fn close(self, code: u16, reason: &str) {
        let queued = self
            .tx
            .try_send(Out::Close(code, reason.to_string()))
            .is_ok();
        drop(self.tx);
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

    /// Stops the writer at once (slow consumer): no close frame, the socket is dropped.
    pub fn abort(self) {
        self.writer.abort();
    }
}

fn map_try<T>(e: mpsc::error::TrySendError<T>) -> SendError {
    match e {
        mpsc::error::TrySendError::Full(_) => SendError::SlowConsumer,
        mpsc::error::TrySendError::Closed(_) => SendError::Closed,
    }
}

async fn write_loop(mut sink: SplitSink<WebSocket, Message>, mut rx: mpsc::Receiver<Out>) {
    while let Some(item) = rx.recv().await {
        let result = match item {
            Out::Text(text, permit) => {
                let r = sink.send(Message::Text(text.into())).await;
                drop(permit);
                r
            }
            Out::Ping => sink.send(Message::Ping(Default::default())).await,
            Out::Close(code, reason) => {
                let frame = CloseFrame {
                    code,
                    reason: reason.into(),
                };
                let _ = sink.send(Message::Close(Some(frame))).await;
                break;
            }
        };
        if result.is_err() {
            break;
        }
    }
    rx.close();
}

/// A cloneable handle on a connection's queue for frames produced outside its loop
/// (events fanned out to subscribers, the final response of a long-running request).
/// It shares the queue's frame and byte bounds; it never grows them.
#[derive(Clone)]
pub struct OutboxSender {
    tx: mpsc::Sender<Out>,
    bytes: Arc<Semaphore>,
    max_bytes: usize,
}

impl Outbox {
    pub fn sender(&self) -> OutboxSender {
        OutboxSender {
            tx: self.tx.clone(),
            bytes: self.bytes.clone(),
            max_bytes: self.max_bytes,
        }
    }
}

impl OutboxSender {
    fn permit_now(&self, len: usize) -> Result<OwnedSemaphorePermit, SendError> {
        self.bytes
            .clone()
            .try_acquire_many_owned(len.clamp(1, self.max_bytes) as u32)
            .map_err(|_| SendError::SlowConsumer)
    }

    /// Queues already-serialized text only if there is room now (events: a slow reader
    /// misses them rather than growing the queue).
    pub fn try_send_text(&self, text: String) -> Result<(), SendError> {
        let permit = self.permit_now(text.len())?;
        self.tx.try_send(Out::Text(text, permit)).map_err(map_try)
    }

    /// Queues a frame, waiting at most `wait` for room (responses).
    pub async fn send_json<T: serde::Serialize>(
        &self,
        frame: &T,
        wait: Duration,
    ) -> Result<(), SendError> {
        let text = serde_json::to_string(frame).map_err(|_| SendError::Closed)?;
        let deadline = tokio::time::Instant::now() + wait;
        let permit = tokio::time::timeout_at(
            deadline,
            self.bytes
                .clone()
                .acquire_many_owned(text.len().clamp(1, self.max_bytes) as u32),
        )
        .await
        .map_err(|_| SendError::SlowConsumer)?
        .map_err(|_| SendError::Closed)?;
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        self.tx
            .send_timeout(Out::Text(text, permit), remaining)
            .await
            .map_err(|e| match e {
                mpsc::error::SendTimeoutError::Timeout(_) => SendError::SlowConsumer,
                mpsc::error::SendTimeoutError::Closed(_) => SendError::Closed,
            })
    }
}
