//! The count of authenticated WebSocket connections (`--max-connections`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Counts open WebSocket connections; a slot is released when its guard drops.
#[derive(Debug, Default, Clone)]
pub struct ConnectionCounter(Arc<AtomicUsize>);

#[derive(Debug)]
pub struct ConnectionGuard(Arc<AtomicUsize>);

impl ConnectionCounter {
    pub fn try_acquire(&self, max: usize) -> Option<ConnectionGuard> {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| ConnectionGuard(self.0.clone()))
    }
    pub fn current(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_counter_caps_and_releases() {
        let c = ConnectionCounter::default();
        let g1 = c.try_acquire(2).unwrap();
        let _g2 = c.try_acquire(2).unwrap();
        assert!(c.try_acquire(2).is_none());
        drop(g1);
        assert_eq!(c.current(), 1);
        assert!(c.try_acquire(2).is_some());
    }
}
