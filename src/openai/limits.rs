//! Settings of the OpenAI-compatible HTTP API (`--openai-api` and its bounds), each
//! with an accepted range checked at startup, in the style of the gateway's
//! [`Limits`](crate::gateway::limits::Limits) (`docs/openai-api.md` lists them).

use std::time::Duration;

/// `clawdbot serve` flags of the OpenAI-compatible API. Flags fall back to `CLAWDBOT_*`
/// environment variables.
#[derive(Debug, Clone, clap::Args)]
pub struct OpenAiArgs {
    /// Serve the OpenAI-compatible HTTP API (`GET /v1/models`, `POST /v1/chat/completions`)
    /// on the gateway port, behind the gateway token. Off by default; the environment
    /// takes `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`.
    #[arg(
        long = "openai-api",
        env = "CLAWDBOT_OPENAI_API",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub enabled: bool,
    /// Largest accepted request body of the API, in bytes (larger: HTTP 400).
    #[arg(long, env = "CLAWDBOT_OPENAI_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub openai_max_body_bytes: usize,
    /// Most messages in one chat completion request.
    #[arg(long, env = "CLAWDBOT_OPENAI_MAX_MESSAGES", default_value_t = 256)]
    pub openai_max_messages: usize,
    /// Most characters in one chat completion request, all messages together.
    #[arg(long, env = "CLAWDBOT_OPENAI_MAX_CHARS", default_value_t = 256 * 1024)]
    pub openai_max_chars: usize,
    /// Chat completions in progress at once with one gateway token (more: HTTP 429).
    #[arg(
        long,
        env = "CLAWDBOT_OPENAI_MAX_CONCURRENT_PER_TOKEN",
        default_value_t = 16
    )]
    pub openai_max_concurrent_per_token: usize,
    /// Chat completions in progress at once in all (more: HTTP 429).
    #[arg(long, env = "CLAWDBOT_OPENAI_MAX_CONCURRENT", default_value_t = 64)]
    pub openai_max_concurrent: usize,
    /// Time allowed to send the whole request body once the head arrived, in ms (the
    /// head itself has `--http-header-timeout-ms`).
    #[arg(
        long,
        env = "CLAWDBOT_OPENAI_BODY_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub openai_body_timeout_ms: u64,
    /// Bytes of a stream's SSE events waiting for a slow reader; a reader that leaves
    /// it full for `--send-timeout-ms` is cut off and its upstream request cancelled.
    #[arg(long, env = "CLAWDBOT_OPENAI_SSE_BUFFER_BYTES", default_value_t = 64 * 1024)]
    pub openai_sse_buffer_bytes: usize,
}

/// The accepted range of each setting: (flag, value, min, max).
fn ranges(a: &OpenAiArgs) -> [(&'static str, u64, u64, u64); 7] {
    let n = |v: usize| v as u64;
    [
        (
            "--openai-max-body-bytes",
            n(a.openai_max_body_bytes),
            1024,
            16 * 1024 * 1024,
        ),
        (
            "--openai-max-messages",
            n(a.openai_max_messages),
            1,
            crate::providers::MAX_REQUEST_MESSAGES as u64,
        ),
        (
            "--openai-max-chars",
            n(a.openai_max_chars),
            1,
            crate::providers::MAX_REQUEST_BYTES as u64,
        ),
        (
            "--openai-max-concurrent-per-token",
            n(a.openai_max_concurrent_per_token),
            1,
            65_536,
        ),
        (
            "--openai-max-concurrent",
            n(a.openai_max_concurrent),
            1,
            65_536,
        ),
        (
            "--openai-body-timeout-ms",
            a.openai_body_timeout_ms,
            100,
            3_600_000,
        ),
        (
            "--openai-sse-buffer-bytes",
            n(a.openai_sse_buffer_bytes),
            1024,
            16 * 1024 * 1024,
        ),
    ]
}

impl OpenAiArgs {
    /// Rejects values outside their range; the error names the flag, the value and the
    /// accepted range.
    pub fn validate(&self) -> anyhow::Result<()> {
        for (flag, value, min, max) in ranges(self) {
            anyhow::ensure!(
                (min..=max).contains(&value),
                "{flag} {value} is out of range (accepted: {min}..={max})"
            );
        }
        anyhow::ensure!(
            self.openai_max_concurrent_per_token <= self.openai_max_concurrent,
            "--openai-max-concurrent-per-token ({}) must not be larger than --openai-max-concurrent ({})",
            self.openai_max_concurrent_per_token,
            self.openai_max_concurrent
        );
        Ok(())
    }

    pub fn body_timeout(&self) -> Duration {
        Duration::from_millis(self.openai_body_timeout_ms)
    }
}

// Fixed bounds (not configurable).

/// Bytes of an oversized body read and discarded before the 400 goes out, so that a
/// client still sending it reads the answer instead of a reset connection.
pub const DISCARD_MAX: usize = 16 * 1024 * 1024;
/// The `retry-after` of a 429 for a full gateway, and of an upstream rate limit that
/// named no time (the gateway's retry hint).
pub const RETRY_LATER: Duration = Duration::from_millis(crate::gateway::limits::RETRY_LATER_MS);

/// Characters of a client-supplied name (a content part type, a role) that an error
/// echoes, and of a JSON parser's message.
pub const ECHO_MAX_CHARS: usize = 32;
pub const PARSE_ERROR_MAX_CHARS: usize = 200;

/// The settings parsed from `args` (as `serve` would), for tests.
#[cfg(test)]
pub(crate) fn parse_for_test(args: &[&str]) -> OpenAiArgs {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        a: OpenAiArgs,
    }
    let mut v = vec!["serve"];
    v.extend_from_slice(args);
    Cli::try_parse_from(v).expect("parse").a
}

#[cfg(test)]
mod tests {
    use super::parse_for_test as parse;

    #[test]
    fn defaults_are_valid_and_off() {
        let a = parse(&[]);
        assert!(!a.enabled);
        a.validate().expect("defaults valid");
        assert!(parse(&["--openai-api"]).enabled);
    }

    #[test]
    fn out_of_range_values_name_the_flag() {
        let err = parse(&["--openai-max-body-bytes", "10"])
            .validate()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--openai-max-body-bytes 10 is out of range"),
            "{err}"
        );
        let err = parse(&[
            "--openai-max-concurrent",
            "2",
            "--openai-max-concurrent-per-token",
            "3",
        ])
        .validate()
        .unwrap_err()
        .to_string();
        assert!(err.contains("must not be larger"), "{err}");
    }
}
