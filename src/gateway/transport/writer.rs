//! Writes one connection's queue (`transport::outbox`) to its socket, polled by the
//! connection's own task beside its reads (`ws::io`): no task of its own.
//!
//! Every frame queued at that moment (at most [`OUTBOX_MAX_BATCH`]) is fed to the
//! codec, then flushed once, so a burst of events costs one write rather than one per
//! frame. The frames' bytes count against the queue's bounds until they are flushed.
//! The list of frames in flight is allocated per burst and freed once the queue is
//! drained, so an idle connection's writer holds no buffer.
//!
//! The writer gives up on a socket that takes no bytes for `--send-timeout-ms` while it
//! has something to write (whether or not the client sends requests); a reader that
//! drains, however slowly, is never cut for being slow. Its timer exists only while
//! output waits for the socket.
//!
//! A close asked for outside the queue ([`OutboxSender::close_after`]) is written once
//! the queue is empty: the last frame (if any), then the close frame; the writer then
//! ends with [`WriteEnd::Closed`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Sink;
use tokio::time::{Instant, Sleep};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use super::outbox::{Out, OutboxSender};
use super::shared_frame::SharedFrame;
use super::WsStream;
use crate::gateway::limits::OUTBOX_MAX_BATCH;

/// How the writer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteEnd {
    /// The socket took no bytes for the stall time while frames waited.
    Stalled,
    /// The socket failed.
    Failed,
    /// The close frame was written.
    Closed,
}

/// Where the writer is with a close asked for outside the queue.
enum Close {
    /// None asked for, or not yet taken (the queue is not drained).
    Open,
    /// Taken: its last frame, then its close frame, still to feed.
    Last(Utf8Bytes, u16, &'static str),
    /// Taken: its close frame still to feed.
    Frame(u16, &'static str),
    /// The close frame was handed to the codec: the writer ends once it is flushed.
    Fed,
}

/// The writing side of one connection: what it took from the queue and has not
/// flushed yet, and the watch on the socket's progress. A frame leaves the queue only
/// once the codec can take it.
pub struct Writer {
    queue: OutboxSender,
    stall: Duration,
    close: Close,
    /// Frames fed to the codec and not flushed yet, kept until then (their charge to
    /// the budget of all connections), and their bytes in this queue's bound.
    in_flight: Vec<SharedFrame>,
    in_flight_bytes: usize,
    /// Messages fed since the last flush.
    batch: usize,
    unflushed: bool,
    ended: Option<WriteEnd>,
    /// While output waits for the socket: when to look at its progress again, and
    /// the progress seen when it started waiting.
    watch: Option<(Pin<Box<Sleep>>, u64)>,
}

impl Writer {
    /// Writes `queue`; gives up when the socket takes no bytes for `stall` while it
    /// has something to write.
    pub fn new(queue: OutboxSender, stall: Duration) -> Writer {
        Writer {
            queue,
            stall,
            close: Close::Open,
            in_flight: Vec::new(),
            in_flight_bytes: 0,
            batch: 0,
            unflushed: false,
            ended: None,
            watch: None,
        }
    }

    /// True when everything taken from the queue was flushed (nothing of the queue is
    /// inside the codec) and the writer is still going.
    pub fn is_idle(&self) -> bool {
        self.ended.is_none() && !self.unflushed && matches!(self.close, Close::Open)
    }

    /// Asks for a close after the queue (see [`OutboxSender::close_after`]; a close
    /// asked for before wins).
    pub fn close_after(&self, code: u16, reason: &'static str) {
        self.queue.close_after(None, code, reason);
    }

    /// True once the gateway asked this connection to stop ([`OutboxSender::stop`]).
    pub fn stopping(&self) -> bool {
        self.queue.stopping()
    }

    /// Writes what the queue holds. `Pending` while the writer goes on (the task is
    /// woken when a frame is queued or the socket takes more); `Ready` once it ended,
    /// and from then on.
    pub fn poll_write(&mut self, ws: &mut WsStream, cx: &mut Context<'_>) -> Poll<WriteEnd> {
        if let Some(end) = self.ended {
            return Poll::Ready(end);
        }
        self.queue.register(cx.waker());
        let Poll::Ready(end) = self.drive(ws, cx) else {
            return Poll::Pending;
        };
        self.ended = Some(end);
        self.watch = None;
        self.in_flight = Vec::new();
        if end == WriteEnd::Stalled {
            self.queue.set_stalled();
        }
        self.queue.set_gone();
        Poll::Ready(end)
    }

    /// True when there is a message to feed now: the close's frames, or a queued frame
    /// within the batch.
    fn has_next(&self) -> bool {
        match self.close {
            Close::Last(..) | Close::Frame(..) => true,
            Close::Fed => false,
            Close::Open => self.batch < OUTBOX_MAX_BATCH && !self.queue.is_empty(),
        }
    }

    /// The next message to feed (the codec is ready for it).
    fn next_message(&mut self) -> Option<Message> {
        match std::mem::replace(&mut self.close, Close::Open) {
            Close::Last(text, code, reason) => {
                self.close = Close::Frame(code, reason);
                Some(Message::Text(text))
            }
            Close::Frame(code, reason) => {
                self.close = Close::Fed;
                Some(close_message(code, reason))
            }
            Close::Fed => {
                self.close = Close::Fed;
                None
            }
            Close::Open => Some(match self.queue.pop()? {
                Out::Text(frame) | Out::Latest(frame) => {
                    self.in_flight_bytes += self.queue.charge(frame.len());
                    let text = frame.text();
                    self.in_flight.push(frame);
                    Message::Text(text)
                }
                Out::Ping => Message::Ping(Default::default()),
            }),
        }
    }

    fn drive(&mut self, ws: &mut WsStream, cx: &mut Context<'_>) -> Poll<WriteEnd> {
        loop {
            if self.has_next() {
                match Pin::new(&mut *ws).poll_ready(cx) {
                    Poll::Pending => return self.blocked(ws, cx),
                    Poll::Ready(Err(_)) => return Poll::Ready(WriteEnd::Failed),
                    Poll::Ready(Ok(())) => {}
                }
                if let Some(message) = self.next_message() {
                    if Pin::new(&mut *ws).start_send(message).is_err() {
                        return Poll::Ready(WriteEnd::Failed);
                    }
                    self.unflushed = true;
                    self.batch += 1;
                }
                continue;
            }
            if self.unflushed {
                match Pin::new(&mut *ws).poll_flush(cx) {
                    Poll::Pending => return self.blocked(ws, cx),
                    Poll::Ready(Err(_)) => return Poll::Ready(WriteEnd::Failed),
                    Poll::Ready(Ok(())) => {}
                }
                self.unflushed = false;
                self.batch = 0;
                self.watch = None;
                self.in_flight.clear();
                self.queue
                    .release(std::mem::take(&mut self.in_flight_bytes));
                if matches!(self.close, Close::Fed) {
                    return Poll::Ready(WriteEnd::Closed);
                }
                continue;
            }
            // Everything queued is on the wire: a close asked for outside the queue
            // goes out now.
            if matches!(self.close, Close::Open) {
                if let Some((last, code, reason)) = self.queue.take_close() {
                    self.close = match last {
                        Some(text) => Close::Last(text, code, reason),
                        None => Close::Frame(code, reason),
                    };
                    continue;
                }
            }
            // Idle: nothing held.
            self.in_flight = Vec::new();
            return Poll::Pending;
        }
    }

    /// Output waits for the socket: `Ready(Stalled)` once the socket took no bytes for
    /// the stall time.
    fn blocked(&mut self, ws: &WsStream, cx: &mut Context<'_>) -> Poll<WriteEnd> {
        let stall = self.stall;
        let written = ws.get_ref().written();
        let (sleep, seen) = self
            .watch
            .get_or_insert_with(|| (Box::pin(tokio::time::sleep(stall)), written));
        while sleep.as_mut().poll(cx).is_ready() {
            let now = ws.get_ref().written();
            if now == *seen {
                return Poll::Ready(WriteEnd::Stalled);
            }
            *seen = now;
            sleep.as_mut().reset(Instant::now() + stall);
        }
        Poll::Pending
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Frames still queued go back to the budget now; senders get `Closed`.
        self.queue.set_gone();
    }
}

fn close_message(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code: CloseCode::from(code),
        reason: Utf8Bytes::from_static(reason),
    }))
}
