//! A bounded server-sent-events body: events wait in a buffer of at most
//! `--openai-sse-buffer-bytes` until the client reads them. A sender that finds the
//! buffer full waits up to `--send-timeout-ms`, then gives up ([`SendError::Slow`]); the
//! caller cuts the connection. A client that goes away closes the body, which the
//! sender sees at once ([`SseSender::closed`]).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

/// Why an event was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The client went away (the body was dropped).
    Closed,
    /// The buffer stayed full for the send timeout.
    Slow,
}

/// The producing side of a stream.
#[derive(Debug)]
pub struct SseSender {
    tx: mpsc::UnboundedSender<(Bytes, OwnedSemaphorePermit)>,
    budget: Arc<Semaphore>,
    max: usize,
    timeout: Duration,
}

/// A sender and the response body it feeds (bytes in flight at most `max_bytes`).
pub fn channel(max_bytes: usize, timeout: Duration) -> (SseSender, Body) {
    let (tx, rx) = mpsc::unbounded_channel::<(Bytes, OwnedSemaphorePermit)>();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        // The permit goes back when hyper takes the bytes (its own buffer is bounded).
        let (bytes, _permit) = rx.recv().await?;
        Some((Ok::<_, Infallible>(bytes), rx))
    });
    let sender = SseSender {
        tx,
        budget: Arc::new(Semaphore::new(max_bytes)),
        max: max_bytes,
        timeout,
    };
    (sender, Body::from_stream(stream))
}

impl SseSender {
    /// Queues `data: <json>\n\n`.
    pub async fn event(&self, value: &serde_json::Value) -> Result<(), SendError> {
        self.raw(format!("data: {value}\n\n")).await
    }

    /// Queues the final `data: [DONE]\n\n`.
    pub async fn done(&self) -> Result<(), SendError> {
        self.raw("data: [DONE]\n\n".to_string()).await
    }

    async fn raw(&self, text: String) -> Result<(), SendError> {
        let cost = text.len().clamp(1, self.max) as u32;
        let permit = tokio::select! {
            p = tokio::time::timeout(self.timeout, self.budget.clone().acquire_many_owned(cost)) => match p {
                Ok(Ok(p)) => p,
                Ok(Err(_)) => return Err(SendError::Closed),
                Err(_) => return Err(SendError::Slow),
            },
            () = self.tx.closed() => return Err(SendError::Closed),
        };
        self.tx
            .send((Bytes::from(text), permit))
            .map_err(|_| SendError::Closed)
    }

    /// Resolves when the client went away (the body was dropped).
    pub async fn closed(&self) {
        self.tx.closed().await;
    }

    /// Bytes waiting for the client.
    pub fn buffered(&self) -> usize {
        self.max - self.budget.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn a_full_buffer_times_out_and_a_dropped_body_closes() {
        let (tx, body) = channel(1024, Duration::from_millis(200));
        let big = json!({ "x": "y".repeat(600) });
        tx.event(&big).await.expect("first fits");
        assert!(tx.buffered() > 600);
        assert_eq!(tx.event(&big).await, Err(SendError::Slow));
        drop(body);
        assert_eq!(tx.event(&json!(1)).await, Err(SendError::Closed));
        tx.closed().await;
    }
}
