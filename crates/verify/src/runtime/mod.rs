//! `cargo xtask verify --runtime`: checks the running compose project through the
//! engine (`docker inspect`), inside each container (`clawdbot self-check --json`; in
//! an OpenClaw container also `openclaw security audit --json`) and
//! on the host (`/proc/net/tcp{,6}` listeners on the published ports).
//!
//! Findings use the catalog's rule ids (`catalog::RULES` with scope `Runtime` or
//! `Both`): the static ids where the property is the same (so a compose override that
//! undid hardening reads the same as a bad compose file) plus the `runtime-*` ids.
//! Severities come from the catalog (`Rule::runtime_severity`); a check passes
//! `Some(severity)` only where one finding has a documented reason to differ.
//! Location: `container:<name>`, line 0.

pub mod checks;
pub mod config;
mod docker;
pub mod host;
pub mod inspect;
pub mod openclaw_audit;
pub mod posture;
pub mod selfcheck;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use xshell::Shell;

use crate::vocab::catalog::RuleId;
use crate::{vocab::catalog, Finding, Location, Severity};
pub use config::{Profile, RuntimeConfig};

pub struct RuntimeOptions {
    /// Compose project name; default: as compose derives it for `root`.
    pub project: Option<String>,
    pub root: PathBuf,
}

/// Reads the running project and returns every finding, sorted by container and rule.
/// Errors (exit 2 in the CLI) when the engine cannot be reached.
pub fn collect(opts: &RuntimeOptions, config: &RuntimeConfig) -> Result<Vec<Finding>> {
    let project = match &opts.project {
        Some(p) => p.clone(),
        None => default_project_name(&opts.root)?,
    };
    let sh = Shell::new().context("starting a shell for docker")?;
    let containers = docker::project_containers(&sh, &project)?;
    if containers.is_empty() {
        return Ok(vec![finding_at(
            RuleId::RuntimeNoContainers,
            None,
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
        // On stderr: the report on stdout stays one document (JSON, SARIF).
        eprintln!("{}", image_version_line(c));
        findings.extend(checks::container(c, &networks, config));
        if c.is_running() {
            // The in-container view: an OpenClaw container's is the app's own audit
            // (the image has no clawdbot binary), every other container's is our
            // self-check.
            if openclaw_audit::is_openclaw(c) {
                let out = docker::exec(&sh, c.name(), &openclaw_audit::command());
                findings.extend(openclaw_audit::findings(c.name(), &out));
            } else {
                let is_service = c.service() == Some(config.service_name.as_str());
                let out = docker::self_check(&sh, c.name());
                findings.extend(selfcheck::findings(c.name(), is_service, &out));
            }
        }
    }
    let docker_host = std::env::var("DOCKER_HOST").ok();
    match host::remote_engine(docker_host.as_deref()) {
        Some(remote) => findings.push(finding_at(
            RuleId::RuntimeHostCheckSkipped,
            None,
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

/// `container <name>: image <ref>, version <v> (revision <r>)`, from the image's OCI
/// labels (`org.opencontainers.image.version`, `.revision`), which a container inherits.
pub fn image_version_line(c: &inspect::Container) -> String {
    let label = |key: &str| {
        c.label(&format!("org.opencontainers.image.{key}"))
            .filter(|v| !v.trim().is_empty())
    };
    let version = match (label("version"), label("revision")) {
        (Some(v), Some(r)) => format!("version {v} (revision {r})"),
        (Some(v), None) => format!("version {v}"),
        (None, _) => "no version label (org.opencontainers.image.version)".to_owned(),
    };
    format!(
        "container {}: image {}, {version}",
        c.name(),
        crate::model::secrets::redact(&c.config.image)
    )
}

/// A finding about one container; `severity: None` takes the catalog's runtime severity.
pub(crate) fn finding(
    rule: RuleId,
    severity: Option<Severity>,
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
    rule: RuleId,
    severity: Option<Severity>,
    file: String,
    message: String,
    evidence: Option<String>,
) -> Finding {
    let known = rule.rule();
    debug_assert!(
        known.scope != catalog::Scope::Static,
        "rule {rule} is not a runtime rule of the catalog"
    );
    Finding {
        rule,
        severity: severity.unwrap_or(known.runtime_severity),
        message,
        location: Location {
            file,
            line: 0,
            column: 0,
        },
        evidence,
        suppressed: None,
        checklist: None,
        related: Vec::new(),
    }
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
    fn the_image_version_comes_from_its_oci_labels() {
        let mut c = inspect::Container {
            raw_name: "/p-clawdbot-1".into(),
            ..Default::default()
        };
        c.config.image = "clawdbot:0.1.0".into();
        assert_eq!(
            image_version_line(&c),
            "container p-clawdbot-1: image clawdbot:0.1.0, no version label (org.opencontainers.image.version)"
        );
        c.config
            .labels
            .insert("org.opencontainers.image.version".into(), "0.1.0".into());
        c.config
            .labels
            .insert("org.opencontainers.image.revision".into(), "0123abc".into());
        assert_eq!(
            image_version_line(&c),
            "container p-clawdbot-1: image clawdbot:0.1.0, version 0.1.0 (revision 0123abc)"
        );
    }

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

    /// Every id a check can emit is a runtime rule of the catalog, with the catalog's
    /// runtime severity unless the check documents an override (checked over every
    /// recorded sample, secrets setting on and off).
    #[test]
    fn every_emitted_rule_is_in_the_catalog() {
        let mut seen = 0;
        for name in inspect::tests::SAMPLES {
            let c = inspect::tests::sample(name);
            for secrets in [false, true] {
                let s = RuntimeConfig {
                    secrets,
                    ..RuntimeConfig::default()
                };
                for f in checks::container(&c, &BTreeMap::new(), &s) {
                    let rule = f.rule.rule();
                    assert_ne!(rule.scope, catalog::Scope::Static, "{}", f.rule);
                    seen += 1;
                }
            }
        }
        assert!(seen > 20, "the samples emit findings ({seen})");
        for id in [
            RuleId::RuntimeNoContainers,
            RuleId::RuntimeHostCheckSkipped,
            RuleId::RuntimeHostListenerPublic,
            RuleId::RuntimeSelfcheckFailed,
            RuleId::RuntimeSelfcheckUnavailable,
            RuleId::RuntimeSecretInSessions,
        ] {
            assert!(id.rule().scope == catalog::Scope::Runtime, "{id}");
        }
    }
}
