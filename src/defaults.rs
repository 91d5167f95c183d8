//! Facts shared by the service and the xtask, kept in one place.
//!
//! The xtask includes this file with `#[path]` (it does not link the service), so it
//! must stay dependency-free: constants only.

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

/// True when a value is a placeholder or demo value rather than a real secret.
pub fn is_placeholder(value: &str) -> bool {
    let v = value.trim();
    v.is_empty()
        || PLACEHOLDERS.contains(&v)
        || v.contains("demo")
        || v.contains("placeholder")
        || v.contains("change-me")
        || v.contains("your-")
        || v.chars()
            .all(|c| c == 'x' || c == 'X' || c == '*' || c == '.')
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

/// Version of the `self-check --json` output shape (a contract with runtime verify).
pub const SELFCHECK_SCHEMA: u32 = 1;

/// Port of `clawdbot egress-proxy` (HTTP CONNECT) on the internal network of the
/// `isolated` profile; the gateway gets `HTTPS_PROXY=http://<egress service>:<this>`.
pub const EGRESS_PROXY_PORT: u16 = 3128;
/// Destinations `clawdbot egress-proxy` allows by default: the provider API hosts on 443.
pub const EGRESS_DEFAULT_ALLOW: &[&str] = &["api.anthropic.com:443", "api.openai.com:443"];
