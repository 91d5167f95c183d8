//! Bounds and persistence of the sessions store (`clawdbot serve` flags with
//! `CLAWDBOT_*` environment fallbacks).

/// Every bound of the sessions store, with sane defaults and range validation, and the
/// optional directory it is saved in.
#[derive(Debug, Clone, clap::Args)]
pub struct SessionLimits {
    /// Sessions kept in memory; the least recently used idle one is evicted beyond it.
    #[arg(long, env = "CLAWDBOT_MAX_SESSIONS", default_value_t = 256)]
    pub max_sessions: usize,
    /// Messages kept per session transcript (oldest dropped first).
    #[arg(
        long = "session-max-messages",
        env = "CLAWDBOT_SESSION_MAX_MESSAGES",
        default_value_t = 200
    )]
    pub max_messages: usize,
    /// Bytes of transcript kept per session (oldest messages dropped first).
    #[arg(long = "session-max-bytes", env = "CLAWDBOT_SESSION_MAX_BYTES", default_value_t = 256 * 1024)]
    pub max_session_bytes: usize,
    /// Largest accepted chat message, in bytes (larger ones are refused).
    #[arg(long, env = "CLAWDBOT_MAX_MESSAGE_BYTES", default_value_t = 32 * 1024)]
    pub max_message_bytes: usize,
    /// Save sessions in this directory (files 0600, atomic writes) and load them at
    /// startup. Off by default: sessions live in memory only.
    #[arg(long, env = crate::defaults::SESSIONS_DIR_VAR)]
    pub sessions_dir: Option<std::path::PathBuf>,
    /// Runs in progress at once, all clients together (more are refused, retryable).
    #[arg(long, env = "CLAWDBOT_MAX_RUNS", default_value_t = 64)]
    pub max_runs: usize,
    /// Runs in progress at once per connection.
    #[arg(long, env = "CLAWDBOT_MAX_RUNS_PER_CONNECTION", default_value_t = 4)]
    pub max_runs_per_connection: usize,
    /// Sessions one connection may create (`sessions.create`, a chat to a new key).
    #[arg(
        long,
        env = "CLAWDBOT_MAX_SESSIONS_PER_CONNECTION",
        default_value_t = 32
    )]
    pub max_sessions_per_connection: usize,
    /// Runs in progress at once per client identity (the `connect` params' `device.id`,
    /// else `client.instanceId`), all its connections together. Self-declared: a
    /// fairness bound between well-behaved clients, not a security boundary.
    #[arg(long, env = "CLAWDBOT_MAX_RUNS_PER_CLIENT", default_value_t = 8)]
    pub max_runs_per_client: usize,
    /// Sessions one client identity may create, all its connections together (counted
    /// while any of them is open).
    #[arg(long, env = "CLAWDBOT_MAX_SESSIONS_PER_CLIENT", default_value_t = 64)]
    pub max_sessions_per_client: usize,
    /// Default time a run may take, in milliseconds (a request's `timeoutMs` may ask
    /// for up to 600 s).
    #[arg(long, env = "CLAWDBOT_RUN_TIMEOUT_MS", default_value_t = 120_000)]
    pub run_timeout_ms: u64,
    /// Least time between two streamed deltas of one run, in milliseconds (the first
    /// goes out at once; 0 sends every provider chunk).
    #[arg(long, env = "CLAWDBOT_DELTA_INTERVAL_MS", default_value_t = 150)]
    pub delta_interval_ms: u64,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            max_sessions: 256,
            max_messages: 200,
            max_session_bytes: 256 * 1024,
            max_message_bytes: 32 * 1024,
            sessions_dir: None,
            max_runs: 64,
            max_runs_per_connection: 4,
            max_sessions_per_connection: 32,
            max_runs_per_client: 8,
            max_sessions_per_client: 64,
            run_timeout_ms: 120_000,
            delta_interval_ms: 150,
        }
    }
}

/// Bytes of one message's fields besides its text in a session file, at most: its id,
/// role, timestamp, stop reason and run id (up to 256 characters, each escaped to at
/// most 6 bytes) with their names.
const MESSAGE_FILE_OVERHEAD: u64 = 2048;
/// Bytes of a session's own fields in its file, at most (key, id, label, model, counts).
const SESSION_FILE_OVERHEAD: u64 = 64 * 1024;
/// Longest JSON escape of one byte of text (`\u0001`).
const MAX_ESCAPE: u64 = 6;

impl SessionLimits {
    /// The default time a run may take.
    pub fn run_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.run_timeout_ms)
    }

    /// The least time between two streamed deltas of one run.
    pub fn delta_interval(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.delta_interval_ms)
    }

    /// The largest session file written or loaded: a full transcript with every byte
    /// escaped at its worst, so whatever the gateway writes within these limits it can
    /// load again (the writer also keeps every file within it).
    pub fn max_file_bytes(&self) -> u64 {
        let text = (self.max_session_bytes + self.max_message_bytes) as u64;
        text * MAX_ESCAPE + self.max_messages as u64 * MESSAGE_FILE_OVERHEAD + SESSION_FILE_OVERHEAD
    }

    /// Rejects values outside the supported ranges (a limit of 0 would disable chat;
    /// huge ones would let clients grow memory without bound).
    pub fn validate(&self) -> anyhow::Result<()> {
        let ranges: [(&str, usize, usize, usize); 11] = [
            ("--max-sessions", self.max_sessions, 1, 100_000),
            ("--session-max-messages", self.max_messages, 2, 100_000),
            (
                "--session-max-bytes",
                self.max_session_bytes,
                1024,
                64 * 1024 * 1024,
            ),
            (
                "--max-message-bytes",
                self.max_message_bytes,
                16,
                1024 * 1024,
            ),
            ("--max-runs", self.max_runs, 1, 100_000),
            (
                "--max-runs-per-connection",
                self.max_runs_per_connection,
                1,
                100_000,
            ),
            (
                "--max-sessions-per-connection",
                self.max_sessions_per_connection,
                1,
                100_000,
            ),
            (
                "--max-runs-per-client",
                self.max_runs_per_client,
                1,
                100_000,
            ),
            (
                "--max-sessions-per-client",
                self.max_sessions_per_client,
                1,
                100_000,
            ),
            (
                "--run-timeout-ms",
                self.run_timeout_ms as usize,
                1000,
                600_000,
            ),
            (
                "--delta-interval-ms",
                self.delta_interval_ms as usize,
                0,
                10_000,
            ),
        ];
        for (flag, value, min, max) in ranges {
            anyhow::ensure!(
                (min..=max).contains(&value),
                "{flag} must be between {min} and {max} (got {value})"
            );
        }
        anyhow::ensure!(
            self.max_message_bytes <= self.max_session_bytes,
            "--max-message-bytes ({}) must be at most --session-max-bytes ({})",
            self.max_message_bytes,
            self.max_session_bytes
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_ranges_enforced() {
        assert!(SessionLimits::default().validate().is_ok());
        let bad = SessionLimits {
            max_sessions: 0,
            ..Default::default()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("--max-sessions"));
        let bad = SessionLimits {
            max_message_bytes: 1024 * 1024,
            max_session_bytes: 2048,
            ..Default::default()
        };
        assert!(bad.validate().is_err());
    }
}
