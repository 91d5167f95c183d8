//! The bounded send queue of one connection, written to the socket by the connection's
//! own task (`transport::writer`): no second task, and no queue storage while the
//! connection is idle.
//!
//! The queue is bounded three times: in frames (`--send-queue`), in bytes
//! (`--max-buffered-bytes`, counted until a frame is flushed to the socket: what one
//! reader can pin), and by the budget shared by all connections
//! (`--max-buffered-bytes-total`, [`OutboundBudget`]), which counts unique bytes: an
//! event fanned out to many connections is one [`SharedFrame`], charged once.
//! Responses wait for room at most `--send-timeout-ms` (backpressure: meanwhile the
//! connection reads no further requests); events never wait. Streaming deltas are
//! coalesced per connection and run ([`OutboxSender::try_send_latest`]): each carries
//! the whole text so far, so a queued one is replaced by the newer one.
//!
//! The queue's storage is allocated when the first frame is queued and freed once the
//! writer drained it, so an idle connection holds none.
//!
//! A close never needs room in the queue ([`OutboxSender::close_after`]): once asked
//! for, the queue takes no more frames, the writer writes what it holds, then the last
//! frame (the `shutdown` event) and the close frame. So a frame that must not be lost
//! and finds the queue full ends the connection with a code and a reason, and a full
//! queue at shutdown still gets its `shutdown` event and close frame.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use tokio::sync::{Notify, Semaphore};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::shared_frame::SharedFrame;

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

/// One queued item.
pub(super) enum Out {
    /// A text frame (shared: an event fanned out to many connections is one buffer,
    /// charged once to the budget of all connections).
    Text(SharedFrame),
    /// The newest delta of one coalescing key (see [`OutboxSender::try_send_latest`]):
    /// replaced in place while it waits.
    Latest(SharedFrame),
    Ping,
}

/// The queue proper, behind one lock.
#[derive(Default)]
struct State {
    /// Empty (and unallocated) while the connection is idle.
    queue: VecDeque<Out>,
    /// The sequence number of `queue[0]` (items are numbered as they are queued).
    head: u64,
    /// Coalescing key → sequence number of its [`Out::Latest`] still queued (a few
    /// runs at a time: searched in order).
    latest: Vec<(Box<str>, u64)>,
    /// Bytes queued or written and not yet flushed (this connection's byte bound).
    bytes: usize,
    /// The writer is gone: nothing more is taken.
    gone: bool,
    /// The gateway is shutting down (see [`OutboxSender::stop`]).
    stop: bool,
    /// The reason of a close asked for outside the queue (set once, with `close`):
    /// the queue takes no more frames.
    reason: Option<&'static str>,
    /// That close's last frame (if any) and code, until the writer takes them; it
    /// does once the queue is empty.
    close: Option<(Option<Utf8Bytes>, u16)>,
}

impl State {
    fn latest(&self, key: &str) -> Option<u64> {
        self.latest
            .iter()
            .find_map(|(k, seq)| (&**k == key).then_some(*seq))
    }
}

/// What the connection's task and every [`OutboxSender`] share.
struct Shared {
    state: Mutex<State>,
    frames: usize,
    max_bytes: usize,
    global: OutboundBudget,
    /// The connection's task, woken when there is something to write.
    writer: AtomicWaker,
    /// Responses waiting for room, woken when the writer frees some.
    room: Notify,
    /// Set when the writer gave up on a socket that took no bytes: then a closed queue
    /// means a slow consumer, not a socket error.
    stalled: AtomicBool,
}

/// Why a frame could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// No room: the client does not read fast enough.
    SlowConsumer,
    /// The writer stopped (socket error or already closed).
    Closed,
}

/// A cloneable handle on a connection's queue, for the connection's loop and for
/// frames produced outside it (events fanned out to subscribers, the final response of
/// a long-running request). Every handle shares the queue's frame and byte bounds and
/// the budget of all connections; none grows them.
#[derive(Clone)]
pub struct OutboxSender {
    shared: Arc<Shared>,
}

/// The bytes a frame counts against this connection's byte bound (a frame larger than
/// the whole bound takes all of it, so it is sent alone).
fn charge(len: usize, max_bytes: usize) -> usize {
    len.clamp(1, max_bytes)
}

impl OutboxSender {
    /// A queue of at most `frames` frames and `max_bytes` bytes, within `global`.
    pub fn new(frames: usize, max_bytes: usize, global: OutboundBudget) -> Self {
        OutboxSender {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                frames: frames.max(1),
                max_bytes: max_bytes.max(1),
                global,
                writer: AtomicWaker::new(),
                room: Notify::new(),
                stalled: AtomicBool::new(false),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// [`SendError::Closed`] becomes [`SendError::SlowConsumer`] once the writer gave up
    /// on a socket that took no bytes.
    fn why(&self, e: SendError) -> SendError {
        if e == SendError::Closed && self.stalled() {
            SendError::SlowConsumer
        } else {
            e
        }
    }

    /// True once the writer gave up because the socket took no bytes for the stall
    /// time while frames waited (the client stopped reading).
    pub fn stalled(&self) -> bool {
        self.shared.stalled.load(Ordering::Acquire)
    }

    /// Closes the connection without needing room in the queue: from now on the queue
    /// takes no frames; the writer writes what it holds, then `last` (if any) and a
    /// close frame with `code` and `reason`. Only the first call counts; returns
    /// whether it was this one.
    pub fn close_after(&self, last: Option<Utf8Bytes>, code: u16, reason: &'static str) -> bool {
        let mut st = self.state();
        if st.reason.is_some() {
            return false;
        }
        st.reason = Some(reason);
        st.close = Some((last, code));
        drop(st);
        self.shared.writer.wake();
        true
    }

    /// The reason of a close asked for with [`OutboxSender::close_after`], if any.
    pub fn closing(&self) -> Option<&'static str> {
        self.state().reason
    }

    /// Tells the connection that the gateway is shutting down: its loop sends the
    /// `shutdown` event and closes (authenticated connections learn it this way, so
    /// that an idle one waits on nothing but its socket and its timer).
    pub fn stop(&self) {
        self.state().stop = true;
        self.shared.writer.wake();
    }

    /// True once [`OutboxSender::stop`] was called.
    pub fn stopping(&self) -> bool {
        self.state().stop
    }

    /// Queues `item` of `len` bytes if there is room now (in frames and bytes).
    fn push(&self, st: &mut State, item: Out, len: usize) -> Result<u64, SendError> {
        if st.gone || st.reason.is_some() {
            return Err(SendError::Closed);
        }
        let charge = if matches!(item, Out::Ping) {
            0
        } else {
            charge(len, self.shared.max_bytes)
        };
        if st.queue.len() >= self.shared.frames || st.bytes + charge > self.shared.max_bytes {
            return Err(SendError::SlowConsumer);
        }
        st.bytes += charge;
        let seq = st.head + st.queue.len() as u64;
        st.queue.push_back(item);
        Ok(seq)
    }

    /// Queues `item` and wakes the writer.
    fn send(&self, item: Out, len: usize) -> Result<(), SendError> {
        let pushed = self.push(&mut self.state(), item, len);
        pushed.map_err(|e| self.why(e))?;
        self.shared.writer.wake();
        Ok(())
    }

    /// Wraps `text` for any number of queues, charged once to the budget of all
    /// connections. When the budget is used up, a droppable frame (a delta) is not
    /// sent (`None`); any other event goes uncharged: it is small, and still counted
    /// in full by each queue it enters.
    pub fn share(&self, text: Utf8Bytes, droppable: bool) -> Option<SharedFrame> {
        // A clone of the text is a reference to the same buffer.
        match self.shared.global.try_share(text.clone()) {
            Some(frame) => Some(frame),
            None if droppable => None,
            None => Some(SharedFrame::new(text, None)),
        }
    }

    /// Queues a shared frame only if there is room now in this queue (events: a slow
    /// reader misses them rather than growing the queue). The frame was charged to the
    /// budget of all connections once, by whoever shared it.
    pub fn try_send_shared(&self, frame: &SharedFrame) -> Result<(), SendError> {
        self.send(Out::Text(frame.clone()), frame.len())
    }

    /// Queues a frame only if there is room now (and room in the budget of all
    /// connections).
    pub fn try_send_json<T: serde::Serialize>(&self, frame: &T) -> Result<(), SendError> {
        let text = serde_json::to_string(frame).map_err(|_| SendError::Closed)?;
        let frame = self
            .shared
            .global
            .try_share(text.into())
            .ok_or(SendError::SlowConsumer)?;
        self.try_send_shared(&frame)
    }

    /// Queues a ping if there is room now.
    pub fn ping(&self) -> Result<(), SendError> {
        self.send(Out::Ping, 0)
    }

    /// Queues a delta under `key` (one run's stream of one event). When the reader is
    /// behind (at least 1/8 of its byte bound queued, or half its frames) and a delta
    /// of the same key is still queued, that one is replaced by this one, which carries
    /// the whole text so far; otherwise this one is queued if there is room now. A
    /// reader too slow for every delta gets the newest, never a growing backlog; one
    /// that keeps up gets every delta.
    pub fn try_send_latest(&self, key: &str, frame: &SharedFrame) -> Result<(), SendError> {
        let max_bytes = self.shared.max_bytes;
        let mut st = self.state();
        if st.gone || st.reason.is_some() {
            drop(st);
            return Err(self.why(SendError::Closed));
        }
        // Behind: an eighth of the bytes queued, or half the frames (many small deltas
        // must not fill the queue before the end events of the runs).
        let frames = self.shared.frames;
        let behind = st.bytes >= max_bytes / 8 || frames - st.queue.len() < frames / 2;
        if behind {
            let index = st.latest(key).map(|seq| seq - st.head);
            let bytes = st.bytes;
            if let Some(Out::Latest(queued)) =
                index.and_then(|i| st.queue.get_mut(usize::try_from(i).ok()?))
            {
                let now = bytes - charge(queued.len(), max_bytes) + charge(frame.len(), max_bytes);
                if now > max_bytes {
                    return Err(SendError::SlowConsumer);
                }
                *queued = frame.clone();
                st.bytes = now;
                return Ok(());
            }
        }
        let seq = self.push(&mut st, Out::Latest(frame.clone()), frame.len())?;
        st.latest.push((key.into(), seq));
        drop(st);
        self.shared.writer.wake();
        Ok(())
    }

    /// Queues a frame, waiting at most `wait` for room (responses). Whoever awaits
    /// this on the connection's own task must keep its writer going meanwhile
    /// (`ws::io`), or the room never comes.
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
        if self.closing().is_some() {
            return Err(SendError::Closed);
        }
        let text = Utf8Bytes::from(serde_json::to_string(frame).map_err(|_| SendError::Closed)?);
        let deadline = tokio::time::Instant::now() + wait;
        // The budget of all connections: wait for room like for this queue's. Readers
        // that hold it without draining are cut by their writers within the stall
        // time, which gives their bytes back.
        let global = &self.shared.global;
        let charge = tokio::time::timeout_at(
            deadline,
            global
                .permits
                .clone()
                .acquire_many_owned(global.permits(text.len())),
        )
        .await
        .map_err(|_| SendError::SlowConsumer)?
        .map_err(|_| SendError::Closed)?;
        let frame = SharedFrame::new(text, Some(charge));
        loop {
            let room = self.shared.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            match self.send(Out::Text(frame.clone()), frame.len()) {
                Err(SendError::SlowConsumer) => {}
                done => return done,
            }
            tokio::time::timeout_at(deadline, room)
                .await
                .map_err(|_| SendError::SlowConsumer)?;
        }
    }

    // The writer's side (`transport::writer`).

    /// Registers the writer's task to be woken when there is something to write.
    pub(super) fn register(&self, waker: &std::task::Waker) {
        self.shared.writer.register(waker);
    }

    /// True when nothing is queued.
    pub(super) fn is_empty(&self) -> bool {
        self.state().queue.is_empty()
    }

    /// Takes the next item for the writer. The queue's storage is freed once it is
    /// empty.
    pub(super) fn pop(&self) -> Option<Out> {
        let mut st = self.state();
        let item = st.queue.pop_front()?;
        let seq = st.head;
        st.head += 1;
        if matches!(item, Out::Latest(_)) {
            st.latest.retain(|(_, s)| *s != seq);
        }
        if st.queue.is_empty() {
            st.queue = VecDeque::new();
            st.latest = Vec::new();
        }
        drop(st);
        self.shared.room.notify_waiters();
        Some(item)
    }

    /// Gives back the byte bound of frames now flushed to the socket.
    pub(super) fn release(&self, frames_len: usize) {
        if frames_len == 0 {
            return;
        }
        let mut st = self.state();
        st.bytes = st.bytes.saturating_sub(frames_len);
        drop(st);
        self.shared.room.notify_waiters();
    }

    /// The bytes `len` counts against this connection's byte bound.
    pub(super) fn charge(&self, len: usize) -> usize {
        charge(len, self.shared.max_bytes)
    }

    /// The close asked for outside the queue, taken once (by the writer).
    pub(super) fn take_close(&self) -> Option<(Option<Utf8Bytes>, u16, &'static str)> {
        let mut st = self.state();
        let reason = st.reason?;
        st.close.take().map(|(last, code)| (last, code, reason))
    }

    /// The writer gave up on a socket that took no bytes.
    pub(super) fn set_stalled(&self) {
        self.shared.stalled.store(true, Ordering::Release);
    }

    /// The writer is gone: the queue takes nothing more, and what it holds is dropped
    /// now (its bytes go back to the budget of all connections).
    pub(super) fn set_gone(&self) {
        let mut st = self.state();
        st.gone = true;
        let queue = std::mem::take(&mut st.queue);
        st.latest = Vec::new();
        st.bytes = 0;
        drop(st);
        drop(queue);
        self.shared.room.notify_waiters();
    }

    /// Bytes queued (or written and not yet flushed) on this connection.
    #[cfg(test)]
    fn queued_bytes(&self) -> usize {
        self.state().bytes
    }

    /// Frames queued on this connection.
    #[cfg(test)]
    fn queued_frames(&self) -> usize {
        self.state().queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(budget: &OutboundBudget, text: &str) -> SharedFrame {
        budget.try_share(text.to_string().into()).expect("room")
    }

    fn texts(q: &OutboxSender) -> Vec<String> {
        std::iter::from_fn(|| q.pop())
            .filter_map(|o| match o {
                Out::Text(f) | Out::Latest(f) => Some(f.text().to_string()),
                Out::Ping => None,
            })
            .collect()
    }

    #[test]
    fn frames_and_bytes_are_bounded_and_a_shared_frame_is_charged_once() {
        let budget = OutboundBudget::new(1000);
        let a = OutboxSender::new(2, 100, budget.clone());
        let b = OutboxSender::new(2, 10, budget.clone());
        let f = frame(&budget, "12345");
        a.try_send_shared(&f).unwrap();
        b.try_send_shared(&f).unwrap();
        assert_eq!(budget.used(), 5, "one charge for two queues");
        a.try_send_shared(&f).unwrap();
        assert_eq!(
            a.try_send_shared(&f),
            Err(SendError::SlowConsumer),
            "frames"
        );
        let c = OutboxSender::new(8, 10, budget.clone());
        c.try_send_shared(&f).unwrap();
        c.try_send_shared(&f).unwrap();
        assert_eq!(c.try_send_shared(&f), Err(SendError::SlowConsumer), "bytes");
        assert_eq!(c.queued_bytes(), 10);
        // Popped, the bytes still count until flushed.
        assert!(c.pop().is_some());
        assert_eq!(c.queued_bytes(), 10);
        c.release(c.charge(5));
        assert_eq!(c.queued_bytes(), 5);
        drop((a, b, c, f));
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn a_queued_delta_is_replaced_by_the_newer_one_when_behind() {
        let budget = OutboundBudget::new(1 << 20);
        // Behind from 2 bytes queued (an eighth of 16).
        let q = OutboxSender::new(8, 16, budget.clone());
        // Keeping up: every delta is queued.
        q.try_send_latest("run", &frame(&budget, "a")).unwrap();
        assert_eq!(q.queued_frames(), 1);
        // Behind: the queued delta is replaced.
        q.try_send_shared(&frame(&budget, "x")).unwrap();
        q.try_send_latest("run", &frame(&budget, "ab")).unwrap();
        q.try_send_latest("run", &frame(&budget, "abc")).unwrap();
        q.try_send_latest("other", &frame(&budget, "o")).unwrap();
        assert_eq!(texts(&q), ["abc", "x", "o"]);
        // Taken by the writer: the next delta of the key is queued anew.
        q.try_send_latest("run", &frame(&budget, "abcd")).unwrap();
        assert_eq!(texts(&q), ["abcd"]);
    }

    #[test]
    fn a_close_needs_no_room_and_stops_the_queue() {
        let budget = OutboundBudget::new(1 << 20);
        let q = OutboxSender::new(1, 1000, budget.clone());
        q.try_send_shared(&frame(&budget, "a")).unwrap();
        assert!(q.close_after(Some("last".into()), 1001, "bye"));
        assert!(!q.close_after(None, 1000, "other"), "the first close wins");
        assert_eq!(
            q.try_send_shared(&frame(&budget, "b")),
            Err(SendError::Closed)
        );
        assert_eq!(q.closing(), Some("bye"));
        assert_eq!(texts(&q), ["a"]);
        let (last, code, reason) = q.take_close().expect("the close");
        assert_eq!((last.as_deref(), code, reason), (Some("last"), 1001, "bye"));
        assert!(q.take_close().is_none(), "taken once");
    }

    #[test]
    fn a_gone_writer_drops_the_queue_and_refuses_frames() {
        let budget = OutboundBudget::new(1 << 20);
        let q = OutboxSender::new(8, 1000, budget.clone());
        q.try_send_shared(&frame(&budget, "abc")).unwrap();
        assert_eq!(budget.used(), 3);
        q.set_gone();
        assert_eq!(budget.used(), 0, "the queued frame's charge went back");
        assert_eq!(q.ping(), Err(SendError::Closed));
        q.set_stalled();
        assert_eq!(q.ping(), Err(SendError::SlowConsumer));
    }
}
