//! Secrets and settings read from the environment (`NAME` or `NAME_FILE`), and the one
//! masking function every secret passes through before it reaches any output.

use std::fmt;

/// A secret value. Its `Debug` and `Display` print the masked form only.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The raw value: only for comparing or sending to the provider, never for output.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", self.masked())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// Masks a secret for display: keeps a recognisable prefix (up to the last `-` within
/// the first 8 characters, e.g. `sk-ant-`) and the last 4 characters: `sk-ant-…abcd`.
/// Short values are fully masked.
pub fn mask(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() < 12 {
        return format!("…{}", "*".repeat(chars.len().min(4)));
    }
    let head: String = chars.iter().take(8).collect();
    let prefix = match head.rfind('-') {
        Some(i) => &head[..=i],
        None => "",
    };
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{prefix}…{tail}")
}

/// Reads a secret from `NAME`, or from the file named by `NAME_FILE` (Docker secrets).
/// Surrounding whitespace is trimmed; an empty value counts as unset.
pub fn read_secret(name: &str) -> anyhow::Result<Option<Secret>> {
    Ok(read_secret_with_source(name)?.map(|(_, s)| s))
}

/// Like [`read_secret`], also naming the variable the value came from (`NAME` or
/// `NAME_FILE`), for `clawdbot status`.
pub fn read_secret_with_source(name: &str) -> anyhow::Result<Option<(String, Secret)>> {
    use anyhow::Context;
    if let Ok(v) = std::env::var(name) {
        let v = v.trim();
        if !v.is_empty() {
            return Ok(Some((name.to_string(), Secret::new(v))));
        }
    }
    let file_var = format!("{name}_FILE");
    if let Ok(path) = std::env::var(&file_var) {
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!("{file_var}={path}: cannot read the file (check the path and its permissions)")
        })?;
        let v = text.trim();
        if !v.is_empty() {
            return Ok(Some((file_var, Secret::new(v))));
        }
    }
    Ok(None)
}

/// Environment variable overriding the gateway port (`clawdbot status` reads it).
pub const PORT_VAR: &str = "CLAWDBOT_PORT";
/// Environment variable overriding the health port (`clawdbot status` reads it).
pub const HEALTH_PORT_VAR: &str = "CLAWDBOT_HEALTH_PORT";

/// Reads a plain (non-secret) setting: `Some(value)` when set and not blank.
pub fn read_setting(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Reads a port from `name`, or returns `default` when unset.
/// Parses a `--bind` address; the error says what to pass instead.
pub fn parse_bind(bind: &str) -> anyhow::Result<std::net::IpAddr> {
    use anyhow::Context;
    bind.trim().parse().with_context(|| {
        format!("--bind {bind:?} is not an IP address (use e.g. 127.0.0.1, or 0.0.0.0 inside a container)")
    })
}

pub fn read_port(name: &str, default: u16) -> anyhow::Result<u16> {
    match read_setting(name) {
        None => Ok(default),
        Some(v) => match v.parse::<u16>() {
            Ok(p) if p > 0 => Ok(p),
            _ => anyhow::bail!("{name}={v}: not a port number (use 1-65535 or unset it)"),
        },
    }
}

/// The gateway token and the variable it came from, from the first of
/// [`crate::defaults::TOKEN_VARS`] (or its `_FILE`) that is set.
pub fn gateway_token() -> anyhow::Result<Option<(&'static str, Secret)>> {
    for var in crate::defaults::TOKEN_VARS {
        if let Some(s) = read_secret(var)? {
            return Ok(Some((var, s)));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_prefix_and_tail_only() {
        assert_eq!(
            mask("sk-ant-api03-abcdefghijklmnopqrstuvwxyz-abcd"),
            "sk-ant-…abcd"
        );
        assert_eq!(mask("short"), "…****");
        let s = Secret::new("sk-proj-0123456789abcdef");
        assert!(!format!("{s:?} {s}").contains("0123456789"));
    }
}
