//! Deployment settings: `[workspace.metadata.deploy]` in the root `Cargo.toml`.
//!
//! This is the only place that knows ports, uid/gid, names, limits and the profile.
//! Templates, the demo's probes and runtime verify all read a `Settings`. Every value is
//! parsed once, here, into its type (`values`: sizes, durations, CPUs, the restart
//! policy; an IP address; the profile); an invalid one is a [`SettingsError`] naming
//! the key, its line in `Cargo.toml` and the reason.

mod values;

use std::fmt;
use std::net::IpAddr;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Deserializer, Serialize};

use crate::defaults;
pub use values::{ByteSize, Cpus, Duration, Restart};

/// Network profile of the rendered compose file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
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
    #[serde(deserialize_with = "ip_address")]
    pub bind_address: IpAddr,
    pub allow_public_bind: bool,
    pub cpus: Cpus,
    pub memory: ByteSize,
    pub pids_limit: u32,
    pub tmpfs_size: ByteSize,
    pub profile: Profile,
    pub network_name: String,
    pub healthcheck_interval: Duration,
    pub healthcheck_timeout: Duration,
    pub healthcheck_retries: u32,
    pub healthcheck_start_period: Duration,
    pub restart: Restart,
    pub stop_grace_period: Duration,
    pub log_max_size: ByteSize,
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
    pub egress_cpus: Cpus,
    pub egress_memory: ByteSize,

    // --- release: licence allowlist (issue 23) ---
    /// Licences `cargo xtask audit` accepts for every package linked into a shipped
    /// binary (`clawdbot`, `clawdbot-verify`): SPDX ids, or `<id> WITH <exception>`. A
    /// package passes when its licence expression is satisfiable from these (`A OR B`
    /// needs one, `A AND B` both). Default: [`DEFAULT_LICENSE_ALLOW`].
    pub license_allow: Vec<String>,
}

/// The default licence allowlist: permissive licences, plus MPL-2.0 (file-level
/// copyleft: using an unmodified crate imposes nothing on our code).
pub const DEFAULT_LICENSE_ALLOW: &[&str] = &[
    "MIT",
    "MIT-0",
    "Apache-2.0",
    "Apache-2.0 WITH LLVM-exception",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "ISC",
    "0BSD",
    "Zlib",
    "Unlicense",
    "CC0-1.0",
    "BSL-1.0",
    "Unicode-3.0",
    "Unicode-DFS-2016",
    "CDLA-Permissive-2.0",
    "MPL-2.0",
];

/// `bind_address`: an IP address, with the reason in our words.
fn ip_address<'de, D: Deserializer<'de>>(d: D) -> Result<IpAddr, D::Error> {
    let text = String::deserialize(d)?;
    text.parse()
        .map_err(|_| serde::de::Error::custom(format!("{text:?} is not an IP address")))
}

/// A default of a typed setting: a constant that parses (checked by the test
/// `defaults_are_valid_and_empty_table_gives_defaults`), never user input.
fn constant<T: std::str::FromStr>(text: &'static str) -> T
where
    T::Err: fmt::Debug,
{
    text.parse().expect("a default setting parses")
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            service_name: defaults::SERVICE_NAME.into(),
            image_name: defaults::IMAGE_NAME.into(),
            user_name: defaults::USER_NAME.into(),
            uid: defaults::UID,
            gid: defaults::GID,
            gateway_port: defaults::GATEWAY_PORT,
            health_port: defaults::HEALTH_PORT,
            bind_address: constant(defaults::BIND),
            allow_public_bind: false,
            cpus: constant("2.0"),
            memory: constant("2G"),
            pids_limit: 256,
            tmpfs_size: constant("16m"),
            profile: Profile::Local,
            network_name: "clawdbot-net".into(),
            healthcheck_interval: constant("5s"),
            healthcheck_timeout: constant("3s"),
            healthcheck_retries: 3,
            healthcheck_start_period: constant("5s"),
            restart: Restart::UnlessStopped,
            stop_grace_period: constant("10s"),
            log_max_size: constant("10m"),
            log_max_file: 3,
            provider_key_vars: vec![
                defaults::ANTHROPIC_KEY_VAR.into(),
                defaults::OPENAI_KEY_VAR.into(),
            ],
            token_var: defaults::TOKEN_VARS[0].into(),
            secrets: false,
            sessions_persist: false,
            replicas: 1,
            egress_service_name: defaults::EGRESS_SERVICE_NAME.into(),
            egress_network_name: "clawdbot-egress".into(),
            egress_proxy_port: defaults::EGRESS_PROXY_PORT,
            egress_allow: defaults::EGRESS_DEFAULT_ALLOW
                .iter()
                .map(|s| s.to_string())
                .collect(),
            egress_cpus: constant("0.5"),
            egress_memory: constant("256M"),
            license_allow: DEFAULT_LICENSE_ALLOW
                .iter()
                .map(|s| s.to_string())
                .collect(),
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

/// A settings value that cannot be used: the key, the line of `Cargo.toml` it is on
/// (the table header when the key is absent, the value for a type error) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    /// The key, when the error is about one (a syntax error may not be).
    pub key: Option<String>,
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: [workspace.metadata.deploy] ", self.line)?;
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.reason)
    }
}

impl std::error::Error for SettingsError {}

/// A rule between values that their types cannot express (e.g. two ports that must
/// differ): the key it is reported on and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub key: &'static str,
    pub reason: String,
}

fn bad(key: &'static str, reason: impl fmt::Display) -> Result<(), Invalid> {
    Err(Invalid {
        key,
        reason: reason.to_string(),
    })
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
        Settings::from_manifest(&text).map_err(|e| anyhow::anyhow!("{}:{e}", path.display()))
    }

    /// Parses the `[workspace.metadata.deploy]` table of a manifest's text.
    pub fn from_manifest(text: &str) -> Result<Settings, SettingsError> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(1, |s| line_of(text, s.start));
            let reason = e.message().trim().to_owned();
            // The error points at a value (bad type or value) or at a key (unknown key):
            // either way the key starts that line. A syntax error may have none.
            let key = text
                .lines()
                .nth(line - 1)
                .and_then(|l| l.split_once('='))
                .map(|(k, _)| k.trim().to_owned())
                .filter(|k| !k.is_empty() && !k.starts_with('['));
            SettingsError { key, line, reason }
        })?;
        let settings = manifest
            .workspace
            .and_then(|w| w.metadata)
            .and_then(|m| m.deploy)
            .unwrap_or_default();
        settings.validate().map_err(|e| SettingsError {
            line: key_line(text, e.key),
            key: Some(e.key.to_owned()),
            reason: e.reason,
        })?;
        Ok(settings)
    }

    /// Checks what the types of the values do not: names, ids, ports, limits and the rules
    /// between values.
    pub fn validate(&self) -> Result<(), Invalid> {
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
        let ip = self.bind_address;
        if !ip.is_loopback() && !self.allow_public_bind {
            bad("bind_address", format!("{ip} is not a loopback address; set allow_public_bind = true to publish beyond this host"))?;
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
        if self.healthcheck_retries == 0 {
            bad("healthcheck_retries", "must be at least 1")?;
        }
        if self.license_allow.is_empty() {
            bad(
                "license_allow",
                "must name at least one licence (an SPDX id)",
            )?;
        }
        for id in &self.license_allow {
            let parts: Vec<&str> = id.split(' ').collect();
            let spdx = |p: &str| {
                !p.is_empty()
                    && p.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
            };
            let ok = match parts[..] {
                [one] => spdx(one),
                [base, "WITH", exception] => spdx(base) && spdx(exception),
                _ => false,
            };
            if !ok || matches!(parts[0], "AND" | "OR" | "WITH") {
                bad(
                    "license_allow",
                    format!("{id:?} is not an SPDX licence id (e.g. \"MIT\" or \"Apache-2.0 WITH LLVM-exception\")"),
                )?;
            }
        }
        if self.replicas == 0 {
            bad("replicas", "must be at least 1")?;
        }
        if self.log_max_file == 0 {
            bad("log_max_file", "must be at least 1")?;
        }
        let vars = self
            .provider_key_vars
            .iter()
            .map(|v| ("provider_key_vars", v))
            .chain(std::iter::once(("token_var", &self.token_var)));
        for (key, var) in vars {
            if var.is_empty()
                || !var
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                bad(
                    key,
                    format!("{var:?} is not an environment variable name (A-Z, 0-9, _)"),
                )?;
            }
        }
        self.validate_egress()
    }

    /// The `isolated` profile's egress service settings.
    fn validate_egress(&self) -> Result<(), Invalid> {
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
        Ok(())
    }

    /// The host part of a compose port mapping: an IPv6 address needs brackets.
    pub fn bind_host(&self) -> String {
        match self.bind_address {
            IpAddr::V6(ip) => format!("[{ip}]"),
            IpAddr::V4(ip) => ip.to_string(),
        }
    }
}

/// Version of the `clawdbot` package in `<root>/Cargo.toml` (the image tag), or
/// `0.0.0` when the manifest has none.
pub fn package_version(root: &Path) -> Result<String> {
    #[derive(Deserialize)]
    struct Pkg {
        package: Option<PkgTable>,
        workspace: Option<WsTable>,
    }
    #[derive(Deserialize)]
    struct WsTable {
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
    // `version.workspace = true` inherits `[workspace.package] version`.
    let inherited = || {
        pkg.workspace
            .as_ref()
            .and_then(|w| w.package.as_ref())
            .and_then(|p| p.version.as_ref())
            .and_then(|v| v.as_str().map(str::to_owned))
    };
    Ok(
        match pkg.package.as_ref().and_then(|p| p.version.as_ref()) {
            Some(toml::Value::String(v)) => Some(v.clone()),
            Some(toml::Value::Table(t))
                if t.get("workspace") == Some(&toml::Value::Boolean(true)) =>
            {
                inherited()
            }
            _ => None,
        }
        .unwrap_or_else(|| "0.0.0".into()),
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    fn err_of(table: &str) -> String {
        let text = format!("[workspace.metadata.deploy]\n{table}\n");
        Settings::from_manifest(&text).unwrap_err().to_string()
    }

    #[test]
    fn defaults_are_valid_and_empty_table_gives_defaults() {
        Settings::default().validate().unwrap();
        // Every default reads back as itself (the typed defaults are constants that parse).
        let printed = toml::to_string(&Settings::default()).unwrap();
        let back = Settings::from_manifest(&format!("[workspace.metadata.deploy]\n{printed}"));
        assert_eq!(back.unwrap(), Settings::default());
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
        assert_eq!(s.bind_address.to_string(), "0.0.0.0");
        assert_eq!(s.bind_host(), "0.0.0.0");
    }

    #[test]
    fn errors_are_typed_with_key_line_and_reason() {
        let text = "[package]\nname = \"x\"\n\n[workspace.metadata.deploy]\nmemory = \"lots\"\n";
        let e = Settings::from_manifest(text).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("memory"));
        assert_eq!(e.line, 5);
        assert!(e.reason.starts_with("\"lots\" is not a size"), "{e:?}");
        let e = Settings::from_manifest("[workspace.metadata.deploy]\nreplicas = 0\n").unwrap_err();
        assert_eq!((e.key.as_deref(), e.line), (Some("replicas"), 2));
        assert_eq!(
            e.to_string(),
            "2: [workspace.metadata.deploy] replicas: must be at least 1"
        );
        // A rule between two values is reported on the key that is present.
        let e = Settings::from_manifest("[workspace.metadata.deploy]\n\nhealth_port = 18789\n")
            .unwrap_err();
        assert_eq!((e.key.as_deref(), e.line), (Some("health_port"), 3));
        let e = Settings::from_manifest("[workspace.metadata.deploy]\ntoken_var = \"x\"\n")
            .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("token_var"), "{e:?}");
        let e = Settings::from_manifest("[workspace.metadata.deploy]\nrestart = \"sometimes\"\n")
            .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("restart"), "{e:?}");
        assert!(e.reason.contains("unless-stopped"), "{e:?}");
        let e = Settings::from_manifest("[workspace.metadata.deploy]\ncolour = 1\n").unwrap_err();
        assert_eq!((e.key.as_deref(), e.line), (Some("colour"), 2));
        assert!(e.reason.starts_with("unknown field `colour`"), "{e:?}");
        let e = Settings::from_manifest("[workspace.metadata.deploy]\nuid = \n").unwrap_err();
        assert_eq!(e.line, 2, "{e:?}");
    }

    #[test]
    fn values_are_typed_once_and_print_as_written() {
        let s = Settings::from_manifest(
            "[workspace.metadata.deploy]\nmemory = \"512MB\"\nstop_grace_period = \"1m30s\"\nrestart = \"on-failure\"\nbind_address = \"::1\"\n",
        )
        .unwrap();
        assert_eq!(s.memory.bytes(), 512 << 20);
        assert_eq!(s.stop_grace_period.whole_seconds(), 90);
        assert_eq!(s.restart, Restart::OnFailure);
        assert_eq!(s.bind_host(), "[::1]");
        let printed = toml::to_string(&s).unwrap();
        assert!(printed.contains("memory = \"512MB\"\n"), "{printed}");
        assert!(printed.contains("restart = \"on-failure\"\n"), "{printed}");
        assert!(printed.contains("bind_address = \"::1\"\n"), "{printed}");
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

    #[test]
    fn the_license_allowlist_is_a_list_of_spdx_ids() {
        for table in [
            "license_allow = []",
            "license_allow = [\"MIT OR GPL-3.0\"]",
            "license_allow = [\"\"]",
            "license_allow = [\"Apache-2.0 WITH\"]",
            "license_allow = [\"GPL (any)\"]",
        ] {
            let err = err_of(table);
            assert!(
                err.starts_with("2: [workspace.metadata.deploy] license_allow: "),
                "{table}: {err}"
            );
        }
        let s = Settings::from_manifest(
            "[workspace.metadata.deploy]\nlicense_allow = [\"MIT\", \"GPL-2.0 WITH Classpath-exception-2.0\"]\n",
        )
        .unwrap();
        assert_eq!(
            s.license_allow,
            ["MIT", "GPL-2.0 WITH Classpath-exception-2.0"]
        );
        assert_eq!(Settings::default().license_allow, DEFAULT_LICENSE_ALLOW);
    }

    #[test]
    fn the_package_version_may_be_inherited_from_the_workspace() {
        let tmp = crate::tempdir::TempDir::new("xtask-settings-version").unwrap();
        let write = |text: &str| std::fs::write(tmp.path().join("Cargo.toml"), text).unwrap();
        write("[workspace.package]\nversion = \"1.2.3\"\n[package]\nname = \"x\"\nversion.workspace = true\n");
        assert_eq!(package_version(tmp.path()).unwrap(), "1.2.3");
        write("[package]\nname = \"x\"\nversion = \"0.4.0\"\n");
        assert_eq!(package_version(tmp.path()).unwrap(), "0.4.0");
    }
}
