//! Deployment settings: `[workspace.metadata.deploy]` in the root `Cargo.toml`.
//!
//! This is the only place that knows ports, uid/gid, names, limits and the profile.
//! Templates, the demo's probes and runtime verify all read a `Settings`.

use std::fmt;
use std::net::IpAddr;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::defaults;

/// Network profile of the rendered compose file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// User-defined bridge network, loopback-only published ports, outbound access.
    Local,
    /// The gateway on an `internal: true` network only; a second service (`egress`, the
    /// same image running `clawdbot egress-proxy`) on that network and an egress bridge
    /// is its only way out (HTTPS_PROXY, allowlisted hosts) and publishes the loopback
    /// ports, forwarding them to the gateway.
    Isolated,
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Profile::Local => "local",
            Profile::Isolated => "isolated",
        })
    }
}

/// Effective settings. Every key is optional in `Cargo.toml`; see `Default`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "snake_case")]
pub struct Settings {
    pub service_name: String,
    pub image_name: String,
    pub user_name: String,
    pub uid: u32,
    pub gid: u32,
    pub gateway_port: u16,
    pub health_port: u16,
    pub bind_address: String,
    pub allow_public_bind: bool,
    pub cpus: String,
    pub memory: String,
    pub pids_limit: u32,
    pub tmpfs_size: String,
    pub profile: Profile,
    pub network_name: String,
    pub healthcheck_interval: String,
    pub healthcheck_timeout: String,
    pub healthcheck_retries: u32,
    pub healthcheck_start_period: String,
    pub restart: String,
    pub stop_grace_period: String,
    pub log_max_size: String,
    pub log_max_file: u32,
    pub provider_key_vars: Vec<String>,
    pub token_var: String,
    /// Pass the gateway token and provider keys as file-based secrets (`secrets/`,
    /// mounted at `/run/secrets`, read through `*_FILE`) instead of `env_file: .env`.
    pub secrets: bool,
    /// Keep chat sessions across restarts: the compose file mounts a named volume at
    /// `defaults::DATA_DIR` (owned by uid/gid, from the image) and sets
    /// `CLAWDBOT_SESSIONS_DIR`. Off by default (no volume).
    pub sessions_persist: bool,
    /// Replicas of the Swarm service and the Kubernetes Deployment (`init --target`).
    /// Default 1: sessions live in one gateway process (docs/production.md, "Sessions
    /// and replicas").
    pub replicas: u32,
    /// `isolated` profile: the egress proxy service, its network, port, allowlist, limits.
    pub egress_service_name: String,
    pub egress_network_name: String,
    pub egress_proxy_port: u16,
    pub egress_allow: Vec<String>,
    pub egress_cpus: String,
    pub egress_memory: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            service_name: "clawdbot".into(),
            image_name: "clawdbot".into(),
            user_name: defaults::USER_NAME.into(),
            uid: defaults::UID,
            gid: defaults::GID,
            gateway_port: defaults::GATEWAY_PORT,
            health_port: defaults::HEALTH_PORT,
            bind_address: defaults::BIND.into(),
            allow_public_bind: false,
            cpus: "2.0".into(),
            memory: "2G".into(),
            pids_limit: 256,
            tmpfs_size: "16m".into(),
            profile: Profile::Local,
            network_name: "clawdbot-net".into(),
            healthcheck_interval: "5s".into(),
            healthcheck_timeout: "3s".into(),
            healthcheck_retries: 3,
            healthcheck_start_period: "5s".into(),
            restart: "unless-stopped".into(),
            stop_grace_period: "10s".into(),
            log_max_size: "10m".into(),
            log_max_file: 3,
            provider_key_vars: vec![
                defaults::ANTHROPIC_KEY_VAR.into(),
                defaults::OPENAI_KEY_VAR.into(),
            ],
            token_var: defaults::TOKEN_VARS[0].into(),
            secrets: false,
            sessions_persist: false,
            replicas: 1,
            egress_service_name: "egress".into(),
            egress_network_name: "clawdbot-egress".into(),
            egress_proxy_port: defaults::EGRESS_PROXY_PORT,
            egress_allow: defaults::EGRESS_DEFAULT_ALLOW
                .iter()
                .map(|s| s.to_string())
                .collect(),
            egress_cpus: "0.5".into(),
            egress_memory: "256M".into(),
        }
    }
}

#[derive(Deserialize)]
struct Manifest {
    #[serde(default)]
    workspace: Option<WorkspaceTable>,
}

#[derive(Deserialize)]
struct WorkspaceTable {
    #[serde(default)]
    metadata: Option<MetadataTable>,
}

#[derive(Deserialize)]
struct MetadataTable {
    #[serde(default)]
    deploy: Option<Settings>,
}

impl Settings {
    /// Loads settings from `<root>/Cargo.toml`; a missing manifest or table means defaults.
    /// Errors read `<path>:<line>: [workspace.metadata.deploy] <key>: <reason>`.
    pub fn load(root: &Path) -> Result<Settings> {
        let path = root.join("Cargo.toml");
        if !path.exists() {
            return Ok(Settings::default());
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        Settings::from_manifest(&text).map_err(|e| anyhow::anyhow!("{}:{e:#}", path.display()))
    }

    /// Parses the `[workspace.metadata.deploy]` table of a manifest's text. The error
    /// starts with the line number (`<line>: ...`).
    pub fn from_manifest(text: &str) -> Result<Settings> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(1);
            let key = text
                .lines()
                .nth(line - 1)
                .and_then(|l| l.split_once('='))
                .map(|(k, _)| k.trim())
                .unwrap_or("");
            let key = if key.is_empty() || e.message().contains(&format!("`{key}`")) {
                String::new()
            } else {
                format!("{key}: ")
            };
            anyhow::anyhow!(
                "{line}: [workspace.metadata.deploy] {key}{}",
                e.message().trim()
            )
        })?;
        let settings = manifest
            .workspace
            .and_then(|w| w.metadata)
            .and_then(|m| m.deploy)
            .unwrap_or_default();
        settings.validate().map_err(|e| {
            let msg = format!("{e:#}");
            let key = msg
                .split(' ')
                .nth(1)
                .unwrap_or("")
                .trim_end_matches(':')
                .split('/')
                .next()
                .unwrap_or("");
            anyhow::anyhow!("{}: {msg}", key_line(text, key))
        })?;
        Ok(settings)
    }

    /// Checks every value; the error names the key and the reason.
    pub fn validate(&self) -> Result<()> {
        fn bad(key: &str, why: impl fmt::Display) -> Result<()> {
            bail!("[workspace.metadata.deploy] {key}: {why}")
        }
        for (key, value) in [
            ("service_name", &self.service_name),
            ("image_name", &self.image_name),
            ("network_name", &self.network_name),
            ("egress_service_name", &self.egress_service_name),
            ("egress_network_name", &self.egress_network_name),
        ] {
            if value.is_empty()
                || !value
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
            {
                bad(
                    key,
                    format!("{value:?} must be non-empty lowercase letters, digits, '-' or '_'"),
                )?;
            }
        }
        if self.user_name.is_empty()
            || self.user_name == "root"
            || !self
                .user_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            bad(
                "user_name",
                format!("{:?} must be a plain non-root user name", self.user_name),
            )?;
        }
        if self.uid == 0 {
            bad("uid", "0 is root; use an unprivileged id such as 1000")?;
        }
        if self.gid == 0 {
            bad(
                "gid",
                "0 is the root group; use an unprivileged id such as 1000",
            )?;
        }
        for (key, port) in [
            ("gateway_port", self.gateway_port),
            ("health_port", self.health_port),
        ] {
            if port < 1024 {
                bad(key, format!("{port} is out of range (use 1024-65535: an unprivileged user cannot bind below 1024 without a capability)"))?;
            }
        }
        if self.gateway_port == self.health_port {
            bad("health_port", "must differ from gateway_port")?;
        }
        let ip: IpAddr = match self.bind_address.parse() {
            Ok(ip) => ip,
            Err(_) => {
                return bad(
                    "bind_address",
                    format!("{:?} is not an IP address", self.bind_address),
                )
            }
        };
        if !ip.is_loopback() && !self.allow_public_bind {
            bad("bind_address", format!("{ip} is not a loopback address; set allow_public_bind = true to publish beyond this host"))?;
        }
        match self.cpus.parse::<f64>() {
            Ok(c) if c > 0.0 && c.is_finite() => {}
            _ => bad(
                "cpus",
                format!("{:?} is not a positive number such as \"2.0\"", self.cpus),
            )?,
        }
        if parse_bytes(&self.memory).is_none() {
            bad(
                "memory",
                format!("{:?} is not a size such as \"512M\" or \"2G\"", self.memory),
            )?;
        }
        if parse_bytes(&self.tmpfs_size).is_none() {
            bad(
                "tmpfs_size",
                format!("{:?} is not a size such as \"16m\"", self.tmpfs_size),
            )?;
        }
        if self.pids_limit < 16 {
            bad(
                "pids_limit",
                format!(
                    "{} is too low for the runtime (use at least 16)",
                    self.pids_limit
                ),
            )?;
        }
        for (key, value) in [
            ("healthcheck_interval", &self.healthcheck_interval),
            ("healthcheck_timeout", &self.healthcheck_timeout),
            ("healthcheck_start_period", &self.healthcheck_start_period),
            ("stop_grace_period", &self.stop_grace_period),
        ] {
            if parse_duration_secs(value).is_none() {
                bad(
                    key,
                    format!("{value:?} is not a duration such as \"5s\", \"500ms\" or \"1m\""),
                )?;
            }
        }
        if self.healthcheck_retries == 0 {
            bad("healthcheck_retries", "must be at least 1")?;
        }
        if !["no", "always", "on-failure", "unless-stopped"].contains(&self.restart.as_str()) {
            bad(
                "restart",
                format!(
                    "{:?} is not one of no, always, on-failure, unless-stopped",
                    self.restart
                ),
            )?;
        }
        if parse_bytes(&self.log_max_size).is_none() {
            bad(
                "log_max_size",
                format!("{:?} is not a size such as \"10m\"", self.log_max_size),
            )?;
        }
        if self.replicas == 0 {
            bad("replicas", "must be at least 1")?;
        }
        if self.log_max_file == 0 {
            bad("log_max_file", "must be at least 1")?;
        }
        for var in self
            .provider_key_vars
            .iter()
            .chain(std::iter::once(&self.token_var))
        {
            if var.is_empty()
                || !var
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                bad(
                    "provider_key_vars/token_var",
                    format!("{var:?} is not an environment variable name (A-Z, 0-9, _)"),
                )?;
            }
        }
        self.validate_egress()
    }

    /// The `isolated` profile's egress service settings.
    fn validate_egress(&self) -> Result<()> {
        fn bad(key: &str, why: impl fmt::Display) -> Result<()> {
            bail!("[workspace.metadata.deploy] {key}: {why}")
        }
        if self.egress_service_name == self.service_name {
            bad("egress_service_name", "must differ from service_name")?;
        }
        if self.egress_network_name == self.network_name {
            bad("egress_network_name", "must differ from network_name")?;
        }
        let port = self.egress_proxy_port;
        if port < 1024 {
            bad(
                "egress_proxy_port",
                format!("{port} is out of range (use 1024-65535)"),
            )?;
        }
        if port == self.gateway_port || port == self.health_port {
            bad(
                "egress_proxy_port",
                "must differ from gateway_port and health_port",
            )?;
        }
        for entry in &self.egress_allow {
            let ok = entry.rsplit_once(':').is_some_and(|(host, port)| {
                !host.is_empty()
                    && host
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
                    && port.parse::<u16>().is_ok_and(|p| p > 0)
            });
            if !ok {
                bad(
                    "egress_allow",
                    format!("{entry:?} is not HOST:PORT (e.g. \"api.anthropic.com:443\")"),
                )?;
            }
        }
        match self.egress_cpus.parse::<f64>() {
            Ok(c) if c > 0.0 && c.is_finite() => {}
            _ => bad(
                "egress_cpus",
                format!(
                    "{:?} is not a positive number such as \"0.5\"",
                    self.egress_cpus
                ),
            )?,
        }
        if parse_bytes(&self.egress_memory).is_none() {
            bad(
                "egress_memory",
                format!("{:?} is not a size such as \"256M\"", self.egress_memory),
            )?;
        }
        Ok(())
    }
}

/// Version of the `clawdbot` package in `<root>/Cargo.toml` (the image tag), or
/// `0.0.0` when the manifest has none.
pub fn package_version(root: &Path) -> Result<String> {
    #[derive(Deserialize)]
    struct Pkg {
        package: Option<PkgTable>,
    }
    #[derive(Deserialize)]
    struct PkgTable {
        version: Option<toml::Value>,
    }
    let path = root.join("Cargo.toml");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok("0.0.0".into()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let pkg: Pkg = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message()))?;
    Ok(pkg
        .package
        .and_then(|p| p.version)
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "0.0.0".into()))
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Line of `key = ...` inside `[workspace.metadata.deploy]`, or of the table header.
fn key_line(text: &str, key: &str) -> usize {
    let mut in_table = false;
    let mut header = 1;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') {
            in_table = t == "[workspace.metadata.deploy]";
            if in_table {
                header = i + 1;
            }
        } else if in_table && !key.is_empty() && t.split('=').next().map(str::trim) == Some(key) {
            return i + 1;
        }
    }
    header
}

/// Parses a docker-style size (`512M`, `2G`, `16m`, `1024k`, `100b`, or plain bytes).
pub fn parse_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    let lower = s.to_ascii_lowercase();
    let (num, mult) = match lower.trim_end_matches('b').chars().last()? {
        'k' => (&lower[..lower.trim_end_matches('b').len() - 1], 1u64 << 10),
        'm' => (&lower[..lower.trim_end_matches('b').len() - 1], 1 << 20),
        'g' => (&lower[..lower.trim_end_matches('b').len() - 1], 1 << 30),
        c if c.is_ascii_digit() => (lower.trim_end_matches('b'), 1),
        _ => return None,
    };
    let n: f64 = num.parse().ok()?;
    if n.is_nan() || n <= 0.0 || n.is_infinite() {
        return None;
    }
    Some((n * mult as f64) as u64)
}

/// Parses a compose-style duration (`500ms`, `5s`, `1m30s`, `1h`) into seconds.
pub fn parse_duration_secs(s: &str) -> Option<f64> {
    let re = regex::Regex::new(r"^(?:(\d+(?:\.\d+)?)(ms|us|ns|h|m|s))+$").ok()?;
    if !re.is_match(s.trim()) {
        return None;
    }
    let part = regex::Regex::new(r"(\d+(?:\.\d+)?)(ms|us|ns|h|m|s)").ok()?;
    let mut total = 0.0;
    for cap in part.captures_iter(s) {
        let n: f64 = cap[1].parse().ok()?;
        total += n * match &cap[2] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" => 1e-6,
            _ => 1e-9,
        };
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err_of(table: &str) -> String {
        let text = format!("[workspace.metadata.deploy]\n{table}\n");
        format!("{:#}", Settings::from_manifest(&text).unwrap_err())
    }

    #[test]
    fn defaults_are_valid_and_empty_table_gives_defaults() {
        Settings::default().validate().unwrap();
        assert_eq!(
            Settings::from_manifest("[package]\nname='x'\n").unwrap(),
            Settings::default()
        );
        assert_eq!(
            Settings::from_manifest("[workspace.metadata.deploy]\n").unwrap(),
            Settings::default()
        );
    }

    #[test]
    fn each_bad_value_names_its_key() {
        assert!(
            err_of("uid = 0").starts_with("2: [workspace.metadata.deploy] uid: 0 is root"),
            "{}",
            err_of("uid = 0")
        );
        assert!(err_of("gid = 0").contains("gid:"));
        assert!(err_of("memory = \"lots\"").contains("memory: \"lots\""));
        assert!(err_of("gateway_port = 80").contains("gateway_port: 80 is out of range"));
        assert!(
            err_of("gateway_port = 70000").starts_with("2: "),
            "{}",
            err_of("gateway_port = 70000")
        );
        assert!(err_of("bind_address = \"0.0.0.0\"").contains("allow_public_bind"));
        assert!(err_of("unknown_key = 1").contains("unknown field `unknown_key`"));
        assert!(err_of("profile = \"cloud\"").contains("profile"));
        assert!(err_of("cpus = \"-1\"").contains("cpus"));
        assert!(err_of("healthcheck_interval = \"soon\"").contains("healthcheck_interval"));
    }

    #[test]
    fn public_bind_needs_explicit_consent() {
        let s = Settings::from_manifest(
            "[workspace.metadata.deploy]\nbind_address = \"0.0.0.0\"\nallow_public_bind = true\n",
        )
        .unwrap();
        assert_eq!(s.bind_address, "0.0.0.0");
    }

    #[test]
    fn sizes_and_durations_parse() {
        assert_eq!(parse_bytes("2G"), Some(2 << 30));
        assert_eq!(parse_bytes("16m"), Some(16 << 20));
        assert_eq!(parse_bytes("512MB"), Some(512 << 20));
        assert_eq!(parse_bytes("lots"), None);
        assert_eq!(parse_duration_secs("1m30s"), Some(90.0));
        assert_eq!(parse_duration_secs("500ms"), Some(0.5));
        assert_eq!(parse_duration_secs("soon"), None);
    }

    #[test]
    fn egress_settings_are_validated() {
        for (table, needle) in [
            ("egress_allow = [\"no-port\"]", "egress_allow"),
            ("egress_allow = [\"host:0\"]", "egress_allow"),
            ("egress_proxy_port = 18789", "egress_proxy_port"),
            ("egress_proxy_port = 80", "egress_proxy_port"),
            ("egress_service_name = \"clawdbot\"", "egress_service_name"),
            (
                "egress_network_name = \"clawdbot-net\"",
                "egress_network_name",
            ),
            ("egress_memory = \"lots\"", "egress_memory"),
            ("egress_cpus = \"0\"", "egress_cpus"),
        ] {
            let err = err_of(table);
            assert!(err.contains(needle), "{table}: {err}");
            assert!(
                err.starts_with("2: "),
                "{table}: line number missing: {err}"
            );
        }
        let s = Settings::default();
        assert_eq!(s.egress_proxy_port, defaults::EGRESS_PROXY_PORT);
        assert_eq!(s.egress_allow, defaults::EGRESS_DEFAULT_ALLOW);
    }
}
