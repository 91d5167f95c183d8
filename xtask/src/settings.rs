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
