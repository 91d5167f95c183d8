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

use std::sync::{Arc, Mutex};

use crate::evict_pool::{EvictPool, Place};
use crate::gateway::limits::HTTP_HEALTH_RESERVE;
use crate::lock::lock;

/// The HTTP connection slots of one port.
#[derive(Debug, Default)]
pub struct HttpSlots {
    inner: Arc<Mutex<Counts>>,
}

/// Slots taken, and the connections without a complete request head (the shared
/// [`EvictPool`], grouped by slot kind: `true` for a reserve slot).
#[derive(Debug, Default)]
struct Counts {
    regular: usize,
    reserve: usize,
    waiting: EvictPool<bool>,
}

/// A connection's place in [`HttpSlots`]; freed when dropped.
#[derive(Debug)]
pub struct HttpSlot {
    /// Its place among the waiting connections (left once its head arrived).
    place: Place<bool>,
    owner: Arc<Mutex<Counts>>,
}

/// A connection let in by [`HttpSlots::admit`].
#[derive(Debug)]
pub struct Admitted {
    pub slot: HttpSlot,
    /// Whether the oldest waiting connection was evicted for it.
    pub evicted_one: bool,
}

impl HttpSlots {
    /// A place for a newly accepted connection: a free regular slot, else a free reserve
    /// slot, else the slot of the oldest connection that has not sent its request head
    /// (evicted). None when every slot holds a connection past its head.
    pub fn admit(&self, max_regular: usize) -> Option<Admitted> {
        // The counts' lock is held while a slot changes hands, so an evicted
        // connection's drop (which takes it first) sees the hand-over.
        let mut counts = lock(&self.inner);
        let (reserve, evicted_one) = if counts.regular < max_regular {
            counts.regular += 1;
            (false, false)
        } else if counts.reserve < HTTP_HEALTH_RESERVE {
            counts.reserve += 1;
            (true, false)
        } else {
            (counts.waiting.evict_oldest()?, true)
        };
        let place = counts.waiting.join(reserve);
        drop(counts);
        Some(Admitted {
            slot: HttpSlot {
                place,
                owner: self.inner.clone(),
            },
            evicted_one,
        })
    }

    /// Open HTTP connections on this port (evicted ones not counted).
    pub fn open(&self) -> usize {
        let counts = lock(&self.inner);
        counts.regular + counts.reserve
    }

    /// Connections that have not sent a complete request head yet.
    pub fn waiting(&self) -> usize {
        lock(&self.inner).waiting.len()
    }
}

impl HttpSlot {
    /// Whether this is a health-only reserve slot.
    pub fn is_reserve(&self) -> bool {
        *self.place.group()
    }

    /// The connection sent a complete request head: it can no longer be evicted.
    pub fn head_received(&self) {
        self.place.leave();
    }

    /// Completes when a newer connection took this one's slot.
    pub async fn evicted(&self) {
        self.place.evicted().await;
    }
}

impl Drop for HttpSlot {
    fn drop(&mut self) {
        let mut counts = lock(&self.owner);
        // An evicted connection's slot went to the newer one.
        if self.place.was_evicted() {
            return;
        }
        self.place.leave();
        if self.is_reserve() {
            counts.reserve -= 1;
        } else {
            counts.regular -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
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
