//! The bounded "evict the oldest" pool behind every admission budget for connections
//! that have not proven themselves yet: the gateway's pending (unauthenticated)
//! WebSockets, grouped by source IP; the HTTP connections of a port that have not sent
//! their request head, grouped by slot kind; and the egress proxy's connections that
//! have not spoken, in one group.
//!
//! Members join in a group and are ordered oldest first. When a bound is reached, the
//! oldest member of a group is evicted: its [`Place`] is told ([`Place::evicted`],
//! which also resolves when the owner starts waiting later) and it leaves the pool at
//! once, so the counts never exceed the bounds. A member that proved itself
//! [`leave`](Place::leave)s the pool early; a dropped place leaves it too.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::lock::lock;

/// A pool of members in groups `G`, oldest first.
#[derive(Debug)]
pub struct EvictPool<G> {
    inner: Arc<Mutex<Inner<G>>>,
}

#[derive(Debug)]
struct Inner<G> {
    next_id: u64,
    total: usize,
    groups: HashMap<G, VecDeque<Member>>,
}

#[derive(Debug)]
struct Member {
    id: u64,
    state: Arc<State>,
}

#[derive(Debug, Default)]
struct State {
    evicted: Notify,
    /// Set (under the pool's lock) when the member was evicted.
    was_evicted: AtomicBool,
}

/// One member's place in an [`EvictPool`]; leaves the pool when dropped.
#[derive(Debug)]
pub struct Place<G: Hash + Eq + Clone> {
    group: G,
    id: u64,
    state: Arc<State>,
    pool: Arc<Mutex<Inner<G>>>,
}

impl<G> Default for EvictPool<G> {
    fn default() -> Self {
        EvictPool {
            inner: Arc::new(Mutex::new(Inner {
                next_id: 0,
                total: 0,
                groups: HashMap::new(),
            })),
        }
    }
}

impl<G: Hash + Eq + Clone> Inner<G> {
    /// Evicts the oldest member of `group`; false when it has none.
    fn evict_oldest_of(&mut self, group: &G) -> bool {
        let Some(queue) = self.groups.get_mut(group) else {
            return false;
        };
        let Some(member) = queue.pop_front() else {
            return false;
        };
        if queue.is_empty() {
            self.groups.remove(group);
        }
        self.total -= 1;
        member.state.was_evicted.store(true, Ordering::Release);
        // notify_one keeps the wake-up if the owner is not waiting yet.
        member.state.evicted.notify_one();
        true
    }

    fn join(&mut self, group: G, pool: &Arc<Mutex<Inner<G>>>) -> Place<G> {
        let id = self.next_id;
        self.next_id += 1;
        let state = Arc::new(State::default());
        self.groups
            .entry(group.clone())
            .or_default()
            .push_back(Member {
                id,
                state: state.clone(),
            });
        self.total += 1;
        Place {
            group,
            id,
            state,
            pool: pool.clone(),
        }
    }

    fn remove(&mut self, group: &G, id: u64) {
        let Some(queue) = self.groups.get_mut(group) else {
            return;
        };
        let Some(pos) = queue.iter().position(|m| m.id == id) else {
            return;
        };
        queue.remove(pos);
        if queue.is_empty() {
            self.groups.remove(group);
        }
        self.total -= 1;
    }
}

impl<G: Hash + Eq + Clone> EvictPool<G> {
    /// Members now.
    pub fn len(&self) -> usize {
        lock(&self.inner).total
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A place for a new member of `group`, within `max_total` members in all and
    /// `max_per_group` per group: beyond the group's bound its own oldest member is
    /// evicted; beyond the total, the oldest member of the largest group. Returns the
    /// place and how many members were evicted for it.
    pub fn admit(&self, group: G, max_total: usize, max_per_group: usize) -> (Place<G>, usize) {
        let mut inner = lock(&self.inner);
        let mut evicted = 0;
        if inner
            .groups
            .get(&group)
            .is_some_and(|q| q.len() >= max_per_group.max(1))
        {
            evicted += usize::from(inner.evict_oldest_of(&group));
        }
        if inner.total >= max_total.max(1) {
            let largest = inner
                .groups
                .iter()
                .max_by_key(|(_, q)| q.len())
                .map(|(g, _)| g.clone());
            if let Some(largest) = largest {
                evicted += usize::from(inner.evict_oldest_of(&largest));
            }
        }
        (inner.join(group, &self.inner), evicted)
    }

    /// A place for a new member of `group` with no bound (the caller bounds the pool,
    /// evicting with [`EvictPool::evict_oldest`]).
    pub fn join(&self, group: G) -> Place<G> {
        lock(&self.inner).join(group, &self.inner)
    }

    /// Evicts the oldest member of any group; returns its group, None when empty.
    pub fn evict_oldest(&self) -> Option<G> {
        let mut inner = lock(&self.inner);
        let oldest = inner
            .groups
            .iter()
            .filter_map(|(g, q)| q.front().map(|m| (m.id, g)))
            .min_by_key(|(id, _)| *id)
            .map(|(_, g)| g.clone())?;
        inner.evict_oldest_of(&oldest);
        Some(oldest)
    }
}

impl<G: Hash + Eq + Clone> Place<G> {
    /// Completes once this member was evicted (at once if it already was).
    pub async fn evicted(&self) {
        self.state.evicted.notified().await
    }

    /// A `'static` future completing once this member was evicted.
    pub fn evicted_future(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let state = self.state.clone();
        async move { state.evicted.notified().await }
    }

    /// Whether this member was evicted.
    pub fn was_evicted(&self) -> bool {
        self.state.was_evicted.load(Ordering::Acquire)
    }

    /// The member proved itself: it leaves the pool and can no longer be evicted.
    pub fn leave(&self) {
        lock(&self.pool).remove(&self.group, self.id);
    }

    pub fn group(&self) -> &G {
        &self.group
    }
}

impl<G: Hash + Eq + Clone> Drop for Place<G> {
    fn drop(&mut self) {
        lock(&self.pool).remove(&self.group, self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn told(place: &Place<u8>) -> bool {
        tokio::time::timeout(Duration::from_millis(50), place.evicted())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn bounds_evict_the_groups_own_oldest_then_the_largest_groups() {
        let pool = EvictPool::default();
        let (a1, _) = pool.admit(1, 4, 3);
        let (b1, _) = pool.admit(2, 4, 3);
        let (b2, _) = pool.admit(2, 4, 3);
        let (_b3, _) = pool.admit(2, 4, 3);
        // The group's bound: its own oldest goes.
        let (_b4, n) = pool.admit(2, 4, 3);
        assert_eq!((n, pool.len()), (1, 4));
        assert!(told(&b1).await && b1.was_evicted());
        // The total: the largest group's oldest goes, not the lone member.
        let (_c1, n) = pool.admit(3, 4, 3);
        assert_eq!((n, pool.len()), (1, 4));
        assert!(told(&b2).await);
        assert!(!told(&a1).await && !a1.was_evicted());
        // Dropping an evicted place frees nothing more; dropping a member frees one.
        drop((b1, b2));
        assert_eq!(pool.len(), 4);
        drop(a1);
        assert_eq!(pool.len(), 3);
    }

    #[tokio::test]
    async fn the_oldest_of_any_group_goes_and_a_member_that_left_stays() {
        let pool = EvictPool::default();
        let first = pool.join(1);
        let second = pool.join(2);
        let third = pool.join(1);
        first.leave();
        assert_eq!(pool.len(), 2);
        assert_eq!(pool.evict_oldest(), Some(2));
        assert!(told(&second).await && !told(&first).await);
        assert_eq!(pool.evict_oldest(), Some(1));
        assert!(third.was_evicted());
        assert_eq!(pool.evict_oldest(), None);
        drop((first, second, third));
        assert!(pool.is_empty());
    }
}
