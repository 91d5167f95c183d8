//! Failed authentications per peer IP and per (peer IP, client id), in a fixed window
//! (`--auth-failures`, `--auth-failure-window-secs`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::gateway::limits::{
    AUTH_FAILURE_IP_FACTOR, AUTH_FAILURE_MAX_PEERS, AUTH_FAILURE_PRUNE_AT, AUTH_FAILURE_PRUNE_EVERY,
};
use crate::lock::lock;

/// Failed authentications in a fixed window, counted per (peer IP, client id) with
/// `--auth-failures` each, and per peer IP with [`AUTH_FAILURE_IP_FACTOR`] times that.
/// Clients behind one NAT address (Docker's bridge, the egress forward) thus do not
/// lock each other out, while one address cannot try many ids without limit.
#[derive(Debug)]
pub struct AuthFailures {
    max: u32,
    window: Duration,
    peers: Mutex<HashMap<AuthKey, (Instant, u32)>>,
    /// When expired entries were last pruned (at most once a second).
    last_prune: Mutex<Instant>,
}

/// A peer IP alone (`None`), or with the client id it presented.
type AuthKey = (IpAddr, Option<Box<str>>);

impl AuthFailures {
    pub fn new(max: u32, window: Duration) -> Self {
        AuthFailures {
            max: max.max(1),
            window,
            peers: Mutex::new(HashMap::new()),
            last_prune: Mutex::new(Instant::now()),
        }
    }

    fn budget(&self, key: &AuthKey) -> u32 {
        match key.1 {
            None => self.max.saturating_mul(AUTH_FAILURE_IP_FACTOR),
            Some(_) => self.max,
        }
    }

    fn key(ip: IpAddr, client: Option<&str>) -> AuthKey {
        (ip, client.map(|c| crate::logging::clip(c).into()))
    }

    fn blocked_key(
        &self,
        peers: &HashMap<AuthKey, (Instant, u32)>,
        key: &AuthKey,
        now: Instant,
    ) -> Option<Duration> {
        let (start, count) = peers.get(key)?;
        let age = now.saturating_duration_since(*start);
        (age < self.window && *count >= self.budget(key)).then(|| self.window - age)
    }

    /// `Some(retry_after)` when the peer IP used up its (larger) per-IP budget: checked
    /// before the upgrade, when the client id is not known yet.
    pub fn blocked_ip(&self, ip: IpAddr) -> Option<Duration> {
        let peers = lock(&self.peers);
        self.blocked_key(&peers, &(ip, None), Instant::now())
    }

    /// `Some(retry_after)` when the peer IP, or this client id from it, used up its budget.
    pub fn blocked(&self, ip: IpAddr, client: &str) -> Option<Duration> {
        let now = Instant::now();
        let peers = lock(&self.peers);
        let by_ip = self.blocked_key(&peers, &(ip, None), now);
        let by_client = self.blocked_key(&peers, &Self::key(ip, Some(client)), now);
        by_ip.max(by_client)
    }

    fn prune_due(&self, now: Instant) -> bool {
        let mut last = lock(&self.last_prune);
        if now.saturating_duration_since(*last) >= AUTH_FAILURE_PRUNE_EVERY {
            *last = now;
            true
        } else {
            false
        }
    }

    /// Records one failure of `client` from `ip`; returns true when either is now blocked.
    pub fn record(&self, ip: IpAddr, client: &str) -> bool {
        let now = Instant::now();
        let mut peers = lock(&self.peers);
        if peers.len() >= AUTH_FAILURE_PRUNE_AT && self.prune_due(now) {
            let window = self.window;
            peers.retain(|_, (start, _)| now.saturating_duration_since(*start) < window);
        }
        let mut blocked = false;
        for key in [Self::key(ip, None), Self::key(ip, Some(client))] {
            if peers.len() >= AUTH_FAILURE_MAX_PEERS && !peers.contains_key(&key) {
                continue;
            }
            let budget = self.budget(&key);
            let entry = peers.entry(key).or_insert((now, 0));
            if now.saturating_duration_since(entry.0) >= self.window {
                *entry = (now, 0);
            }
            entry.1 = entry.1.saturating_add(1);
            blocked |= entry.1 >= budget;
        }
        blocked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_failures_block_per_client_id_then_per_ip() {
        let af = AuthFailures::new(2, Duration::from_secs(60));
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(af.blocked(a, "cli").is_none());
        assert!(!af.record(a, "cli"));
        assert!(af.blocked(a, "cli").is_none());
        assert!(af.record(a, "cli"));
        assert!(af.blocked(a, "cli").is_some());
        // Another client id behind the same address is not locked out...
        assert!(af.blocked(a, "tui").is_none());
        assert!(af.blocked_ip(a).is_none());
        assert!(af.blocked(b, "cli").is_none());
        // ...until the address used up its larger budget.
        for i in 0..(2 * AUTH_FAILURE_IP_FACTOR - 2) {
            af.record(a, &format!("id{i}"));
        }
        assert!(af.blocked_ip(a).is_some());
        assert!(af.blocked(a, "tui").is_some());
        assert!(af.blocked_ip(b).is_none());
    }
}
