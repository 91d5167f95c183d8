//! Pending (upgraded, not yet authenticated) WebSocket connections: at most
//! `--max-unauth-connections` in all and `--max-unauth-per-ip` per source IP. A new one
//! beyond either bound evicts the oldest pending connection of its own IP, or of the IP
//! holding the most, so a flood from some addresses cannot keep a client from another
//! address (or a quick client from the same one) out. The mechanism is the shared
//! [`EvictPool`], grouped by IP.

use std::net::IpAddr;
use std::sync::Arc;

use crate::evict_pool::{EvictPool, Place};

#[derive(Debug)]
pub struct PendingPool {
    max: usize,
    per_ip: usize,
    pool: EvictPool<IpAddr>,
}

/// One pending connection's place in the pool; released on drop. `evicted()` resolves
/// when a newer connection took its place.
pub type PendingSlot = Place<IpAddr>;

impl PendingPool {
    pub fn new(max: usize, per_ip: usize) -> Arc<Self> {
        Arc::new(PendingPool {
            max: max.max(1),
            per_ip: per_ip.max(1),
            pool: EvictPool::default(),
        })
    }

    pub fn current(&self) -> usize {
        self.pool.len()
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// Takes a place for a connection from `ip`; returns it and how many older pending
    /// connections were evicted for it.
    pub fn admit(&self, ip: IpAddr) -> (PendingSlot, usize) {
        self.pool.admit(ip, self.max, self.per_ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn pending_pool_evicts_the_busiest_address_first() {
        let pool = PendingPool::new(4, 3);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let (a1, _) = pool.admit(a);
        let (b1, _) = pool.admit(b);
        let (b2, _) = pool.admit(b);
        let (b3, _) = pool.admit(b);
        assert_eq!(pool.current(), 4);
        // Per-IP bound: b's oldest goes.
        let (b4, n) = pool.admit(b);
        assert_eq!(n, 1);
        tokio::time::timeout(Duration::from_secs(1), b1.evicted())
            .await
            .expect("b1 evicted");
        // Total bound: a newcomer from a third address evicts from b, not a.
        let c: IpAddr = "127.0.0.3".parse().unwrap();
        let (_c1, n) = pool.admit(c);
        assert_eq!(n, 1);
        tokio::time::timeout(Duration::from_secs(1), b2.evicted())
            .await
            .expect("b2 evicted");
        assert!(
            tokio::time::timeout(Duration::from_millis(50), a1.evicted())
                .await
                .is_err(),
            "the lone client was evicted"
        );
        assert_eq!(pool.current(), 4);
        drop((b3, b4, b1, b2));
        assert_eq!(pool.current(), 2);
        drop(a1);
        assert_eq!(pool.current(), 1);
    }
}
