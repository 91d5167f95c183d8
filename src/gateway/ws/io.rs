//! The socket of one connection as its task sees it: one task reads and writes. Every
//! wait of the connection (the next message, a method's work, room for a response,
//! the close) keeps the queue's writer (`transport::writer`) going meanwhile, so that
//! no second task is needed to write.

use std::future::{poll_fn, Future};
use std::task::Poll;
use std::time::Duration;

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::gateway::transport::writer::{WriteEnd, Writer};
use crate::gateway::transport::WsStream;

/// What a wait for the next message ended with.
pub(super) enum Event {
    /// The next message (`None`: the socket is gone).
    Read(Option<Result<Message, tungstenite::Error>>),
    /// The writer ended.
    Wrote(WriteEnd),
    /// The gateway is shutting down.
    Shutdown,
}

pub(super) struct Io {
    /// The socket (`None` only for the instant `shrink` rebuilds its codec).
    pub(super) ws: Option<WsStream>,
    pub(super) writer: Writer,
}

impl Io {
    pub(super) fn new(ws: WsStream, writer: Writer) -> Io {
        Io {
            ws: Some(ws),
            writer,
        }
    }

    fn poll_write(&mut self, cx: &mut std::task::Context<'_>) -> Poll<WriteEnd> {
        match &mut self.ws {
            Some(ws) => self.writer.poll_write(ws, cx),
            None => Poll::Pending,
        }
    }

    /// The next message, writing the queue meanwhile (or the shutdown, once the
    /// gateway stops this connection).
    pub(super) fn next(&mut self) -> impl Future<Output = Event> + '_ {
        poll_fn(move |cx| {
            if self.writer.stopping() {
                return Poll::Ready(Event::Shutdown);
            }
            if let Poll::Ready(end) = self.poll_write(cx) {
                return Poll::Ready(Event::Wrote(end));
            }
            match &mut self.ws {
                Some(ws) => ws.poll_next_unpin(cx).map(Event::Read),
                None => Poll::Ready(Event::Read(None)),
            }
        })
    }

    /// Awaits `work`, writing the queue meanwhile; `Err` when the writer ended first.
    pub(super) async fn writing<F: Future>(&mut self, work: F) -> Result<F::Output, WriteEnd> {
        let mut work = std::pin::pin!(work);
        poll_fn(|cx| {
            if let Poll::Ready(out) = work.as_mut().poll(cx) {
                return Poll::Ready(Ok(out));
            }
            self.poll_write(cx).map(Err)
        })
        .await
    }

    /// Writes what the queue holds, then the close frame (a close asked for before
    /// wins), for at most `wait`; then the socket may be dropped without one.
    pub(super) async fn close(&mut self, code: u16, reason: &'static str, wait: Duration) {
        self.writer.close_after(code, reason);
        let _ = tokio::time::timeout(wait, poll_fn(|cx| self.poll_write(cx))).await;
    }

    /// Reads (and drops) what the client still sends, for at most `wait`: its close
    /// reply, so that the close frame is not lost to a TCP reset.
    pub(super) async fn drain(&mut self, wait: Duration) {
        if let Some(ws) = &mut self.ws {
            let drain = async { while let Some(Ok(_)) = ws.next().await {} };
            let _ = tokio::time::timeout(wait, drain).await;
        }
    }
}
