//! Every fixed bound of the egress proxy (the configurable ones are the flags of
//! `EgressArgs`, with their ranges below).

use std::time::Duration;

/// Largest `--max-tunnels` / `--max-forward-connections`.
pub const MAX_SLOTS: usize = 65_536;
/// Largest `--max-pending`.
pub const MAX_PENDING: usize = 4_096;
/// Range of every timeout, in ms: at least 100 ms, at most a day.
pub const TIMEOUT_RANGE_MS: std::ops::RangeInclusive<u64> = 100..=86_400_000;

/// Largest request head accepted on the proxy port.
pub const MAX_HEAD: usize = 8 * 1024;
/// A response to a refused client is small; a client that does not read it still cannot
/// hold its task longer than this.
pub const RESPOND_TIMEOUT: Duration = Duration::from_secs(2);
/// Bytes read at a time while a request head arrives.
pub const HEAD_READ_CHUNK: usize = 1024;
/// Characters of a client-supplied token (a host, a method) that a log line keeps.
pub const LOG_TOKEN_MAX: usize = 32;
/// Largest response head `egress-check` reads from the proxy.
pub const CHECK_MAX_HEAD: usize = 16 * 1024;
/// Threads of the proxy's async runtime.
pub const WORKER_THREADS: usize = 2;
/// Relay buffer of each direction of a tunnel or forward.
pub const RELAY_BUFFER: usize = 16 * 1024;
/// Pause of an accept loop after an accept error (out of descriptors).
pub const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// Individual refusal lines allowed per interval; the rest are only counted.
pub const LINES_PER_INTERVAL: u64 = 10;
/// How long the proxy's async runtime's tasks get to stop when it returns.
pub const RUNTIME_STOP_WAIT: Duration = Duration::from_millis(500);

/// How often the summary line of refusals is written (when there were any).
pub const SUMMARY_INTERVAL: Duration = Duration::from_secs(10);
