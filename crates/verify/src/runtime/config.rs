//! What runtime verify expects of the deployment (service names, profile, secrets
//! mode, variable names): a plain input filled by the caller. The xtask fills it from
//! its validated settings; the standalone binary reads the same keys from
//! `[workspace.metadata.deploy]` of `<root>/Cargo.toml` when there is one
//! ([`RuntimeConfig::load`]), else takes the defaults of `clawdbot-facts`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::defaults;

/// Network profile of the deployment (`profile` setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// User-defined bridge network with outbound access.
    #[default]
    Local,
    /// The gateway on `internal: true` networks only, egress through the proxy service.
    Isolated,
}

/// The settings runtime verify reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "snake_case")]
pub struct RuntimeConfig {
    /// Compose service of the gateway (its missing self-check is a warning).
    pub service_name: String,
    /// Compose service of the egress proxy (the `isolated` profile's way out).
    pub egress_service_name: String,
    pub profile: Profile,
    /// Public port binds were explicitly consented to.
    pub allow_public_bind: bool,
    /// Secrets are file-based (`/run/secrets`), never in the environment.
    pub secrets: bool,
    /// Gateway token variable.
    pub token_var: String,
    /// Provider key variables.
    pub provider_key_vars: Vec<String>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            service_name: defaults::SERVICE_NAME.into(),
            egress_service_name: defaults::EGRESS_SERVICE_NAME.into(),
            profile: Profile::Local,
            allow_public_bind: false,
            secrets: false,
            token_var: defaults::TOKEN_VARS[0].into(),
            provider_key_vars: vec![
                defaults::ANTHROPIC_KEY_VAR.into(),
                defaults::OPENAI_KEY_VAR.into(),
            ],
        }
    }
}

/// `<root>/Cargo.toml` exists but its deploy table cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: [workspace.metadata.deploy]: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

#[derive(Deserialize)]
struct Manifest {
    #[serde(default)]
    workspace: Option<Workspace>,
}

#[derive(Deserialize)]
struct Workspace {
    #[serde(default)]
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    deploy: Option<RuntimeConfig>,
}

impl RuntimeConfig {
    /// The keys of `[workspace.metadata.deploy]` in `<root>/Cargo.toml` (other keys are
    /// ignored); no manifest or no table gives the defaults.
    pub fn load(root: &Path) -> Result<RuntimeConfig, ConfigError> {
        let path = root.join("Cargo.toml");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(RuntimeConfig::default())
            }
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        Self::from_manifest(&text).map_err(|reason| ConfigError::Invalid { path, reason })
    }

    /// Parses a manifest's text; the error is the TOML parser's reason.
    pub fn from_manifest(text: &str) -> Result<RuntimeConfig, String> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| e.message().to_string())?;
        Ok(manifest
            .workspace
            .and_then(|w| w.metadata)
            .and_then(|m| m.deploy)
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_only_its_keys_and_defaults_the_rest() {
        let c = RuntimeConfig::from_manifest(
            "[package]\nname = \"x\"\n[workspace.metadata.deploy]\nprofile = \"isolated\"\nservice_name = \"gw\"\ncpus = \"1.0\"\n",
        )
        .unwrap();
        assert_eq!(c.profile, Profile::Isolated);
        assert_eq!(c.service_name, "gw");
        assert_eq!(c.egress_service_name, defaults::EGRESS_SERVICE_NAME);
        assert_eq!(
            RuntimeConfig::from_manifest("").unwrap(),
            RuntimeConfig::default()
        );
        let err = RuntimeConfig::from_manifest("[workspace.metadata.deploy]\nprofile = \"open\"\n")
            .unwrap_err();
        assert!(err.contains("open"), "{err}");
    }

    #[test]
    fn missing_manifest_gives_defaults() {
        let c = RuntimeConfig::load(Path::new("/nonexistent/clawdbot-verify")).unwrap();
        assert_eq!(c, RuntimeConfig::default());
    }
}
