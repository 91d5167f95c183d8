//! The deployment settings as the xtask uses them. The keys, their types, defaults,
//! checks and the one loader live in `clawdbot-settings` (crates/settings), shared with
//! clawdbot-verify; this module adds the package version the image is tagged with.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;

pub use clawdbot_settings::{App, Profile, Settings};

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

#[cfg(test)]
mod tests {
    use super::*;

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
