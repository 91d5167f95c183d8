//! The rules the types of the values cannot express: names, ids, ports, limits,
//! variable names and the rules between values (two ports that must differ, a public
//! bind that needs consent). A broken rule is an [`Invalid`] on the key it is reported
//! on; `manifest` adds the line.

use std::fmt;

use crate::Settings;

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
        for (image, path) in &self.dockerfiles {
            let name_ok = !image.is_empty()
                && crate::image_name_of(image) == image
                && !image
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_ascii_uppercase());
            if !name_ok {
                bad(
                    "dockerfiles",
                    format!("{image:?} is not an image name without tag or digest (e.g. \"ghcr.io/org/app\")"),
                )?;
            }
            let inside = !path.is_empty()
                && !path.starts_with('/')
                && !path.contains('\\')
                && !path.split('/').any(|c| c == "..");
            if !inside {
                bad(
                    "dockerfiles",
                    format!("{path:?} (for {image}) must be a path inside the project, relative to its root (e.g. \"docker/Dockerfile\")"),
                )?;
            }
        }
        self.validate_openclaw()?;
        self.validate_egress()
    }

    /// The pinned OpenClaw and Node versions: exact versions (digits and dots), Node 24.x.
    fn validate_openclaw(&self) -> Result<(), Invalid> {
        for (key, version) in [
            ("openclaw_version", &self.openclaw_version),
            ("node_version", &self.node_version),
        ] {
            let parts: Vec<&str> = version.split('.').collect();
            if parts.len() != 3
                || parts
                    .iter()
                    .any(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()))
            {
                bad(
                    key,
                    format!(
                        "{version:?} is not an exact version such as \"1.2.3\" (pin it; no ranges)"
                    ),
                )?;
            }
        }
        if !self.node_version.starts_with("24.") {
            bad(
                "node_version",
                format!("{:?}: OpenClaw needs Node 24.x", self.node_version),
            )?;
        }
        Ok(())
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
}
