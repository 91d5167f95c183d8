//! Limits of the gateway (all configurable) and the small mechanisms enforcing them:
//! a per-connection token bucket, a failed-auth counter per peer IP and a counter of
//! open connections.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Every limit of `clawdbot serve`. Flags fall back to `CLAWDBOT_*` environment variables.
/// Each has a range ([`Limits::validate`]); `docs/protocol.md` lists them.
#[derive(Debug, Clone, clap::Args)]
pub struct Limits {
    /// Largest accepted WebSocket message in bytes (advertised as `policy.maxPayload`).
    #[arg(long, env = "CLAWDBOT_MAX_PAYLOAD", default_value_t = 1024 * 1024)]
    pub max_payload: usize,
    /// Largest frame (and message) accepted before `connect` succeeds, in bytes. Larger
    /// frames are refused by their header, before any of their payload is buffered.
    #[arg(long, env = "CLAWDBOT_MAX_PREAUTH_PAYLOAD", default_value_t = 64 * 1024)]
    pub max_preauth_payload: usize,
    /// Maximum concurrent authenticated WebSocket connections; further upgrades get HTTP 503.
    #[arg(long, env = "CLAWDBOT_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Maximum concurrent WebSocket connections that have not completed `connect` (a
    /// separate budget: they never take an authenticated slot). When full, the oldest
    /// pending handshake is closed to make room.
    #[arg(long, env = "CLAWDBOT_MAX_UNAUTH_CONNECTIONS", default_value_t = 256)]
    pub max_unauth_connections: usize,
    /// Maximum pending (unauthenticated) WebSocket connections from one source IP.
    #[arg(long, env = "CLAWDBOT_MAX_UNAUTH_PER_IP", default_value_t = 32)]
    pub max_unauth_per_ip: usize,
    /// Sustained requests per second allowed on one connection.
    #[arg(long, env = "CLAWDBOT_RATE_LIMIT", default_value_t = crate::defaults::RATE_LIMIT)]
    pub rate_limit: u32,
    /// Burst of requests allowed on one connection above the sustained rate.
    #[arg(long, env = "CLAWDBOT_RATE_BURST", default_value_t = 40)]
    pub rate_burst: u32,
    /// Failed authentications allowed per peer IP (and per client id) within the window.
    #[arg(long, env = "CLAWDBOT_AUTH_FAILURES", default_value_t = 10)]
    pub auth_failures: u32,
    /// Window of the failed-auth counter, in seconds.
    #[arg(long, env = "CLAWDBOT_AUTH_FAILURE_WINDOW_SECS", default_value_t = 60)]
    pub auth_failure_window_secs: u64,
    /// Time allowed between the upgrade and a successful `connect`, in milliseconds.
    #[arg(long, env = "CLAWDBOT_HANDSHAKE_TIMEOUT_MS", default_value_t = 5_000)]
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
    /// Outgoing bytes queued across all connections; a response that finds it used up
    /// waits like one that finds its own queue full, so slow readers are dropped first.
    #[arg(long, env = "CLAWDBOT_MAX_BUFFERED_BYTES_TOTAL", default_value_t = crate::defaults::MAX_BUFFERED_BYTES_TOTAL)]
    pub max_buffered_bytes_total: usize,
    /// How long a response may wait for room in a full send queue before the client is
    /// disconnected as a slow consumer, in milliseconds.
    #[arg(long, env = "CLAWDBOT_SEND_TIMEOUT_MS", default_value_t = 5_000)]
    pub send_timeout_ms: u64,
    /// Time given to open connections to close on SIGTERM/SIGINT, in milliseconds.
    #[arg(long, env = "CLAWDBOT_SHUTDOWN_GRACE_MS", default_value_t = 3_000)]
    pub shutdown_grace_ms: u64,
    /// Time allowed to send a complete HTTP request head (both ports), in milliseconds.
    #[arg(
        long,
        env = "CLAWDBOT_HTTP_HEADER_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub http_header_timeout_ms: u64,
    /// A kept-alive HTTP connection with no request for this long is closed, in milliseconds.
    #[arg(long, env = "CLAWDBOT_HTTP_IDLE_TIMEOUT_MS", default_value_t = 15_000)]
    pub http_idle_timeout_ms: u64,
    /// Maximum concurrent HTTP connections per port (before any WebSocket upgrade); a
    /// reserve above it only serves `/health`, `/ready` and `/metrics`.
    #[arg(long, env = "CLAWDBOT_MAX_HTTP_CONNECTIONS", default_value_t = 512)]
    pub max_http_connections: usize,
}

/// Connections above `--max-http-connections` that may still be accepted for the health
/// endpoints (so `/health` answers while the regular slots are held).
pub const HTTP_HEALTH_RESERVE: usize = 16;

/// The accepted range of one numeric setting.
struct Range {
    flag: &'static str,
    value: u64,
    min: u64,
    max: u64,
}

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;
/// Shortest accepted timeout: below it a busy machine would close healthy clients.
const MIN_TIMEOUT_MS: u64 = 100;
const HOUR_MS: u64 = 3600 * 1000;
const DAY_MS: u64 = 24 * HOUR_MS;

impl Limits {
    fn ranges(&self) -> [Range; 20] {
        let r = |flag, value: u64, min, max| Range {
            flag,
            value,
            min,
            max,
        };
        let n = |v: usize| v as u64;
        [
            r("--max-payload", n(self.max_payload), KIB, 64 * MIB),
            r(
                "--max-preauth-payload",
                n(self.max_preauth_payload),
                KIB,
                MIB,
            ),
            r("--max-connections", n(self.max_connections), 1, 65_536),
            r(
                "--max-unauth-connections",
                n(self.max_unauth_connections),
                1,
                65_536,
            ),
            r("--max-unauth-per-ip", n(self.max_unauth_per_ip), 1, 65_536),
            r("--rate-limit", u64::from(self.rate_limit), 1, 1_000_000),
            r("--rate-burst", u64::from(self.rate_burst), 1, 1_000_000),
            r("--auth-failures", u64::from(self.auth_failures), 1, 100_000),
            r(
                "--auth-failure-window-secs",
                self.auth_failure_window_secs,
                1,
                DAY_MS / 1000,
            ),
            r(
                "--handshake-timeout-ms",
                self.handshake_timeout_ms,
                MIN_TIMEOUT_MS,
                HOUR_MS,
            ),
            r(
                "--idle-timeout-ms",
                self.idle_timeout_ms,
                MIN_TIMEOUT_MS,
                7 * DAY_MS,
            ),
            r(
                "--tick-interval-ms",
                self.tick_interval_ms,
                MIN_TIMEOUT_MS,
                HOUR_MS,
            ),
            r("--send-queue", n(self.send_queue), 1, 65_535),
            r(
                "--max-buffered-bytes",
                n(self.max_buffered_bytes),
                KIB,
                1024 * MIB,
            ),
            r(
                "--max-buffered-bytes-total",
                n(self.max_buffered_bytes_total),
                KIB,
                16 * 1024 * MIB,
            ),
            r(
                "--send-timeout-ms",
                self.send_timeout_ms,
                MIN_TIMEOUT_MS,
                HOUR_MS,
            ),
            r("--shutdown-grace-ms", self.shutdown_grace_ms, 0, HOUR_MS),
            r(
                "--http-header-timeout-ms",
                self.http_header_timeout_ms,
                MIN_TIMEOUT_MS,
                HOUR_MS,
            ),
            r(
                "--http-idle-timeout-ms",
                self.http_idle_timeout_ms,
                MIN_TIMEOUT_MS,
                HOUR_MS,
            ),
            r(
                "--max-http-connections",
                n(self.max_http_connections),
                1,
                65_536,
            ),
        ]
    }

    /// Rejects values outside their range and combinations that would disable a limit;
    /// the error names the flag, the value and the accepted range.
    pub fn validate(&self) -> anyhow::Result<()> {
        for r in self.ranges() {
            anyhow::ensure!(
                r.value >= r.min && r.value <= r.max,
                "{} {} is out of range (accepted: {}..={})",
                r.flag,
                r.value,
                r.min,
                r.max
            );
        }
        let pairs = [
            (
                "--max-preauth-payload",
                self.max_preauth_payload,
                "--max-payload",
                self.max_payload,
            ),
            (
                "--max-payload",
                self.max_payload,
                "--max-buffered-bytes",
                self.max_buffered_bytes,
            ),
            (
                "--max-buffered-bytes",
                self.max_buffered_bytes,
                "--max-buffered-bytes-total",
                self.max_buffered_bytes_total,
            ),
            (
                "--max-unauth-per-ip",
                self.max_unauth_per_ip,
                "--max-unauth-connections",
                self.max_unauth_connections,
            ),
        ];
        for (small, a, big, b) in pairs {
            anyhow::ensure!(a <= b, "{small} ({a}) must not be larger than {big} ({b})");
        }
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
    pub fn http_header_timeout(&self) -> Duration {
        Duration::from_millis(self.http_header_timeout_ms)
    }
    pub fn http_idle_timeout(&self) -> Duration {
        Duration::from_millis(self.http_idle_timeout_ms)
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
