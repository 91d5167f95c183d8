//! The bounded send queue of one connection and the task that writes it to the socket.
//!
//! The queue is bounded three times: in frames (`--send-queue`), in bytes
//! (`--max-buffered-bytes`, a semaphore whose permits the writer returns once a frame
//! is on the wire: what one reader can pin), and by the budget shared by all
//! connections (`--max-buffered-bytes-total`, [`OutboundBudget`]), which counts unique
//! bytes: an event fanned out to many connections is one [`SharedFrame`], charged once.
//! Responses wait for room at most `--send-timeout-ms` (backpressure: meanwhile the
//! connection reads no further requests); events never wait. Streaming deltas are
//! coalesced per connection and run ([`OutboxSender::try_send_latest`]): each carries
//! the whole text so far, so a queued one is replaced by the newer one.
//!
//! The writer cuts a connection whose socket takes no bytes for `--send-timeout-ms`
//! while it has something to write (whether or not the client sends requests); a
//! reader that drains, however slowly, is never cut for being slow
//! ([`Outbox::stalled`]).
//!
//! A close never needs room in the queue ([`OutboxSender::close_after`]): once asked
//! for, the queue takes no more frames, the writer writes what it holds, then the last
//! frame (the `shutdown` event) and the close frame. So a frame that must not be lost
//! and finds the queue full ends the connection with a code and a reason, and a full
//! queue at shutdown still gets its `shutdown` event and close frame.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures_util::stream::SplitSink;
use futures_util::SinkExt;
use tokio::sync::{mpsc, oneshot, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use super::frame_gate::WriteProgress;
use super::shared_frame::SharedFrame;
use super::WsStream;
use crate::gateway::limits::{OUTBOX_CLOSE_NOW_WAIT, OUTBOX_CLOSE_WAIT, OUTBOX_MAX_BATCH};

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

    /// Charges `text` once (if there is room now) and wraps it for any number of
    /// queues; `None` when the budget is used up.
    pub fn try_share(&self, text: Utf8Bytes) -> Option<SharedFrame> {
        let charge = self
            .permits
            .clone()
            .try_acquire_many_owned(self.permits(text.len()))
            .ok()?;
        Some(SharedFrame::new(text, Some(charge)))
    }
}

/// One queued item. Its payloads are boxed so that the item is two words: the queue
/// allocates its slots in blocks of 32 when the connection opens, and an idle
/// connection keeps one block.
enum Out {
    /// A text frame (shared: an event fanned out to many connections is one buffer,
    /// charged once to the budget of all connections) with its permits in this queue.
    Text(Box<Queued>),
    /// The newest delta of one run (see [`OutboxSender::try_send_latest`]).
    Latest(Box<(String, Arc<LatestSlot>)>),
    Ping,
    Close(Box<(u16, String)>),
    /// Hand the socket's sink to the connection for a moment (see [`Outbox::lend`]).
    Lend(oneshot::Sender<Lent>),
}

/// A frame and the permits it holds in this queue.
type Queued = (SharedFrame, OwnedSemaphorePermit);

/// The newest queued frame of one coalescing key: replaced in place while it waits.
type LatestSlot = Mutex<Option<Queued>>;
/// Coalescing key → the slot queued for it and not yet taken by the writer.
type LatestMap = Arc<Mutex<HashMap<String, Arc<LatestSlot>>>>;

/// A close asked for outside the queue: the last frame to write before it (if any),
/// the close code and reason. Set once; the writer sends it when the queue is empty.
#[derive(Default)]
struct CloseAfter {
    /// Set once, with `close`: the queue takes no more frames.
    reason: OnceLock<&'static str>,
    /// Taken by the writer when it writes them.
    close: Mutex<Option<(Option<Utf8Bytes>, u16)>>,
    wake: Notify,
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
    /// Set by the writer when it gave up on a socket that took no bytes.
    stalled: Arc<AtomicBool>,
}

pub type Sink = SplitSink<WsStream, Message>;

impl Outbox {
    /// A queue of at most `frames` frames and `max_bytes` bytes, within `global`. The
    /// writer gives up when `progress` (bytes written to the socket) stands still for
    /// `stall` while it has something to write.
    pub fn new(
        sink: Sink,
        frames: usize,
        max_bytes: usize,
        global: OutboundBudget,
        progress: WriteProgress,
        stall: Duration,
    ) -> Self {
        let (tx, rx) = mpsc::channel(frames.max(1));
        let max_bytes = max_bytes.clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
        let latest = LatestMap::default();
        let stalled = Arc::new(AtomicBool::new(false));
        let after = Arc::new(CloseAfter::default());
        let writer = tokio::spawn(write_loop(
            sink,
            rx,
            latest.clone(),
            Watch {
                progress,
                stall,
                stalled: stalled.clone(),
            },
            after.clone(),
        ));
        Outbox {
            queue: OutboxSender {
                tx,
                bytes: Arc::new(Semaphore::new(max_bytes)),
                max_bytes,
                global,
                latest,
                stalled: stalled.clone(),
                after,
            },
            writer,
            stalled,
        }
    }

    /// True once the writer gave up because the socket took no bytes for the stall
    /// time while frames waited (the client stopped reading).
    pub fn stalled(&self) -> bool {
        self.stalled.load(Ordering::Acquire)
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
        let frame = self
            .queue
            .global
            .try_share(text.into())
            .ok_or(SendError::SlowConsumer)?;
        self.queue.try_send_shared(&frame)
    }

    /// See [`OutboxSender::close_after`].
    pub fn close_after(&self, last: Option<Utf8Bytes>, code: u16, reason: &'static str) -> bool {
        self.queue.close_after(last, code, reason)
    }

    /// See [`OutboxSender::closing`].
    pub fn closing(&self) -> Option<&'static str> {
        self.queue.closing()
    }

    pub fn ping(&self) -> Result<(), SendError> {
        self.queue.open()?;
        self.queue
            .tx
            .try_send(Out::Ping)
            .map_err(|e| self.queue.why(map_try(e)))
    }

    /// Resolves when the writer stops.
    pub async fn closed(&self) {
        self.queue.tx.closed().await
    }

    /// Queues a close frame (after the queue when it is full, see
    /// [`OutboxSender::close_after`]; a close asked for before wins) and waits (bounded)
    /// until it is written. A client that reads nothing meanwhile has its socket dropped
    /// without a close frame.
    pub async fn close(self, code: u16, reason: &'static str) {
        if self.queue.closing().is_some()
            || self
                .queue
                .tx
                .try_send(Out::Close(Box::new((code, reason.to_string()))))
                .is_err()
        {
            self.queue.close_after(None, code, reason);
        }
        drop(self.queue);
        let mut writer = self.writer;
        if tokio::time::timeout(OUTBOX_CLOSE_WAIT, &mut writer)
            .await
            .is_ok()
        {
            return;
        }
        writer.abort();
    }

    /// Queues a close frame and lets the writer finish on its own (bounded by
    /// [`OUTBOX_CLOSE_NOW_WAIT`]) without waiting for it: for connections closed to make room.
    pub fn close_now(self, code: u16, reason: &str) {
        let _ = self
            .queue
            .tx
            .try_send(Out::Close(Box::new((code, reason.to_string()))));
        drop(self.queue);
        let writer = self.writer;
        tokio::spawn(async move {
            let mut writer = writer;
            if tokio::time::timeout(OUTBOX_CLOSE_NOW_WAIT, &mut writer)
                .await
                .is_err()
            {
                writer.abort();
            }
        });
    }

    /// Borrows the socket's sink from the writer once everything queued before this
    /// call is written and flushed (to rebuild the codec of an idle connection, see
    /// `ws::shrink`). `None` when the queue is full, the writer is gone or does not
    /// answer within `wait`; then nothing was lent. Meanwhile the writer waits for the
    /// sink to come back through the returned sender (dropping it ends the writer).
    pub async fn lend(&self, wait: Duration) -> Option<Lent> {
        let (tx, rx) = oneshot::channel();
        self.queue.tx.try_send(Out::Lend(tx)).ok()?;
        tokio::time::timeout(wait, rx).await.ok()?.ok()
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

/// What the writer watches to tell a stuck socket from a slow one.
struct Watch {
    progress: WriteProgress,
    stall: Duration,
    stalled: Arc<AtomicBool>,
}

impl Watch {
    /// Awaits `io` (a feed or a flush) while the socket keeps taking bytes; `None` when
    /// it took none for the stall time (then the writer gives up).
    async fn progressing<F: std::future::Future>(&self, io: F) -> Option<F::Output> {
        tokio::pin!(io);
        let mut seen = self.progress.get();
        loop {
            match tokio::time::timeout(self.stall, &mut io).await {
                Ok(out) => return Some(out),
                Err(_) => {
                    let now = self.progress.get();
                    if now == seen {
                        self.stalled.store(true, Ordering::Release);
                        return None;
                    }
                    seen = now;
                }
            }
        }
    }
}

/// Writes the queue to the socket: every frame queued at that moment (at most
/// [`OUTBOX_MAX_BATCH`]) is fed to the socket, then flushed once, so a burst of events costs
/// one write rather than one per frame. The frames' permits are returned after the
/// flush: until then their bytes still count against the bounds. A socket that takes
/// no bytes for the stall time ends the writer (see [`Watch`]). A close asked for
/// outside the queue is written once the queue is empty ([`CloseAfter`]). The list of
/// frames in flight is allocated per burst and freed when the queue is drained, so an
/// idle connection's writer holds no buffer.
async fn write_loop(
    mut sink: Sink,
    mut rx: mpsc::Receiver<Out>,
    latest: LatestMap,
    watch: Watch,
    after: Arc<CloseAfter>,
) {
    let mut written: Vec<Queued> = Vec::new();
    'frames: loop {
        // The queue first: a close asked for outside it goes out once it is empty.
        let first = tokio::select! {
            biased;
            first = rx.recv() => first,
            _ = after.wake.notified() => None,
        };
        let Some(first) = first else {
            // The queue is empty (or every sender is gone): a close asked for outside
            // it goes out now.
            let close = after.close.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let (Some((last, code)), Some(reason)) = (close, after.reason.get().copied()) {
                if let Some(text) = last {
                    let _ = watch.progressing(sink.feed(Message::Text(text))).await;
                }
                send_close(&mut sink, &watch, code, reason).await;
            }
            break;
        };
        let mut next = Some(first);
        while let Some(item) = next.take() {
            let message = match item {
                Out::Text(queued) => {
                    let text = queued.0.text();
                    written.push(*queued);
                    Some(Message::Text(text))
                }
                Out::Latest(latest_item) => {
                    let (key, slot) = *latest_item;
                    let taken = take_latest(&latest, &key, &slot);
                    taken.map(|queued| {
                        let text = queued.0.text();
                        written.push(queued);
                        Message::Text(text)
                    })
                }
                Out::Ping => Some(Message::Ping(Default::default())),
                Out::Close(close) => {
                    let (code, reason) = *close;
                    send_close(&mut sink, &watch, code, reason.as_str()).await;
                    break 'frames;
                }
                Out::Lend(to) => {
                    // Everything before the loan goes out first.
                    if !matches!(watch.progressing(sink.flush()).await, Some(Ok(()))) {
                        break 'frames;
                    }
                    written.clear();
                    match lend(sink, to).await {
                        Some(back) => sink = back,
                        None => break 'frames,
                    }
                    None
                }
            };
            if let Some(message) = message {
                match watch.progressing(sink.feed(message)).await {
                    Some(Ok(())) => {}
                    _ => break 'frames,
                }
            }
            if written.len() < OUTBOX_MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        let flushed = watch.progressing(sink.flush()).await;
        written.clear();
        if rx.is_empty() {
            written = Vec::new();
        }
        if !matches!(flushed, Some(Ok(()))) {
            break;
        }
    }
    rx.close();
}

/// Writes a close frame (`send` flushes what was fed before it too), while the socket
/// takes bytes.
async fn send_close(sink: &mut Sink, watch: &Watch, code: u16, reason: &str) {
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: reason.to_string().into(),
    };
    let _ = watch
        .progressing(sink.send(Message::Close(Some(frame))))
        .await;
}

/// The sink lent to the connection, and where to give it back.
pub type Lent = (Sink, oneshot::Sender<Sink>);

/// The writer's side of a loan: hands `sink` over and waits for it (or its
/// replacement) to come back; `None` when the connection kept it (it is ending).
async fn lend(sink: Sink, to: oneshot::Sender<Lent>) -> Option<Sink> {
    let (back_tx, back_rx) = oneshot::channel();
    match to.send((sink, back_tx)) {
        Ok(()) => back_rx.await.ok(),
        // The borrower stopped waiting: keep the sink.
        Err((sink, _)) => Some(sink),
    }
}

/// The writer's side of a coalesced delta: unregisters the slot (so the next delta of
/// that key queues anew) and takes its frame.
fn take_latest(latest: &LatestMap, key: &str, slot: &Arc<LatestSlot>) -> Option<Queued> {
    let mut map = latest.lock().unwrap_or_else(|e| e.into_inner());
    if map.get(key).is_some_and(|s| Arc::ptr_eq(s, slot)) {
        map.remove(key);
    }
    let taken = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
    taken
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
    latest: LatestMap,
    /// Set when the writer gave up on a stuck socket: then a closed queue means a slow
    /// consumer, not a socket error.
    stalled: Arc<AtomicBool>,
    after: Arc<CloseAfter>,
}

impl OutboxSender {
    /// [`SendError::Closed`] becomes [`SendError::SlowConsumer`] once the writer gave up
    /// on a socket that took no bytes.
    fn why(&self, e: SendError) -> SendError {
        if e == SendError::Closed && self.stalled.load(Ordering::Acquire) {
            SendError::SlowConsumer
        } else {
            e
        }
    }

    /// Closes the connection without needing room in the queue: from now on the queue
    /// takes no frames; the writer writes what it holds, then `last` (if any) and a
    /// close frame with `code` and `reason`. Only the first call counts; returns
    /// whether it was this one.
    pub fn close_after(&self, last: Option<Utf8Bytes>, code: u16, reason: &'static str) -> bool {
        let mut close = self.after.close.lock().unwrap_or_else(|e| e.into_inner());
        if self.after.reason.set(reason).is_err() {
            return false;
        }
        *close = Some((last, code));
        drop(close);
        self.after.wake.notify_one();
        true
    }

    /// The reason of a close asked for with [`OutboxSender::close_after`], if any.
    pub fn closing(&self) -> Option<&'static str> {
        self.after.reason.get().copied()
    }

    /// Refuses frames once a close was asked for.
    fn open(&self) -> Result<(), SendError> {
        if self.after.reason.get().is_some() {
            Err(SendError::Closed)
        } else {
            Ok(())
        }
    }

    /// Permits a frame of `len` bytes takes (a frame larger than the whole budget
    /// takes all of it, so it is sent alone).
    fn permits(&self, len: usize) -> u32 {
        len.clamp(1, self.max_bytes) as u32
    }

    /// Wraps `text` for any number of queues, charged once to the budget of all
    /// connections. When the budget is used up, a droppable frame (a delta) is not
    /// sent (`None`); any other event goes uncharged: it is small, and still counted
    /// in full by each queue it enters.
    pub fn share(&self, text: Utf8Bytes, droppable: bool) -> Option<SharedFrame> {
        // A clone of the text is a reference to the same buffer.
        match self.global.try_share(text.clone()) {
            Some(frame) => Some(frame),
            None if droppable => None,
            None => Some(SharedFrame::new(text, None)),
        }
    }

    /// Queues a shared frame only if there is room now in this queue (events: a slow
    /// reader misses them rather than growing the queue). The frame was charged to the
    /// budget of all connections once, by whoever shared it.
    pub fn try_send_shared(&self, frame: &SharedFrame) -> Result<(), SendError> {
        self.try_send_shared_inner(frame).map_err(|e| self.why(e))
    }

    fn try_send_shared_inner(&self, frame: &SharedFrame) -> Result<(), SendError> {
        self.open()?;
        let permit = self
            .bytes
            .clone()
            .try_acquire_many_owned(self.permits(frame.len()))
            .map_err(|_| SendError::SlowConsumer)?;
        self.tx
            .try_send(Out::Text(Box::new((frame.clone(), permit))))
            .map_err(map_try)
    }

    /// Bytes queued on this connection and not yet written.
    fn queued_bytes(&self) -> usize {
        self.max_bytes
            .saturating_sub(self.bytes.available_permits())
    }

    /// Queues a delta under `key` (one run's stream of one event). When the reader is
    /// behind (at least 1/8 of its byte bound queued) and a delta of the same key is
    /// still queued, that one is replaced by this one, which carries the whole text so
    /// far; otherwise this one is queued if there is room now. A reader too slow for
    /// every delta gets the newest, never a growing backlog; one that keeps up gets
    /// every delta.
    pub fn try_send_latest(&self, key: &str, frame: &SharedFrame) -> Result<(), SendError> {
        self.open()?;
        let mut map = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        // Behind: an eighth of the bytes queued, or half the frames (many small deltas
        // must not fill the queue before the end events of the runs).
        let behind = self.queued_bytes() >= self.max_bytes / 8
            || self.tx.capacity() < self.tx.max_capacity() / 2;
        if let Some(slot) = map.get(key).filter(|_| behind) {
            let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
            if slot.is_some() {
                // Release the older frame's bytes before taking the newer one's.
                *slot = None;
                let permit = self
                    .bytes
                    .clone()
                    .try_acquire_many_owned(self.permits(frame.len()))
                    .map_err(|_| SendError::SlowConsumer)?;
                *slot = Some((frame.clone(), permit));
                return Ok(());
            }
        }
        let permit = self
            .bytes
            .clone()
            .try_acquire_many_owned(self.permits(frame.len()))
            .map_err(|_| SendError::SlowConsumer)?;
        let slot = Arc::new(Mutex::new(Some((frame.clone(), permit))));
        self.tx
            .try_send(Out::Latest(Box::new((key.to_string(), slot.clone()))))
            .map_err(map_try)?;
        map.insert(key.to_string(), slot);
        Ok(())
    }

    /// Queues a frame, waiting at most `wait` for room (responses).
    pub async fn send_json<T: serde::Serialize>(
        &self,
        frame: &T,
        wait: Duration,
    ) -> Result<(), SendError> {
        self.send_json_inner(frame, wait)
            .await
            .map_err(|e| self.why(e))
    }

    async fn send_json_inner<T: serde::Serialize>(
        &self,
        frame: &T,
        wait: Duration,
    ) -> Result<(), SendError> {
        self.open()?;
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
        // The budget of all connections: wait for room like for this queue's. Readers
        // that hold it without draining are cut by their writers within the stall
        // time, which gives their bytes back.
        let global = tokio::time::timeout_at(
            deadline,
            self.global
                .permits
                .clone()
                .acquire_many_owned(self.global.permits(text.len())),
        )
        .await
        .map_err(|_| SendError::SlowConsumer)?
        .map_err(|_| SendError::Closed)?;
        let frame = SharedFrame::new(text, Some(global));
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        self.tx
            .send_timeout(Out::Text(Box::new((frame, permit))), remaining)
            .await
            .map_err(|e| match e {
                mpsc::error::SendTimeoutError::Timeout(_) => SendError::SlowConsumer,
                mpsc::error::SendTimeoutError::Closed(_) => SendError::Closed,
            })
    }
}
