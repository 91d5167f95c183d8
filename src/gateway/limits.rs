//! Every limit of the gateway: the configurable ones ([`Limits`], one flag and
//! `CLAWDBOT_*` variable each, with its range) and the fixed bounds, each a named
//! constant below. The mechanisms that enforce them live in `admission/` (pools, rate,
//! failed-auth budgets), `transport/` (frame gate, send queues), `ws/` and `runs/`.

use std::time::Duration;

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

// ---------------------------------------------------------------------------------
// Fixed bounds (not configurable).

/// Connections above `--max-http-connections` that may still be accepted for the health
/// endpoints (so `/health` answers while the regular slots are held).
pub const HTTP_HEALTH_RESERVE: usize = 16;
/// File descriptors kept free besides the connection limits (listeners, stdio, the
/// runtime, DNS, the provider's connections, a socket accepted to be refused).
pub const FD_HEADROOM: u64 = 64;
/// Head deadline of a health-only reserve slot (a health probe sends its request at once).
pub const RESERVE_HEADER_TIMEOUT: Duration = Duration::from_secs(1);
/// Largest request head buffered per HTTP connection (hyper's minimum is 8 KiB).
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Kernel send buffer of each accepted socket (the kernel doubles it). A fixed size
/// turns off autotuning, which lets a client that does not read pin up to
/// `net.ipv4.tcp_wmem`'s maximum (4 MiB by default) of kernel memory per socket,
/// charged to the container's memory limit and invisible to the outbound budgets.
pub const SOCKET_SEND_BUFFER: libc::c_int = 128 * 1024;
/// How long open HTTP connections get to finish once the drain is over.
pub const HTTP_CLOSE_GRACE: Duration = Duration::from_millis(200);
/// Pause of the accept loop after an accept error (out of descriptors), and how often
/// it logs one.
pub const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(20);
pub const ACCEPT_WARNING_EVERY: Duration = Duration::from_secs(60);

/// The codec's read buffer of each WebSocket connection, allocated with it: small, so
/// that an idle connection costs little (it is also the most the codec reads at once:
/// a typical request fits); the frame gate reads ahead during bursts
/// ([`READ_AHEAD_BYTES`], freed once drained).
pub const WS_READ_BUFFER_BYTES: usize = 256;
/// The codec's write batching threshold: frames are written to the socket once this
/// much is queued or on flush (the codec's write buffer grows only as frames need).
pub const WS_WRITE_BUFFER_BYTES: usize = 8 * 1024;
/// Least size of the codec's write backstop (above the write buffer size).
pub const MIN_WRITE_BUFFER_BYTES: usize = 512 * 1024;
/// A connection whose codec carried a frame larger than this since it was built gets
/// a fresh codec once idle (`ws::shrink`): its buffers grew to that frame (an ordinary
/// response of 300 B to 1 KiB would otherwise stay in every idle connection's codec).
pub const SHRINK_ABOVE: usize = 256;
/// How long a connection must be quiet (no message read) before its codec is rebuilt.
pub const SHRINK_IDLE: Duration = Duration::from_secs(1);
/// How long a shrinking connection waits for the codec to flush what it holds (a
/// pong); a socket that does not take it now is left for later.
pub const SHRINK_FLUSH_WAIT: Duration = Duration::from_millis(100);
/// How long a closing connection waits for the client's close reply.
pub const CLOSE_REPLY_WAIT: Duration = Duration::from_millis(500);
/// The frame gate's read-ahead during a burst (allocated per burst, freed when drained).
pub const READ_AHEAD_BYTES: usize = 16 * 1024;
/// How long a closing connection waits for its queue and close frame to be written
/// before the socket is dropped without one (`ws::io`).
pub const OUTBOX_CLOSE_WAIT: Duration = Duration::from_secs(2);
/// How long a connection closed to make room gets to write its close frame (its slot
/// is given back first: nobody waits for it).
pub const OUTBOX_CLOSE_NOW_WAIT: Duration = Duration::from_millis(200);
/// Most frames a connection's writer feeds the socket between two flushes.
pub const OUTBOX_MAX_BATCH: usize = 64;

/// The per-IP failed-auth budget is this many times the per-client budget.
pub const AUTH_FAILURE_IP_FACTOR: u32 = 5;
/// Peers tracked before expired failed-auth entries are pruned, and how often at most.
pub const AUTH_FAILURE_PRUNE_AT: usize = 4096;
pub const AUTH_FAILURE_PRUNE_EVERY: Duration = Duration::from_secs(1);
/// Most failed-auth keys tracked at once (bounds memory under a distributed attack);
/// beyond it, failures of untracked keys are not counted until old entries expire.
pub const AUTH_FAILURE_MAX_PEERS: usize = 65_536;

/// Longest client identity kept for the per-client quotas, in bytes (a longer
/// `device.id` or `client.instanceId` is cut; real ones are 36 to 64 characters).
pub const MAX_CLIENT_IDENTITY: usize = 128;
/// Per-client quota entries kept before the first prune of released identities.
pub const CLIENT_QUOTA_PRUNE_FLOOR: usize = 64;
/// Characters of a client-supplied id (an unknown `agentId`) that an error echoes.
pub const ECHO_MAX_CHARS: usize = 64;
/// Threads of the async runtime, and most threads for blocking work (session files).
pub const WORKER_THREADS: usize = 2;
pub const MAX_BLOCKING_THREADS: usize = 4;

/// Most `sessions.messages.subscribe` keys one connection may hold.
pub const MAX_MESSAGE_SUBSCRIPTIONS: usize = 64;
/// Sessions shown as `recent` in the `status`/`health` summaries.
pub const RECENT_SESSIONS: usize = 5;

/// Deltas buffered between the provider and the run task (the provider waits when full).
pub const DELTA_BUFFER: usize = 16;
/// Longest time a run may take (the default is `--run-timeout-ms`).
pub const MAX_RUN_TIMEOUT: Duration = Duration::from_secs(600);
/// Longest the shutdown drain waits for a connection's runs to queue their final
/// responses before it sends the `shutdown` event, and how often it looks.
pub const RUN_DRAIN_WAIT: Duration = Duration::from_secs(2);
pub const RUN_DRAIN_POLL: Duration = Duration::from_millis(10);
/// How often the shutdown drain looks whether every connection closed, and how long
/// the listeners then get to stop.
pub const DRAIN_POLL: Duration = Duration::from_millis(20);
pub const LISTENERS_STOP_WAIT: Duration = Duration::from_millis(500);
/// How long the async runtime's tasks get to stop when `serve` returns.
pub const RUNTIME_STOP_WAIT: Duration = Duration::from_millis(500);
/// Longest the shutdown waits for session files still to be written.
pub const SESSIONS_SAVE_WAIT: Duration = Duration::from_secs(10);

/// The retry hint (`retryAfterMs`) of a refusal that may pass soon: a full store or
/// gateway, a busy session, the shutdown drain.
pub const RETRY_LATER_MS: u64 = 1000;

/// Request bounds of the handlers: `chat.history` messages (and its default), a
/// session label's characters, the messages `sessions.compact` keeps by default, an
/// idempotency key's bytes, `logs.tail` lines and bytes (the protocol's `LogsTailParams`
/// bounds, and their defaults).
pub const HISTORY_MAX: usize = 1000;
pub const HISTORY_DEFAULT: usize = 200;
pub const MAX_LABEL: usize = 100;
pub const COMPACT_KEEP: usize = 20;
pub const MAX_IDEMPOTENCY_KEY: usize = 256;
pub const LOGS_MAX_LINES: usize = 5000;
pub const LOGS_MAX_BYTES: usize = 1_000_000;
pub const LOGS_DEFAULT_LINES: usize = 500;
pub const LOGS_DEFAULT_BYTES: usize = 250_000;

#[cfg(test)]
mod tests {
    use super::*;

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
}
