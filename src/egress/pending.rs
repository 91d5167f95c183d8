//! Connections that have not spoken yet: on the proxy port, clients still sending their
//! request head; on a forward, clients that have not sent their first byte. They hold
//! no tunnel or forward slot, only a place in this small, separate budget. When it is
//! full, a new connection evicts the oldest pending one, so silent sockets can never
//! keep out a client that speaks at once (a health probe, the gateway's `CONNECT`).

use std::sync::Arc;

use crate::evict_pool::{EvictPool, Place};

/// The budget of pending connections of one listener (one group of an [`EvictPool`]).
#[derive(Debug)]
pub struct Pending {
    max: usize,
    pool: EvictPool<()>,
}

/// One pending connection's place; leaving the budget when dropped.
pub type PendingSlot = Place<()>;

impl Pending {
    pub fn new(max: usize) -> Arc<Pending> {
        Arc::new(Pending {
            max: max.max(1),
            pool: EvictPool::default(),
        })
    }

    /// Takes a place for a new connection; returns it and whether the oldest pending
    /// connection had to be evicted for it.
    pub fn admit(self: &Arc<Self>) -> (PendingSlot, bool) {
        let (slot, evicted) = self.pool.admit((), self.max, self.max);
        (slot, evicted > 0)
    }

    /// Connections pending now.
    pub fn len(&self) -> usize {
        self.pool.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn max(&self) -> usize {
        self.max
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
