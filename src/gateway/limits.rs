//! Limits of the gateway (all configurable) and the small mechanisms enforcing them:
//! a per-connection token bucket, failed-auth counters per peer IP and per (peer IP,
//! client id), a counter of open connections and the pool of pending (unauthenticated)
//! connections.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use std::time::{Duration, Instant};
use tokio::sync::Notify;

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
    /// Maximum pending (unauthenticated) WebSocket connections from one source IP
    /// (clients behind one NAT address share it). When the whole pending budget is
    /// full, the address holding the most pending connections loses its oldest first.
    #[arg(long, env = "CLAWDBOT_MAX_UNAUTH_PER_IP", default_value_t = 256)]
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
    /// How long a response may wait for room in a full send queue, and how long a
    /// socket may take no bytes while frames wait, before the client is disconnected as
    /// a slow consumer, in milliseconds.
    #[arg(long, env = "CLAWDBOT_SEND_TIMEOUT_MS", default_value_t = 5_000)]
    pub send_timeout_ms: u64,
    /// Time given to open connections to close on SIGTERM/SIGINT, in milliseconds.
    #[arg(long, env = "CLAWDBOT_SHUTDOWN_GRACE_MS", default_value_t = 3_000)]
    pub shutdown_grace_ms: u64,
    /// Time allowed to send a complete HTTP request head (both ports), in milliseconds.
    /// It also bounds how long a kept-alive connection may wait for its next request.
    #[arg(
        long,
        env = "CLAWDBOT_HTTP_HEADER_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub http_header_timeout_ms: u64,
    /// Maximum concurrent HTTP connections per port (before any WebSocket upgrade); a
    /// reserve above it only serves `/health`, `/ready` and `/metrics`.
    #[arg(long, env = "CLAWDBOT_MAX_HTTP_CONNECTIONS", default_value_t = 512)]
    pub max_http_connections: usize,
}

/// Connections above `--max-http-connections` that may still be accepted for the health
/// endpoints (so `/health` answers while the regular slots are held).
pub const HTTP_HEALTH_RESERVE: usize = 16;
/// File descriptors kept free besides the connection limits (listeners, stdio, the
/// runtime, DNS, the provider's connections, a socket accepted to be refused).
pub const FD_HEADROOM: u64 = 64;

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
    fn ranges(&self) -> [Range; 19] {
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
        ];
        for (small, a, big, b) in pairs {
            anyhow::ensure!(a <= b, "{small} ({a}) must not be larger than {big} ({b})");
        }
        Ok(())
    }

    /// File descriptors the limits may take at once: every authenticated and pending
    /// WebSocket, and the HTTP slots (with the health reserve) of both ports.
    pub fn open_files_needed(&self) -> u64 {
        let http = (self.max_http_connections + HTTP_HEALTH_RESERVE) as u64;
        self.max_connections as u64 + self.max_unauth_connections as u64 + 2 * http + FD_HEADROOM
    }

    /// Shrinks the connection limits (in proportion) so that they fit in `open_files`
    /// descriptors with [`FD_HEADROOM`] to spare, so that the process never runs out of
    /// descriptors (then `/health` could not accept). Returns the new limits when it
    /// had to shrink them.
    pub fn fit_open_files(&mut self, open_files: u64) -> Option<String> {
        let needed = self.open_files_needed();
        if open_files >= needed {
            return None;
        }
        let fixed = FD_HEADROOM + 2 * HTTP_HEALTH_RESERVE as u64;
        let budget = open_files.saturating_sub(fixed).max(4);
        let scalable = needed - fixed;
        let scale = |v: usize| -> usize {
            ((v as u128 * u128::from(budget) / u128::from(scalable)) as usize).max(1)
        };
        self.max_connections = scale(self.max_connections);
        self.max_unauth_connections = scale(self.max_unauth_connections);
        self.max_unauth_per_ip = self.max_unauth_per_ip.min(self.max_unauth_connections);
        self.max_http_connections = scale(self.max_http_connections);
        Some(format!(
            "--max-connections {} --max-unauth-connections {} --max-unauth-per-ip {} --max-http-connections {}",
            self.max_connections,
            self.max_unauth_connections,
            self.max_unauth_per_ip,
            self.max_http_connections
        ))
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

/// The per-IP budget is this many times the per-client budget.
pub const AUTH_FAILURE_IP_FACTOR: u32 = 5;
/// Peers tracked before expired entries are pruned.
const AUTH_FAILURE_PRUNE_AT: usize = 4096;
/// Most keys tracked at once (bounds memory under a distributed attack); beyond it,
/// failures of untracked keys are not counted until old entries expire.
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
        let peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        self.blocked_key(&peers, &(ip, None), Instant::now())
    }

    /// `Some(retry_after)` when the peer IP, or this client id from it, used up its budget.
    pub fn blocked(&self, ip: IpAddr, client: &str) -> Option<Duration> {
        let now = Instant::now();
        let peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        let by_ip = self.blocked_key(&peers, &(ip, None), now);
        let by_client = self.blocked_key(&peers, &Self::key(ip, Some(client)), now);
        by_ip.max(by_client)
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

    /// Records one failure of `client` from `ip`; returns true when either is now blocked.
    pub fn record(&self, ip: IpAddr, client: &str) -> bool {
        let now = Instant::now();
        let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
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

/// Pending (upgraded, not yet authenticated) WebSocket connections: at most
/// `--max-unauth-connections` in all and `--max-unauth-per-ip` per source IP. A new one
/// beyond either bound evicts the oldest pending connection of its own IP, or of the IP
/// holding the most, so a flood from some addresses cannot keep a client from another
/// address (or a quick client from the same one) out.
#[derive(Debug)]
pub struct PendingPool {
    max: usize,
    per_ip: usize,
    inner: Mutex<PendingInner>,
}

#[derive(Debug, Default)]
struct PendingInner {
    next_id: u64,
    total: usize,
    by_ip: HashMap<IpAddr, VecDeque<(u64, Arc<Notify>)>>,
}

/// One pending connection's place in the pool; released on drop. `evicted()` resolves
/// when a newer connection took its place.
#[derive(Debug)]
pub struct PendingSlot {
    pool: Arc<PendingPool>,
    ip: IpAddr,
    id: u64,
    evicted: Arc<Notify>,
}

impl PendingPool {
    pub fn new(max: usize, per_ip: usize) -> Arc<Self> {
        Arc::new(PendingPool {
            max: max.max(1),
            per_ip: per_ip.max(1),
            inner: Mutex::new(PendingInner::default()),
        })
    }

    pub fn current(&self) -> usize {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).total
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// Takes a place for a connection from `ip`; returns it and how many older pending
    /// connections were evicted for it.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> (PendingSlot, usize) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut evicted = 0;
        if inner.by_ip.get(&ip).is_some_and(|q| q.len() >= self.per_ip) {
            evicted += usize::from(inner.evict_oldest(ip));
        }
        if inner.total >= self.max {
            let busiest = inner
                .by_ip
                .iter()
                .max_by_key(|(_, q)| q.len())
                .map(|(ip, _)| *ip);
            if let Some(busiest) = busiest {
                evicted += usize::from(inner.evict_oldest(busiest));
            }
        }
        inner.next_id += 1;
        let id = inner.next_id;
        let notify = Arc::new(Notify::new());
        inner
            .by_ip
            .entry(ip)
            .or_default()
            .push_back((id, notify.clone()));
        inner.total += 1;
        let slot = PendingSlot {
            pool: self.clone(),
            ip,
            id,
            evicted: notify,
        };
        (slot, evicted)
    }
}

impl PendingInner {
    fn evict_oldest(&mut self, ip: IpAddr) -> bool {
        let Some(queue) = self.by_ip.get_mut(&ip) else {
            return false;
        };
        let Some((_, notify)) = queue.pop_front() else {
            return false;
        };
        if queue.is_empty() {
            self.by_ip.remove(&ip);
        }
        self.total -= 1;
        // notify_one keeps the wake-up if the connection is not waiting yet.
        notify.notify_one();
        true
    }
}

impl PendingSlot {
    /// Resolves once this connection was evicted from the pool.
    pub async fn evicted(&self) {
        self.evicted.notified().await
    }
    /// The notification behind [`PendingSlot::evicted`], for a `'static` future.
    pub fn evicted_handle(&self) -> Arc<Notify> {
        self.evicted.clone()
    }
}

impl Drop for PendingSlot {
    fn drop(&mut self) {
        let mut inner = self.pool.inner.lock().unwrap_or_else(|e| e.into_inner());
        let Some(queue) = inner.by_ip.get_mut(&self.ip) else {
            return;
        };
        let Some(pos) = queue.iter().position(|(id, _)| *id == self.id) else {
            return;
        };
        queue.remove(pos);
        if queue.is_empty() {
            inner.by_ip.remove(&self.ip);
        }
        inner.total -= 1;
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

    #[test]
    fn every_limit_is_documented_with_its_range() {
        use clap::Parser;
        #[derive(Parser)]
        struct Args {
            #[command(flatten)]
            limits: Limits,
        }
        let doc = include_str!("../../docs/protocol.md");
        let limits = Args::parse_from(["x"]).limits;
        for r in limits.ranges() {
            let row = doc
                .lines()
                .find(|l| {
                    l.starts_with(&format!("| `{}`", r.flag))
                        || l.contains(&format!("/ `{}`", r.flag))
                })
                .unwrap_or_else(|| {
                    panic!(
                        "{} missing from the limits table of docs/protocol.md",
                        r.flag
                    )
                });
            assert_eq!(row.matches('|').count(), 6, "{row}");
        }
    }

    #[test]
    fn limits_shrink_to_fit_the_open_files_limit() {
        use clap::Parser;
        #[derive(Parser)]
        struct Args {
            #[command(flatten)]
            limits: Limits,
        }
        let mut l = Args::parse_from(["x"]).limits;
        l.validate().unwrap();
        assert_eq!(l.fit_open_files(1 << 20), None);
        let shrunk = l.fit_open_files(1200).expect("shrunk");
        assert!(shrunk.contains("--max-connections"));
        assert!(l.open_files_needed() <= 1200, "{}", l.open_files_needed());
        assert!(
            l.max_connections >= 400 && l.max_http_connections >= 100,
            "{shrunk}"
        );
        l.validate().unwrap();
        let mut tiny = Args::parse_from(["x"]).limits;
        tiny.fit_open_files(10);
        assert!(tiny.max_connections >= 1 && tiny.max_http_connections >= 1);
        tiny.validate().unwrap();
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
