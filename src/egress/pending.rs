//! Connections that have not spoken yet: on the proxy port, clients still sending their
//! request head; on a forward, clients that have not sent their first byte. They hold
//! no tunnel or forward slot, only a place in this small, separate budget. When it is
//! full, a new connection evicts the oldest pending one, so silent sockets can never
//! keep out a client that speaks at once (a health probe, the gateway's `CONNECT`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

/// The budget of pending connections of one listener.
#[derive(Debug)]
pub struct Pending {
    max: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    /// Oldest first.
    queue: VecDeque<(u64, Arc<Notify>)>,
}

/// One pending connection's place; leaving the budget when dropped.
#[derive(Debug)]
pub struct PendingSlot {
    id: u64,
    evicted: Arc<Notify>,
    owner: Arc<Pending>,
}

impl Pending {
    pub fn new(max: usize) -> Arc<Pending> {
        Arc::new(Pending {
            max: max.max(1),
            inner: Mutex::new(Inner::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a place for a new connection; returns it and whether the oldest pending
    /// connection had to be evicted for it.
    pub fn admit(self: &Arc<Self>) -> (PendingSlot, bool) {
        let mut inner = self.lock();
        let mut evicted_one = false;
        while inner.queue.len() >= self.max {
            if let Some((_, notify)) = inner.queue.pop_front() {
                // Stores a permit when the owner is not waiting yet.
                notify.notify_one();
                evicted_one = true;
            }
        }
        let id = inner.next_id;
        inner.next_id += 1;
        let evicted = Arc::new(Notify::new());
        inner.queue.push_back((id, evicted.clone()));
        drop(inner);
        (
            PendingSlot {
                id,
                evicted,
                owner: self.clone(),
            },
            evicted_one,
        )
    }

    /// Connections pending now.
    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn max(&self) -> usize {
        self.max
    }
}

impl PendingSlot {
    /// Completes when a newer connection took this one's place.
    pub async fn evicted(&self) {
        self.evicted.notified().await;
    }
}

impl Drop for PendingSlot {
    fn drop(&mut self) {
        let mut inner = self.owner.lock();
        if let Some(i) = inner.queue.iter().position(|(id, _)| *id == self.id) {
            inner.queue.remove(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_full_budget_evicts_the_oldest_and_dropping_frees_the_place() {
        let p = Pending::new(2);
        let (a, ea) = p.admit();
        let (b, eb) = p.admit();
        assert!(!ea && !eb);
        assert_eq!(p.len(), 2);
        let (c, ec) = p.admit();
        assert!(ec, "the third connection must evict one");
        assert_eq!(p.len(), 2);
        // `a` (the oldest) was told, even though it was not waiting yet.
        tokio::time::timeout(Duration::from_secs(5), a.evicted())
            .await
            .expect("oldest not evicted");
        assert!(
            tokio::time::timeout(Duration::from_millis(20), b.evicted())
                .await
                .is_err(),
            "b was evicted too"
        );
        drop(a);
        assert_eq!(p.len(), 2, "dropping an evicted slot frees nothing more");
        drop(b);
        assert_eq!(p.len(), 1);
        drop(c);
        assert!(p.is_empty());
        assert_eq!(p.max(), 2);
    }
}
