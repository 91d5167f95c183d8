//! Typed model of `docker inspect` (containers) and `docker network inspect` JSON.
//!
//! Only the fields runtime verify reads. Every field is optional or defaulted: the
//! engine writes `null` for empty lists and maps, and older engines omit keys, so a
//! missing or null key never fails the parse.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde::{Deserialize, Deserializer};

/// `null` or a missing key both become `T::default()`.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Port map as the engine writes it: `"18789/tcp": [{"HostIp": "", "HostPort": "28789"}]`
/// (a port that is exposed but not published maps to `null`).
pub type PortMap = BTreeMap<String, Option<Vec<PortBinding>>>;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Container {
    pub id: String,
    /// With the engine's leading `/`; use [`Container::name`].
    #[serde(rename = "Name")]
    pub raw_name: String,
    pub state: State,
    pub config: Config,
    pub host_config: HostConfig,
    pub network_settings: NetworkSettings,
    #[serde(deserialize_with = "nullable")]
    pub mounts: Vec<Mount>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct State {
    pub status: String,
    pub running: bool,
    pub error: String,
    pub exit_code: i64,
    pub health: Option<Health>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Health {
    pub status: String,
    pub failing_streak: i64,
    #[serde(deserialize_with = "nullable")]
    pub log: Vec<HealthLog>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthLog {
    pub exit_code: i64,
    pub output: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Config {
    pub user: String,
    pub image: String,
    #[serde(deserialize_with = "nullable")]
    pub env: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub labels: BTreeMap<String, String>,
    pub healthcheck: Option<Healthcheck>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Healthcheck {
    #[serde(deserialize_with = "nullable")]
    pub test: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    pub privileged: bool,
    pub readonly_rootfs: bool,
    #[serde(deserialize_with = "nullable")]
    pub cap_add: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub cap_drop: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub security_opt: Vec<String>,
    pub memory: i64,
    pub nano_cpus: i64,
    pub cpu_quota: i64,
    /// `null`, `0` and `-1` all mean unlimited.
    pub pids_limit: Option<i64>,
    #[serde(deserialize_with = "nullable")]
    pub port_bindings: PortMap,
    pub publish_all_ports: bool,
    pub network_mode: String,
    pub pid_mode: String,
    pub ipc_mode: String,
    pub log_config: Option<LogConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct LogConfig {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Config", deserialize_with = "nullable")]
    pub config: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortBinding {
    pub host_ip: String,
    pub host_port: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkSettings {
    /// Bindings in effect (empty while the container is not running, and when every
    /// network is internal: the engine drops them).
    #[serde(deserialize_with = "nullable")]
    pub ports: PortMap,
    #[serde(deserialize_with = "nullable")]
    pub networks: BTreeMap<String, Endpoint>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Endpoint {
    #[serde(rename = "NetworkID")]
    pub network_id: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Mount {
    #[serde(rename = "Type")]
    pub kind: String,
    pub name: String,
    pub source: String,
    pub destination: String,
    #[serde(rename = "RW")]
    pub rw: bool,
}

/// `docker network inspect` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Network {
    pub name: String,
    pub id: String,
    pub driver: String,
    pub internal: bool,
}

impl Container {
    /// Name without the engine's leading `/`.
    pub fn name(&self) -> &str {
        self.raw_name.trim_start_matches('/')
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.config.labels.get(key).map(String::as_str)
    }

    /// Compose service name (label), if any.
    pub fn service(&self) -> Option<&str> {
        self.label("com.docker.compose.service")
    }

    pub fn is_running(&self) -> bool {
        self.state.running || self.state.status == "running"
    }

    /// Every published binding as `(container port, binding)`: the bindings in effect
    /// (`NetworkSettings.Ports`) where the engine reports some for that port, else the
    /// declared ones (`HostConfig.PortBindings`: stopped containers, internal networks).
    pub fn published(&self) -> Vec<(String, PortBinding)> {
        let mut out: Vec<(String, PortBinding)> = Vec::new();
        let actual = &self.network_settings.ports;
        let mut ports: Vec<&String> = actual
            .keys()
            .chain(self.host_config.port_bindings.keys())
            .collect();
        ports.sort();
        ports.dedup();
        for port in ports {
            let live = actual
                .get(port)
                .and_then(Option::as_ref)
                .filter(|v| !v.is_empty());
            let declared = self
                .host_config
                .port_bindings
                .get(port)
                .and_then(Option::as_ref);
            for b in live.or(declared).into_iter().flatten() {
                let entry = (port.clone(), b.clone());
                if !out.contains(&entry) {
                    out.push(entry);
                }
            }
        }
        out
    }

    /// Names of the user networks the container is attached to (empty for
    /// `host`/`none`/`container:` modes).
    pub fn network_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.network_settings.networks.keys().cloned().collect();
        let mode = self.host_config.network_mode.as_str();
        if names.is_empty()
            && !mode.is_empty()
            && !["default", "host", "none"].contains(&mode)
            && !mode.starts_with("container:")
        {
            names.push(mode.to_string());
        }
        names
    }
}

/// Parses the array `docker inspect` prints.
pub fn parse_containers(json: &str) -> Result<Vec<Container>> {
    serde_json::from_str(json).context("parsing `docker inspect` output")
}

/// Parses the array `docker network inspect` prints.
pub fn parse_networks(json: &str) -> Result<Vec<Network>> {
    serde_json::from_str(json).context("parsing `docker network inspect` output")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Every recorded `docker inspect` sample in `testdata/`.
    pub const SAMPLES: &[&str] = &[
        "hardened",
        "exposed",
        "hostnet",
        "privileged-created",
        "public-unhealthy",
        "secrets-leak",
        "secrets-clean",
    ];

    pub fn sample(name: &str) -> Container {
        let path = format!(
            "{}/src/runtime/testdata/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).expect("testdata file");
        parse_containers(&text)
            .expect("valid sample")
            .pop()
            .expect("one container")
    }

    #[test]
    fn parses_a_recorded_hardened_container() {
        let c = sample("hardened");
        assert_eq!(c.name(), "rtdevhard-clawdbot-1");
        assert_eq!(c.service(), Some("clawdbot"));
        assert_eq!(c.config.user, "1000:1000");
        assert!(c.host_config.readonly_rootfs);
        assert_eq!(c.host_config.cap_drop, ["ALL"]);
        assert_eq!(c.host_config.pids_limit, Some(32));
        assert_eq!(c.host_config.nano_cpus, 500_000_000);
        assert_eq!(
            c.state.health.as_ref().map(|h| h.status.as_str()),
            Some("healthy")
        );
        assert_eq!(
            c.published(),
            [(
                "18789/tcp".to_string(),
                PortBinding {
                    host_ip: "127.0.0.1".into(),
                    host_port: "28789".into()
                }
            )]
        );
        assert_eq!(c.network_names(), ["rtdevhard_net"]);
    }

    #[test]
    fn null_and_missing_keys_parse_to_defaults() {
        let cs = parse_containers(
            r#"[{"Name":"/x","Config":{"Env":null,"Labels":null},"HostConfig":{"CapAdd":null,"PortBindings":null},"Mounts":null},{}]"#,
        )
        .unwrap();
        assert_eq!(cs.len(), 2);
        assert_eq!(cs[0].name(), "x");
        assert!(cs[0].config.env.is_empty() && cs[1].mounts.is_empty());
        assert!(parse_containers("{not json").is_err());
        assert!(parse_containers(r#"[{"HostConfig":{"Privileged":"yes"}}]"#).is_err());
    }

    #[test]
    fn created_container_keeps_declared_bindings() {
        let c = sample("privileged-created");
        assert!(!c.is_running());
        assert!(c.host_config.privileged);
        assert!(c.network_settings.ports.is_empty());
        assert_eq!(c.published().len(), 1);
    }

    #[test]
    fn parses_recorded_networks() {
        let text = std::fs::read_to_string(format!(
            "{}/src/runtime/testdata/networks.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let nets = parse_networks(&text).unwrap();
        let internal: Vec<_> = nets.iter().map(|n| (n.name.as_str(), n.internal)).collect();
        assert_eq!(
            internal,
            [("rtdevweak_inner", true), ("rtdevhard_net", false)]
        );
    }
}
