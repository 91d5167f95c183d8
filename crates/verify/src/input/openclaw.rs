//! Finds and reads the OpenClaw gateway's config (`openclaw.json`, JSON5): a file of
//! that name at the project root, and the host side of every bind mount that puts a
//! config into an OpenClaw service of the compose file (its target is the service's
//! `OPENCLAW_CONFIG_PATH` or a file named `openclaw.json`, or it mounts a directory
//! that holds one, as upstream mounts `~/.openclaw`).

use std::path::{Path, PathBuf};

use crate::input::compose::{Compose, Service};
use crate::input::error::InputError;
use crate::input::json5;
use crate::input::yaml::Node;

/// The config's file name, as the gateway looks it up in its state directory.
pub const CONFIG_NAME: &str = "openclaw.json";

/// One OpenClaw config of the project.
#[derive(Debug, Clone)]
pub struct Config {
    /// Index into `Project::files`.
    pub file: usize,
    pub root: json5::Node,
}

/// Whether a compose service runs OpenClaw: its image's repository name says so, or it
/// sets `OPENCLAW_CONFIG_PATH` / `OPENCLAW_STATE_DIR`.
pub fn is_openclaw_service(s: &Service) -> bool {
    let image = s.get("image").and_then(Node::scalar).unwrap_or_default();
    // The repository part of the reference (`ghcr.io/openclaw/openclaw:1` or `openclaw-hardened:2`).
    image
        .split(['@'])
        .next()
        .unwrap_or_default()
        .contains("openclaw")
        || config_path_env(s).is_some()
        || env_value(s, "OPENCLAW_STATE_DIR").is_some()
}

/// A variable of `environment:` (mapping or `KEY=value` list).
fn env_value(s: &Service, key: &str) -> Option<String> {
    let env = s.get("environment")?;
    if let Some(v) = env.get(key) {
        return Some(v.scalar().unwrap_or_default());
    }
    env.as_seq().iter().find_map(|e| {
        let t = e.scalar()?;
        let (k, v) = t.split_once('=')?;
        (k == key).then(|| v.to_string())
    })
}

fn config_path_env(s: &Service) -> Option<String> {
    env_value(s, "OPENCLAW_CONFIG_PATH").filter(|v| !v.is_empty())
}

/// Host sides of the bind mounts of `s` that carry an OpenClaw config.
fn mounted_configs(s: &Service, base: &Path) -> Vec<PathBuf> {
    let config_target = config_path_env(s);
    let mut out = Vec::new();
    for v in s.get("volumes").map(Node::as_seq).unwrap_or_default() {
        let (src, target) = match v.get("source") {
            Some(src) => (
                src.scalar().unwrap_or_default(),
                v.get("target").and_then(Node::scalar).unwrap_or_default(),
            ),
            None => {
                let t = v.scalar().unwrap_or_default();
                let mut parts = t.split(':');
                let src = parts.next().unwrap_or_default().to_string();
                (src, parts.next().unwrap_or_default().to_string())
            }
        };
        if !(src.starts_with('.') || src.starts_with('/')) {
            continue;
        }
        let host = base.join(&src);
        let is_config = config_target.as_deref() == Some(target.as_str())
            || target.rsplit('/').next() == Some(CONFIG_NAME);
        if is_config && host.is_file() {
            out.push(host);
        } else if host.join(CONFIG_NAME).is_file() {
            out.push(host.join(CONFIG_NAME));
        }
    }
    out
}

/// Where the project's OpenClaw configs may be: `<root>/openclaw.json`, then the
/// mounted ones (paths not checked for existence beyond what mounts need).
pub fn candidates(root: &Path, compose: Option<&Compose>, base: &Path) -> Vec<PathBuf> {
    let mut paths = vec![root.join(CONFIG_NAME)];
    if let Some(c) = compose {
        for s in c.services.iter().filter(|s| is_openclaw_service(s)) {
            paths.extend(mounted_configs(s, base));
        }
    }
    paths
}

/// Parses a config read as `display`; `file` is its index in the project's files.
/// A config that is not JSON5 is an input error at its line and column.
pub fn parse(file: usize, display: &str, text: &str) -> Result<Config, InputError> {
    let root = json5::parse(text, 0).map_err(|e| InputError {
        file: display.to_string(),
        line: e.line,
        column: e.column,
        message: format!("not a JSON5 OpenClaw config: {}", e.message),
    })?;
    Ok(Config { file, root })
}
