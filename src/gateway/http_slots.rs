//! The HTTP connection slots of one port: `--max-http-connections` regular slots and
//! [`HTTP_HEALTH_RESERVE`] more that only serve the health endpoints.
//!
//! A connection that has not yet sent a complete request head waits in one queue
//! (oldest first, across both pools). When every slot is taken, a new connection takes
//! the place of the oldest waiting one, which is closed: silent or dripping sockets can
//! never keep out a client that speaks at once (a health probe), however fast they
//! reconnect. A connection whose head arrived (mid-request, or kept alive after a
//! request) is never evicted; it ends with its response or by the head deadline. Only
//! when no connection is waiting is a new one refused. The counts never exceed the
//! pools' sizes: an evicted connection hands its slot over to the new one.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use super::limits::HTTP_HEALTH_RESERVE;

/// The HTTP connection slots of one port.
#[derive(Debug, Default)]
pub struct HttpSlots {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    regular: usize,
    reserve: usize,
    next_id: u64,
    /// Connections without a complete request head, oldest (smallest id) first.
    waiting: VecDeque<Waiting>,
}

#[derive(Debug)]
struct Waiting {
    id: u64,
    reserve: bool,
    state: Arc<State>,
}

#[derive(Debug, Default)]
struct State {
    evicted: Notify,
    /// Set (under the lock) when the slot went to a newer connection.
    handed_over: AtomicBool,
}

/// A connection's place in [`HttpSlots`]; freed when dropped.
#[derive(Debug)]
pub struct HttpSlot {
    id: u64,
    reserve: bool,
    state: Arc<State>,
    owner: Arc<Mutex<Inner>>,
}

/// A connection let in by [`HttpSlots::admit`].
#[derive(Debug)]
pub struct Admitted {
    pub slot: HttpSlot,
    /// Whether the oldest waiting connection was evicted for it.
    pub evicted_one: bool,
}

fn lock(m: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inner {
    fn position(&self, id: u64) -> Option<usize> {
        self.waiting.binary_search_by_key(&id, |w| w.id).ok()
    }
}

impl HttpSlots {
    /// A place for a newly accepted connection: a free regular slot, else a free reserve
    /// slot, else the slot of the oldest connection that has not sent its request head
    /// (evicted). None when every slot holds a connection past its head.
    pub fn admit(&self, max_regular: usize) -> Option<Admitted> {
        let mut inner = lock(&self.inner);
        let (reserve, evicted_one) = if inner.regular < max_regular {
            inner.regular += 1;
            (false, false)
        } else if inner.reserve < HTTP_HEALTH_RESERVE {
            inner.reserve += 1;
            (true, false)
        } else {
            let oldest = inner.waiting.pop_front()?;
            oldest.state.handed_over.store(true, Ordering::Release);
            // Stores a permit when its task is not waiting yet.
            oldest.state.evicted.notify_one();
            (oldest.reserve, true)
        };
        let id = inner.next_id;
        inner.next_id += 1;
        let state = Arc::new(State::default());
        inner.waiting.push_back(Waiting {
            id,
            reserve,
            state: state.clone(),
        });
        drop(inner);
        Some(Admitted {
            slot: HttpSlot {
                id,
                reserve,
                state,
                owner: self.inner.clone(),
            },
            evicted_one,
        })
    }

    /// Open HTTP connections on this port (evicted ones not counted).
    pub fn open(&self) -> usize {
        let inner = lock(&self.inner);
        inner.regular + inner.reserve
    }

    /// Connections that have not sent a complete request head yet.
    pub fn waiting(&self) -> usize {
        lock(&self.inner).waiting.len()
    }
}

impl HttpSlot {
    /// Whether this is a health-only reserve slot.
    pub fn is_reserve(&self) -> bool {
        self.reserve
    }

    /// The connection sent a complete request head: it can no longer be evicted.
    pub fn head_received(&self) {
        let mut inner = lock(&self.owner);
        if let Some(i) = inner.position(self.id) {
            inner.waiting.remove(i);
        }
    }

    /// Completes when a newer connection took this one's slot.
    pub async fn evicted(&self) {
        self.state.evicted.notified().await;
    }
}

impl Drop for HttpSlot {
    fn drop(&mut self) {
        let mut inner = lock(&self.owner);
        if self.state.handed_over.load(Ordering::Acquire) {
            return;
        }
        if let Some(i) = inner.position(self.id) {
            inner.waiting.remove(i);
        }
        if self.reserve {
            inner.reserve -= 1;
        } else {
            inner.regular -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn was_evicted(slot: &HttpSlot) -> bool {
        tokio::time::timeout(Duration::from_millis(50), slot.evicted())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn full_slots_evict_the_oldest_waiting_connection_in_either_pool() {
        let slots = HttpSlots::default();
        let mut held: Vec<HttpSlot> = (0..2 + HTTP_HEALTH_RESERVE)
            .map(|_| slots.admit(2).expect("free slot").slot)
            .collect();
        assert_eq!(
            held.iter().filter(|s| s.is_reserve()).count(),
            HTTP_HEALTH_RESERVE
        );
        assert_eq!(slots.open(), 2 + HTTP_HEALTH_RESERVE);
        // The oldest two (regular) sent their heads: the next oldest, a reserve slot, goes.
        held[0].head_received();
        held[1].head_received();
        let a = slots.admit(2).expect("an eviction");
        assert!(a.evicted_one && a.slot.is_reserve());
        assert!(
            was_evicted(&held[2]).await,
            "the oldest waiting one was not told"
        );
        assert!(
            !was_evicted(&held[3]).await,
            "a younger one was evicted too"
        );
        assert!(
            !was_evicted(&held[0]).await,
            "a connection past its head was evicted"
        );
        assert_eq!(slots.open(), 2 + HTTP_HEALTH_RESERVE, "the bound moved");
        // The evicted connection closing frees nothing: its slot is the new one's.
        held.remove(2);
        assert_eq!(slots.open(), 2 + HTTP_HEALTH_RESERVE);
        held.push(a.slot);
        // A connection that has sent its head leaves its slot when it ends.
        held.remove(0);
        assert_eq!(slots.open(), 1 + HTTP_HEALTH_RESERVE);
        let b = slots.admit(2).expect("the freed regular slot");
        assert!(!b.evicted_one && !b.slot.is_reserve());
        drop(b);
        drop(held);
        assert_eq!((slots.open(), slots.waiting()), (0, 0));
    }

    #[test]
    fn a_new_connection_is_refused_only_when_no_one_is_waiting() {
        let slots = HttpSlots::default();
        let held: Vec<HttpSlot> = (0..1 + HTTP_HEALTH_RESERVE)
            .map(|_| slots.admit(1).expect("free slot").slot)
            .collect();
        for s in &held {
            s.head_received();
            s.head_received();
        }
        assert_eq!(slots.waiting(), 0);
        assert!(slots.admit(1).is_none());
        assert_eq!(slots.open(), 1 + HTTP_HEALTH_RESERVE);
    }

    #[test]
    fn repeated_evictions_keep_the_count_at_the_bound() {
        let slots = HttpSlots::default();
        let mut live = VecDeque::new();
        for _ in 0..200 {
            let a = slots.admit(3).expect("always a place");
            live.push_back(a.slot);
            // Each evicted connection closes (in any order relative to new arrivals).
            if live.len() > 3 + HTTP_HEALTH_RESERVE {
                live.pop_front();
            }
            assert!(slots.open() <= 3 + HTTP_HEALTH_RESERVE);
            assert_eq!(slots.waiting(), live.len());
        }
        drop(live);
        assert_eq!(slots.open(), 0);
    }
}
