//! Facts shared by the service, the xtask and the verify engine, kept in one place.
//!
//! The service links this crate (as `clawdbot::defaults`), so it stays dependency-free:
//! constants and small pure functions only.

/// Port of the WebSocket gateway (also serves `/health` and `/ready`).
pub const GATEWAY_PORT: u16 = 18789;
/// Port of the plain HTTP health endpoint.
pub const HEALTH_PORT: u16 = 8080;
/// Unprivileged user the image runs as.
pub const UID: u32 = 1000;
pub const GID: u32 = 1000;
pub const USER_NAME: &str = "clawdbot";
/// Address the service binds by default; the image passes `--bind 0.0.0.0`.
pub const BIND: &str = "127.0.0.1";
/// Where the binary lives inside the image.
pub const IMAGE_BINARY: &str = "/usr/local/bin/clawdbot";

/// Default sustained requests per second on one gateway connection (`--rate-limit`).
pub const RATE_LIMIT: u32 = 20;
/// Default outgoing bytes queued per connection (`--max-buffered-bytes`).
pub const MAX_BUFFERED_BYTES: usize = 4 * 1024 * 1024;
/// Default outgoing bytes queued across all connections (`--max-buffered-bytes-total`),
/// well under the compose memory limit.
pub const MAX_BUFFERED_BYTES_TOTAL: usize = 256 * 1024 * 1024;

/// Gateway token variables, in order of precedence (each also accepts `<NAME>_FILE`).
pub const TOKEN_VARS: &[&str] = &["CLAWDBOT_GATEWAY_TOKEN", "OPENCLAW_GATEWAY_TOKEN"];
/// Shortest gateway token accepted.
pub const MIN_TOKEN_LEN: usize = 24;

/// Provider key variables (each also accepts `<NAME>_FILE`).
pub const ANTHROPIC_KEY_VAR: &str = "ANTHROPIC_API_KEY";
pub const OPENAI_KEY_VAR: &str = "OPENAI_API_KEY";

/// Placeholder values written to `.env.example` and recognised as "not a secret" by
/// `verify` and as "demo" by `clawdbot status`.
pub const PLACEHOLDERS: &[&str] = &[
    "sk-ant-demo-placeholder",
    "sk-demo-placeholder",
    "change-me-to-a-long-random-token",
];
/// Demo keys used by `cargo xtask demo` (recognised as demo by the service).
pub const DEMO_ANTHROPIC_KEY: &str = "sk-ant-demo-placeholder";
pub const DEMO_OPENAI_KEY: &str = "sk-demo-placeholder";

mod placeholder;
pub use placeholder::{is_placeholder, PLACEHOLDER_WORDS};

/// Shortest accepted estimate of a gateway token's randomness, in bits per character
/// (Shannon entropy of its character distribution): hex from `openssl rand -hex 32`
/// scores about 3.8, English words about 2.5 to 3, a repeated pattern far less.
pub const MIN_TOKEN_BITS_PER_CHAR: f64 = 3.0;
/// Fewest distinct characters in an accepted gateway token.
pub const MIN_TOKEN_DISTINCT_CHARS: usize = 10;
/// How to make a gateway token (ends every token refusal).
pub const TOKEN_HOWTO: &str = "generate one with `openssl rand -hex 32`";

/// Estimated bits per character of `value` (Shannon entropy of its characters).
pub fn bits_per_char(value: &str) -> f64 {
    let chars: Vec<char> = value.chars().collect();
    if chars.is_empty() {
        return 0.0;
    }
    let mut counts: Vec<(char, usize)> = Vec::new();
    for c in &chars {
        match counts.iter_mut().find(|(k, _)| k == c) {
            Some((_, n)) => *n += 1,
            None => counts.push((*c, 1)),
        }
    }
    let total = chars.len() as f64;
    counts
        .iter()
        .map(|(_, n)| {
            let p = *n as f64 / total;
            -p * p.log2()
        })
        .sum()
}

/// Why a gateway token must be refused (placeholder, too short, too little entropy:
/// repeated characters or patterns, words), or `None` when it is acceptable. The one
/// token test of `serve` and `status`, over the one placeholder test
/// [`is_placeholder`] that `verify` uses too; the message never contains the token.
pub fn gateway_token_problem(value: &str) -> Option<String> {
    let v = value.trim();
    let len = v.chars().count();
    if is_placeholder(v) {
        return Some(format!("is a placeholder, not a secret ({TOKEN_HOWTO})"));
    }
    if len < MIN_TOKEN_LEN {
        return Some(format!(
            "is too short ({len} characters, at least {MIN_TOKEN_LEN} required; {TOKEN_HOWTO})"
        ));
    }
    let mut distinct: Vec<char> = v.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < MIN_TOKEN_DISTINCT_CHARS || bits_per_char(v) < MIN_TOKEN_BITS_PER_CHAR {
        return Some(format!(
            "has too little entropy (a repeated pattern or words, not random; {TOKEN_HOWTO})"
        ));
    }
    None
}

/// Build-context staging directory (relative to the project root) that
/// `cargo xtask build` fills with the static binary and `/etc/passwd`, `/etc/group`,
/// and that the rendered Dockerfile copies from.
pub const STAGE_DIR: &str = "target/docker-context";

/// Where the image keeps a directory owned by the unprivileged user for the named
/// volume of `sessions_persist` (Docker copies its ownership into a new volume), and
/// the sessions directory inside it (`CLAWDBOT_SESSIONS_DIR`).
pub const DATA_DIR: &str = "/data";
pub const SESSIONS_DIR: &str = "/data/sessions";
/// The variable (`serve --sessions-dir`) that names the sessions directory; self-check
/// scans it for secrets.
pub const SESSIONS_DIR_VAR: &str = "CLAWDBOT_SESSIONS_DIR";

/// Version of the `self-check --json` output shape (a contract with runtime verify).
/// 2: the `no-secrets-in-sessions` check and the `sessions` key.
pub const SELFCHECK_SCHEMA: u32 = 2;

/// Port of `clawdbot egress-proxy` (HTTP CONNECT) on the internal network of the
/// `isolated` profile; the gateway gets `HTTPS_PROXY=http://<egress service>:<this>`.
pub const EGRESS_PROXY_PORT: u16 = 3128;
/// Destinations `clawdbot egress-proxy` allows by default: the provider API hosts on 443.
pub const EGRESS_DEFAULT_ALLOW: &[&str] = &["api.anthropic.com:443", "api.openai.com:443"];

/// Default compose service name of the gateway (`service_name` setting).
pub const SERVICE_NAME: &str = "clawdbot";
/// Default name of the image `cargo xtask build` builds from the root Dockerfile
/// (`image_name` setting); static verify judges a service that runs it with that
/// Dockerfile's USER and HEALTHCHECK.
pub const IMAGE_NAME: &str = "clawdbot";
/// Default compose service name of the `isolated` profile's egress proxy
/// (`egress_service_name` setting).
pub const EGRESS_SERVICE_NAME: &str = "egress";

pub mod ci;

mod selfcheck;
pub use selfcheck::SelfCheckId;

pub mod openclaw;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_tokens_are_refused_with_a_howto_and_without_the_value() {
        for (v, why) in [
            ("change-me-to-a-long-random-token", "placeholder"),
            ("CHANGE-ME-please-0123456789abcdef", "placeholder"),
            ("your-token-goes-here-0123456789", "placeholder"),
            ("<paste a random token here 0123>", "placeholder"),
            ("0123456789abcdef", "too short"),
            ("passwordpasswordpassword", "entropy"),
            ("abcabcabcabcabcabcabcabcabcabc", "entropy"),
            ("aaaaaaaaaaaaaaaaaaaaaaaab", "entropy"),
            ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "entropy"),
        ] {
            let problem = gateway_token_problem(v).unwrap_or_else(|| panic!("{v} accepted"));
            assert!(problem.contains(why), "{v}: {problem}");
            assert!(problem.contains("openssl rand -hex 32"), "{problem}");
            assert!(!problem.contains(v), "{problem}");
        }
        for v in [
            "3f9a1c0e5b7d2486af01c3e5d7b9f1a23f9a1c0e5b7d2486",
            "test-token-0123456789abcdefghijklmnop",
            "Zq8vY2mK-pL4nR7tW1xC9bF3hJ6dS0gA",
        ] {
            assert_eq!(gateway_token_problem(v), None, "{v}");
        }
    }
}
