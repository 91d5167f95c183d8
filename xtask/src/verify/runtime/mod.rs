//! `cargo xtask verify --runtime`: checks the running compose project through the
//! engine (`docker inspect`), inside each container (`clawdbot self-check --json`) and
//! on the host (`/proc/net/tcp{,6}` listeners on the published ports).
//!
//! Findings use the static catalog's rule ids where the property is the same (so a
//! compose override that undid hardening reads the same as a bad compose file), plus
//! the runtime-only ids in [`RUNTIME_RULES`]. Location: `container:<name>`, line 0.

pub mod checks;
mod docker;
pub mod host;
pub mod inspect;
pub mod selfcheck;

#[cfg(test)]
mod e2e;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use xshell::Shell;

use crate::settings::Settings;
use crate::verify::{Finding, Location, Severity};

pub struct RuntimeOptions {
    /// Compose project name; default: as compose derives it for `root`.
    pub project: Option<String>,
    pub root: PathBuf,
}

/// Rules only runtime verify has: `(id, severity, title, fix)`.
pub const RUNTIME_RULES: &[(&str, Severity, &str, &str)] = &[
    (
        "runtime-no-containers",
        Severity::Error,
        "No container of the compose project exists",
        "Start the stack (`docker compose up -d`) or name its project with `--project NAME`.",
    ),
    (
        "runtime-not-running",
        Severity::Error,
        "A container of the project is not running",
        "Read `docker logs <container>` and the engine's error, fix the cause and start it again.",
    ),
    (
        "runtime-unhealthy",
        Severity::Error,
        "The engine does not report the container healthy",
        "Read the healthcheck log (`docker inspect --format '{{json .State.Health}}' <container>`) and fix the service; `starting` is a warning.",
    ),
    (
        "runtime-host-listener-public",
        Severity::Error,
        "A published port listens beyond loopback on the host",
        "Publish ports as `127.0.0.1:HOST:CONTAINER` and recreate the container.",
    ),
    (
        "runtime-selfcheck-failed",
        Severity::Error,
        "A check of `clawdbot self-check` failed inside the container",
        "Fix the hardening the check names (user, capabilities, no-new-privileges, seccomp, read-only rootfs, limits, no docker socket, no env files) in the compose file and recreate the container.",
    ),
    (
        "runtime-selfcheck-unavailable",
        Severity::Warning,
        "`clawdbot self-check --json` could not be run in the container",
        "Use an image built by `cargo xtask build` (binary at /usr/local/bin/clawdbot, matching self-check schema).",
    ),
    (
        "runtime-host-check-skipped",
        Severity::Note,
        "Host listeners were not checked: the engine runs on another machine",
        "Run `cargo xtask verify --runtime` on the engine's host to check its listeners.",
    ),
];

/// Ids of the shared catalog that runtime verify can emit.
pub const SHARED_RULES: &[&str] = &[
    "user-root",
    "rootfs-writable",
    "caps-not-dropped",
    "caps-added",
    "privileged",
    "no-new-privileges-missing",
    "limits-missing",
    "pids-limit-missing",
    "port-not-loopback",
    "sensitive-volume",
    "network-host",
    "network-not-isolated",
    "ports-on-internal-network",
    "healthcheck-missing",
    "seccomp-unconfined",
    "apparmor-unconfined",
    "logging-unbounded",
    "secret-literal",
];

/// Reads the running project and returns every finding, sorted by container and rule.
/// Errors (exit 2 in the CLI) when the engine cannot be reached.
pub fn collect(opts: &RuntimeOptions, settings: &Settings) -> Result<Vec<Finding>> {
    let project = match &opts.project {
        Some(p) => p.clone(),
        None => default_project_name(&opts.root)?,
    };
    let sh = Shell::new().context("starting a shell for docker")?;
    let containers = docker::project_containers(&sh, &project)?;
    if containers.is_empty() {
        return Ok(vec![finding_at(
            "runtime-no-containers",
            Severity::Error,
            format!("project:{project}"),
            format!(
                "no container has the label com.docker.compose.project={project}; is the stack up (or named otherwise: --project NAME)?"
            ),
            None,
        )]);
    }
    let networks = docker::networks(&sh, &containers)?;
    let mut findings = Vec::new();
    for c in &containers {
        findings.extend(checks::container(c, &networks, settings));
        if c.is_running() {
            let is_service = c.service() == Some(settings.service_name.as_str());
            let out = docker::self_check(&sh, c.name());
            findings.extend(selfcheck::findings(c.name(), is_service, &out));
        }
    }
    let docker_host = std::env::var("DOCKER_HOST").ok();
    match host::remote_engine(docker_host.as_deref()) {
        Some(remote) => findings.push(finding_at(
            "runtime-host-check-skipped",
            Severity::Note,
            format!("project:{project}"),
            format!(
                "the engine runs on {remote} (DOCKER_HOST); its listeners are not visible here"
            ),
            None,
        )),
        None => findings.extend(host::findings(&containers, &host::read_listeners())),
    }
    findings.sort_by(|a, b| (&a.location, a.rule).cmp(&(&b.location, b.rule)));
    Ok(findings)
}

/// A finding about one container.
pub(crate) fn finding(
    rule: &'static str,
    severity: Severity,
    container: &str,
    message: String,
    evidence: Option<String>,
) -> Finding {
    finding_at(
        rule,
        severity,
        format!("container:{container}"),
        message,
        evidence,
    )
}

/// A finding at a runtime location (`container:<name>` or `project:<name>`), line 0.
fn finding_at(
    rule: &'static str,
    severity: Severity,
    file: String,
    message: String,
    evidence: Option<String>,
) -> Finding {
    Finding {
        rule,
        severity,
        message,
        location: Location {
            file,
            line: 0,
            column: 0,
        },
        evidence,
        suppressed: None,
    }
}

/// Masks a secret for evidence: a recognisable prefix (up to the last `-` within the
/// first 8 characters) and the last 4 characters; short values are fully masked.
/// Same shape as the service's `config::mask`.
pub(crate) fn mask(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() < 12 {
        return format!("…{}", "*".repeat(chars.len().min(4)));
    }
    let head: String = chars.iter().take(8).collect();
    let prefix = head.rfind('-').map_or("", |i| &head[..=i]);
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{prefix}…{tail}")
}

/// The project name compose uses for `root`: `COMPOSE_PROJECT_NAME`, else the top-level
/// `name:` of the project's compose file, else the directory name, normalized as
/// compose does (lowercase; only `a-z0-9_-`; no leading `_`/`-`).
pub fn default_project_name(root: &Path) -> Result<String> {
    if let Some(env) = std::env::var("COMPOSE_PROJECT_NAME")
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        return Ok(normalize_project_name(&env));
    }
    #[derive(serde::Deserialize)]
    struct Top {
        name: Option<String>,
    }
    for file in [
        "compose.yaml",
        "compose.yml",
        "docker-compose.yaml",
        "docker-compose.yml",
    ] {
        if let Ok(text) = std::fs::read_to_string(root.join(file)) {
            if let Ok(Top { name: Some(name) }) = serde_saphyr::from_str::<Top>(&text) {
                if !name.contains('$') {
                    return Ok(normalize_project_name(&name));
                }
            }
            break;
        }
    }
    let abs = std::fs::canonicalize(root)
        .with_context(|| format!("{}: cannot resolve the project directory", root.display()))?;
    let dir = abs
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = normalize_project_name(&dir);
    anyhow::ensure!(
        !name.is_empty(),
        "{}: no compose project name can be derived from this directory (pass --project NAME)",
        abs.display()
    );
    Ok(name)
}

pub fn normalize_project_name(raw: &str) -> String {
    let lower: String = raw
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    lower.trim_start_matches(['_', '-']).to_string()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn project_names_follow_compose() {
        assert_eq!(normalize_project_name("My.Project dir"), "myprojectdir");
        assert_eq!(
            normalize_project_name("_-clawdbot-deploy"),
            "clawdbot-deploy"
        );
        assert_eq!(normalize_project_name("ÄÖ"), "");
    }

    #[test]
    fn project_name_from_directory_and_compose_name() {
        let sh = Shell::new().unwrap();
        let tmp = sh.create_temp_dir().unwrap();
        let dir = tmp.path().join("Clawdbot.Deploy");
        std::fs::create_dir(&dir).unwrap();
        if std::env::var("COMPOSE_PROJECT_NAME").is_err() {
            assert_eq!(default_project_name(&dir).unwrap(), "clawdbotdeploy");
            std::fs::write(dir.join("compose.yaml"), "name: Other_Name\nservices: {}\n").unwrap();
            assert_eq!(default_project_name(&dir).unwrap(), "other_name");
        }
        assert!(default_project_name(&tmp.path().join("missing")).is_err());
    }

    #[test]
    fn mask_hides_the_secret() {
        assert_eq!(
            mask("sk-ant-api03-abcdefghijklmnopqrstuvwxyz-abcd"),
            "sk-ant-…abcd"
        );
        assert_eq!(mask("short"), "…****");
        assert!(!mask("abcdefghijklmnopqrstuvwxyz0123456789").contains("efgh"));
    }

    #[test]
    fn rule_table_is_consistent() {
        let mut ids: Vec<&str> = RUNTIME_RULES.iter().map(|r| r.0).collect();
        ids.extend(SHARED_RULES);
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n, "duplicate rule id");
        for (id, _, title, fix) in RUNTIME_RULES {
            assert!(id.starts_with("runtime-") && !title.is_empty() && !fix.is_empty());
        }
    }

    /// Every id a check can emit is either shared with the static catalog or in
    /// `RUNTIME_RULES` (checked over every recorded sample).
    #[test]
    fn every_emitted_rule_is_known() {
        let known =
            |id: &str| SHARED_RULES.contains(&id) || RUNTIME_RULES.iter().any(|r| r.0 == id);
        for name in [
            "hardened",
            "exposed",
            "hostnet",
            "privileged-created",
            "public-unhealthy",
        ] {
            let c = inspect::tests::sample(name);
            for f in checks::container(&c, &BTreeMap::new(), &Settings::default()) {
                assert!(
                    known(f.rule),
                    "{} from {name} is not in a rule table",
                    f.rule
                );
            }
        }
    }
}
