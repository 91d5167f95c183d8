//! `clawdbot status [--json]`: the guide's quick test, without any network call.
//!
//! Version, mode, the provider keys it sees (masked), ports, whether gateway auth is
//! configured (never the token) and the cgroup limits of this process.

use std::process::ExitCode;

use serde::Serialize;

use crate::config::{self, Secret};
use crate::defaults;
use crate::providers::{self, Provider};
use crate::selfcheck::{cgroup, format_bytes, format_cpus};

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
pub struct ProviderStatus {
    pub name: &'static str,
    /// Variable the key was read from (`ANTHROPIC_API_KEY` or `..._FILE`), if set.
    pub source: Option<String>,
    pub configured: bool,
    /// True when the value is a demo placeholder rather than a real key.
    pub placeholder: bool,
    /// The masked key (`sk-ant-…abcd`); never the raw value.
    pub key: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Ports {
    pub gateway: u16,
    pub health: u16,
}

#[derive(Debug, Serialize)]
pub struct AuthStatus {
    /// A token is set, long enough and not a placeholder.
    pub configured: bool,
    pub source: Option<&'static str>,
    pub detail: String,
}

#[derive(Debug, Serialize)]
pub struct Status {
    pub version: &'static str,
    pub mode: providers::Mode,
    /// Provider that answers chats by default: `demo`, `anthropic` or `openai`.
    pub provider: &'static str,
    /// Default model and base URL in live mode (null in demo mode).
    pub model: Option<String>,
    pub base_url: Option<String>,
    /// The model catalog, `provider/model` each, the default first.
    pub models: Vec<String>,
    pub providers: Vec<ProviderStatus>,
    pub ports: Ports,
    pub auth: AuthStatus,
    pub cgroup: cgroup::CgroupLimits,
}

/// What a gateway token (if any) amounts to.
pub fn auth_status(token: Option<(&'static str, Secret)>) -> AuthStatus {
    match token {
        None => AuthStatus {
            configured: false,
            source: None,
            detail: format!(
                "no token; set {} or {}_FILE",
                defaults::TOKEN_VARS[0],
                defaults::TOKEN_VARS[0]
            ),
        },
        Some((var, t)) => match defaults::gateway_token_problem(t.expose()) {
            Some(problem) => AuthStatus {
                configured: false,
                source: Some(var),
                detail: format!("{var} {problem}"),
            },
            None => AuthStatus {
                configured: true,
                source: Some(var),
                detail: format!("token from {var}"),
            },
        },
    }
}

/// Gathers the status from the environment and the cgroup filesystem. No network.
pub fn collect() -> anyhow::Result<Status> {
    let provider = Provider::from_env()?;
    let keys = providers::keys_from_env()?;
    let (model, base_url) = match provider.base_url() {
        None => (None, None),
        Some(url) => (Some(provider.model().to_string()), Some(url.to_string())),
    };
    Ok(Status {
        version: env!("CARGO_PKG_VERSION"),
        mode: provider.mode(),
        provider: provider.name(),
        model,
        base_url,
        models: provider
            .models()
            .iter()
            .map(|m| format!("{}/{}", m.provider, m.id))
            .collect(),
        providers: keys
            .iter()
            .map(|k| ProviderStatus {
                name: k.provider,
                source: k.source.clone(),
                configured: k.key.is_some(),
                placeholder: k.key.is_some() && !k.is_real(),
                key: k.key.as_ref().map(Secret::masked),
            })
            .collect(),
        ports: Ports {
            gateway: config::read_port(config::PORT_VAR, defaults::GATEWAY_PORT)?,
            health: config::read_port(config::HEALTH_PORT_VAR, defaults::HEALTH_PORT)?,
        },
        auth: auth_status(config::gateway_token()?),
        cgroup: cgroup::current(),
    })
}

fn limit<T>(v: Option<T>, show: impl Fn(T) -> String) -> String {
    v.map(show).unwrap_or_else(|| "unlimited".into())
}

/// The human table: `label  value` rows, aligned.
pub fn render_human(s: &Status) -> String {
    let mut rows: Vec<(String, String)> = vec![
        ("version".into(), s.version.into()),
        (
            "mode".into(),
            match s.mode {
                providers::Mode::Demo => "demo (no real provider key: offline demo answers)".into(),
                providers::Mode::Live => format!("live ({})", s.provider),
            },
        ),
    ];
    if let (Some(model), Some(url)) = (&s.model, &s.base_url) {
        rows.push(("model".into(), format!("{model} at {url}")));
    }
    rows.push(("models".into(), s.models.join(", ")));
    for p in &s.providers {
        let value = match (&p.key, &p.source) {
            (Some(key), Some(src)) => format!(
                "{key} ({}, from {src})",
                if p.placeholder { "placeholder" } else { "set" }
            ),
            _ => "not set".into(),
        };
        rows.push((p.name.into(), value));
    }
    rows.push(("gateway port".into(), s.ports.gateway.to_string()));
    rows.push(("health port".into(), s.ports.health.to_string()));
    rows.push((
        "auth".into(),
        format!(
            "{} ({})",
            if s.auth.configured {
                "configured"
            } else {
                "NOT configured"
            },
            s.auth.detail
        ),
    ));
    let cg = match s.cgroup.version {
        Some(v) => format!(" (cgroup v{v})"),
        None => " (no cgroup filesystem)".into(),
    };
    rows.push((
        "memory limit".into(),
        limit(s.cgroup.memory_max_bytes, format_bytes) + &cg,
    ));
    rows.push((
        "cpu limit".into(),
        limit(s.cgroup.cpu_max, format_cpus) + &cg,
    ));
    rows.push((
        "pids limit".into(),
        limit(s.cgroup.pids_max, |p| p.to_string()) + &cg,
    ));
    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(k, v)| format!("{k:width$}  {v}\n"))
        .collect()
}

pub fn run(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let status = collect()?;
    if args.json {
        println!("{}", serde_json::to_string(&status)?);
    } else {
        print!("{}", render_human(&status));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_states() {
        assert!(!auth_status(None).configured);
        let short = auth_status(Some(("CLAWDBOT_GATEWAY_TOKEN", Secret::new("abc"))));
        assert!(!short.configured && short.detail.contains("too short"));
        let ph = auth_status(Some((
            "CLAWDBOT_GATEWAY_TOKEN",
            Secret::new(defaults::PLACEHOLDERS[2]),
        )));
        assert!(!ph.configured && ph.detail.contains("placeholder"));
        let weak = auth_status(Some((
            "CLAWDBOT_GATEWAY_TOKEN",
            Secret::new("passwordpasswordpassword"),
        )));
        assert!(!weak.configured && weak.detail.contains("entropy"));
        let raw = "Zq8vN3kP0wLr5tYb7xMa2cQe9uHs4jFd";
        let ok = auth_status(Some(("OPENCLAW_GATEWAY_TOKEN", Secret::new(raw))));
        assert!(ok.configured);
        assert!(!serde_json::to_string(&ok).unwrap().contains(raw));
    }
}
