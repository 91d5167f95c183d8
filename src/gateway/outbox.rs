//! The bounded send queue of one connection and the task that writes it to the socket.
//!
//! Producers (responses, ticks, the close frame) never wait: a frame is queued only
//! while both the frame count (`--send-queue`) and the queued bytes
//! (`--max-buffered-bytes`) stay within bounds. A client that reads too slowly fills
//! the queue and is disconnected, so its memory use stays bounded.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::stream::SplitSink;
use futures_util::SinkExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

enum Out {
    Text(String),
    Ping,
    Close(u16, String),
}

/// Why a frame could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The queue is full: the client does not read fast enough.
    SlowConsumer,
    /// The writer stopped (socket error or already closed).
    Closed,
}

pub struct Outbox {
    tx: mpsc::Sender<Out>,
    queued_bytes: Arc<AtomicUsize>,
    max_bytes: usize,
    writer: JoinHandle<()>,
}

impl Outbox {
    pub fn new(sink: SplitSink<WebSocket, Message>, frames: usize, max_bytes: usize) -> Self {
        let (tx, rx) = mpsc::channel(frames.max(1));
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let writer = tokio::spawn(write_loop(sink, rx, queued_bytes.clone()));
        Outbox {
            tx,
            queued_bytes,
            max_bytes,
            writer,
        }
    }

    /// Queues a JSON frame.
    pub fn send_json<T: serde::Serialize>(&self, frame: &T) -> Result<(), SendError> {
        let text = serde_json::to_string(frame).map_err(|_| SendError::Closed)?;
        self.send_text(text)
    }

    pub fn send_text(&self, text: String) -> Result<(), SendError> {
        let len = text.len();
        let before = self.queued_bytes.fetch_add(len, Ordering::AcqRel);
        if before > 0 && before + len > self.max_bytes {
            self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            return Err(SendError::SlowConsumer);
        }
        self.tx.try_send(Out::Text(text)).map_err(|e| {
            self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            match e {
                mpsc::error::TrySendError::Full(_) => SendError::SlowConsumer,
                mpsc::error::TrySendError::Closed(_) => SendError::Closed,
            }
        })
    }

    pub fn ping(&self) -> Result<(), SendError> {
        self.tx.try_send(Out::Ping).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => SendError::SlowConsumer,
            mpsc::error::TrySendError::Closed(_) => SendError::Closed,
        })
    }

    /// True once the writer has stopped (socket error, or after a close frame).
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
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

async fn write_loop(
    mut sink: SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Out>,
    queued_bytes: Arc<AtomicUsize>,
) {
    while let Some(item) = rx.recv().await {
        let result = match item {
            Out::Text(text) => {
                let len = text.len();
                let r = sink.send(Message::Text(text.into())).await;
                queued_bytes.fetch_sub(len, Ordering::AcqRel);
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
