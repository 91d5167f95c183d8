//! Limits of the gateway (all configurable) and the small mechanisms enforcing them:
//! a per-connection token bucket, a failed-auth counter per peer IP and a counter of
//! open connections.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Every limit of `clawdbot serve`. Flags fall back to `CLAWDBOT_*` environment variables.
#[derive(Debug, Clone, clap::Args)]
pub struct Limits {
    /// Largest accepted WebSocket message in bytes (advertised as `policy.maxPayload`).
    #[arg(long, env = "CLAWDBOT_MAX_PAYLOAD", default_value_t = 1024 * 1024)]
    pub max_payload: usize,
    /// Largest frame accepted before the handshake completes, in bytes.
    #[arg(long, env = "CLAWDBOT_MAX_PREAUTH_PAYLOAD", default_value_t = 64 * 1024)]
    pub max_preauth_payload: usize,
    /// Maximum concurrent WebSocket connections; further upgrades get HTTP 503.
    #[arg(long, env = "CLAWDBOT_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Sustained requests per second allowed on one connection.
    #[arg(long, env = "CLAWDBOT_RATE_LIMIT", default_value_t = crate::defaults::RATE_LIMIT)]
    pub rate_limit: u32,
    /// Burst of requests allowed on one connection above the sustained rate.
    #[arg(long, env = "CLAWDBOT_RATE_BURST", default_value_t = 40)]
    pub rate_burst: u32,
    /// Failed authentications allowed per peer IP within the window; then refused.
    #[arg(long, env = "CLAWDBOT_AUTH_FAILURES", default_value_t = 10)]
    pub auth_failures: u32,
    /// Window of the failed-auth counter, in seconds.
    #[arg(long, env = "CLAWDBOT_AUTH_FAILURE_WINDOW_SECS", default_value_t = 60)]
    pub auth_failure_window_secs: u64,
    /// Time allowed between the upgrade and a successful `connect`, in milliseconds.
    #[arg(long, env = "CLAWDBOT_HANDSHAKE_TIMEOUT_MS", default_value_t = 10_000)]
    pub handshake_timeout_ms: u64,
    /// A connection with no inbound frame (requests or pongs) for this long is closed, in ms.
    #[arg(long, env = "CLAWDBOT_IDLE_TIMEOUT_MS", default_value_t = 120_000)]
    pub idle_timeout_ms: u64,
    /// Interval of `tick` events (and WebSocket pings), in milliseconds.
    #[arg(long, env = "CLAWDBOT_TICK_INTERVAL_MS", default_value_t = 30_000)]
    pub tick_interval_ms: u64,
    /// Outgoing frames queued per connection; a client that lets it fill is disconnected.
    #[arg(long, env = "CLAWDBOT_SEND_QUEUE", default_value_t = 256)]
    pub send_queue: usize,
    /// Outgoing bytes queued per connection (advertised as `policy.maxBufferedBytes`).
    #[arg(long, env = "CLAWDBOT_MAX_BUFFERED_BYTES", default_value_t = crate::defaults::MAX_BUFFERED_BYTES)]
    pub max_buffered_bytes: usize,
    /// How long a response may wait for room in a full send queue before the client is
    /// disconnected as a slow consumer, in milliseconds.
    #[arg(long, env = "CLAWDBOT_SEND_TIMEOUT_MS", default_value_t = 5_000)]
    pub send_timeout_ms: u64,
    /// Time given to open connections to close on SIGTERM/SIGINT, in milliseconds.
    #[arg(long, env = "CLAWDBOT_SHUTDOWN_GRACE_MS", default_value_t = 3_000)]
    pub shutdown_grace_ms: u64,
}

impl Limits {
    /// Rejects values that would disable a limit or make the gateway unusable.
    pub fn validate(&self) -> anyhow::Result<()> {
        let positive = [
            ("--max-payload", self.max_payload as u64),
            ("--max-preauth-payload", self.max_preauth_payload as u64),
            ("--max-connections", self.max_connections as u64),
            ("--rate-limit", u64::from(self.rate_limit)),
            ("--rate-burst", u64::from(self.rate_burst)),
            ("--auth-failures", u64::from(self.auth_failures)),
            ("--auth-failure-window-secs", self.auth_failure_window_secs),
            ("--handshake-timeout-ms", self.handshake_timeout_ms),
            ("--idle-timeout-ms", self.idle_timeout_ms),
            ("--tick-interval-ms", self.tick_interval_ms),
            ("--send-queue", self.send_queue as u64),
            ("--send-timeout-ms", self.send_timeout_ms),
            ("--max-buffered-bytes", self.max_buffered_bytes as u64),
        ];
        for (flag, value) in positive {
            anyhow::ensure!(value > 0, "{flag} must be greater than 0");
        }
        const WEEK_MS: u64 = 7 * 24 * 3600 * 1000;
        let durations = [
            ("--handshake-timeout-ms", self.handshake_timeout_ms),
            ("--idle-timeout-ms", self.idle_timeout_ms),
            ("--tick-interval-ms", self.tick_interval_ms),
            ("--send-timeout-ms", self.send_timeout_ms),
            ("--shutdown-grace-ms", self.shutdown_grace_ms),
            (
                "--auth-failure-window-secs",
                self.auth_failure_window_secs.saturating_mul(1000),
            ),
        ];
        for (flag, ms) in durations {
            anyhow::ensure!(ms <= WEEK_MS, "{flag} must be at most one week");
        }
        anyhow::ensure!(
            self.max_buffered_bytes >= self.max_payload,
            "--max-buffered-bytes ({}) must be at least --max-payload ({})",
            self.max_buffered_bytes,
            self.max_payload
        );
        Ok(())
    }

    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_millis(self.handshake_timeout_ms)
    }
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }
    pub fn send_timeout(&self) -> Duration {
        Duration::from_millis(self.send_timeout_ms)
    }
    pub fn tick_interval(&self) -> Duration {
        Duration::from_millis(self.tick_interval_ms)
    }
}

/// Token bucket for the requests of one connection.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    pub fn new(per_second: u32, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        RateLimiter {
            rate: f64::from(per_second.max(1)),
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    /// Takes one token, or says how long until one is available.
    pub fn try_take(&mut self) -> Result<(), Duration> {
        self.try_take_at(Instant::now())
    }

    fn try_take_at(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }
}

/// Failed authentications per peer IP in a fixed window.
#[derive(Debug)]
pub struct AuthFailures {
    max: u32,
    window: Duration,
    peers: Mutex<HashMap<IpAddr, (Instant, u32)>>,
    /// When expired entries were last pruned (at most once a second).
    last_prune: Mutex<Instant>,
}

/// Peers tracked before expired entries are pruned.
const AUTH_FAILURE_PRUNE_AT: usize = 4096;
/// Most peers tracked at once (bounds memory under a distributed attack); beyond it,
/// failures of untracked peers are not counted until old entries expire.
const AUTH_FAILURE_MAX_PEERS: usize = 65_536;

impl AuthFailures {
    pub fn new(max: u32, window: Duration) -> Self {
        AuthFailures {
            max: max.max(1),
            window,
            peers: Mutex::new(HashMap::new()),
            last_prune: Mutex::new(Instant::now()),
        }
    }

    /// `Some(retry_after)` when the peer used up its failed attempts in this window.
    pub fn blocked(&self, ip: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        let peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        let (start, count) = peers.get(&ip)?;
        let age = now.saturating_duration_since(*start);
        (age < self.window && *count >= self.max).then(|| self.window - age)
    }

    fn prune_due(&self, now: Instant) -> bool {
        let mut last = self.last_prune.lock().unwrap_or_else(|e| e.into_inner());
        if now.saturating_duration_since(*last) >= Duration::from_secs(1) {
            *last = now;
            true
        } else {
            false
        }
    }

    /// Records one failure; returns true when the peer is now blocked.
    pub fn record(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        if peers.len() >= AUTH_FAILURE_PRUNE_AT && self.prune_due(now) {
            let window = self.window;
            peers.retain(|_, (start, _)| now.saturating_duration_since(*start) < window);
        }
        if peers.len() >= AUTH_FAILURE_MAX_PEERS && !peers.contains_key(&ip) {
            return false;
        }
        let entry = peers.entry(ip).or_insert((now, 0));
        if now.saturating_duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        entry.1 >= self.max
    }
}

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
    fn bucket_allows_burst_then_refills_at_rate() {
        let mut rl = RateLimiter::new(10, 3);
        let t0 = rl.last;
        assert!(rl.try_take_at(t0).is_ok());
        assert!(rl.try_take_at(t0).is_ok());
        assert!(rl.try_take_at(t0).is_ok());
        let wait = rl.try_take_at(t0).unwrap_err();
        assert!(wait <= Duration::from_millis(100) && wait > Duration::ZERO);
        assert!(rl.try_take_at(t0 + Duration::from_millis(100)).is_ok());
        assert!(rl.try_take_at(t0 + Duration::from_millis(100)).is_err());
    }

    #[test]
    fn auth_failures_block_after_max_per_ip() {
        let af = AuthFailures::new(2, Duration::from_secs(60));
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(af.blocked(a).is_none());
        assert!(!af.record(a));
        assert!(af.blocked(a).is_none());
        assert!(af.record(a));
        assert!(af.blocked(a).is_some());
        assert!(af.blocked(b).is_none());
    }

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
