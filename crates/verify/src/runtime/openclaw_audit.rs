//! OpenClaw's own view in `verify --runtime`: in a running container of an OpenClaw
//! image, `node openclaw.mjs security audit --json` (paths: `clawdbot_facts::openclaw`),
//! each `critical` or `warn` finding of it reported as `runtime-openclaw-audit` carrying
//! its check id. The JSON shape (`{ts, summary, findings: [{checkId, severity, title,
//! detail, remediation?}], secretDiagnostics}`) was read from openclaw 2026.9.6's
//! output; `testdata/openclaw-audit.json` is that output for an onboarding-style config.

use serde::Deserialize;

use super::inspect::Container;
use super::selfcheck::ExecOutput;
use crate::model::secrets;
use crate::vocab::catalog::RuleId;
use crate::{Finding, Severity};

/// The audit report (fields verify reads).
#[derive(Debug, Deserialize)]
struct Report {
    findings: Vec<AuditFinding>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuditFinding {
    check_id: String,
    severity: String,
    title: String,
    #[serde(default)]
    detail: String,
}

/// Whether a container runs an OpenClaw image (its image reference names openclaw).
pub fn is_openclaw(c: &Container) -> bool {
    c.config.image.contains("openclaw")
}

/// The audit's command line inside the container.
pub fn command() -> [&'static str; 5] {
    use clawdbot_facts::openclaw::{ENTRY, NODE_BIN};
    [NODE_BIN, ENTRY, "security", "audit", "--json"]
}

/// Findings from the audit's output: one per `critical` (error) or `warn` (warning)
/// check, `info` left out; output that is not the audit's JSON is one warning.
pub fn findings(container: &str, out: &ExecOutput) -> Vec<Finding> {
    let report: Report = match serde_json::from_str(&out.stdout) {
        Ok(r) => r,
        Err(e) => {
            let why = match out.status {
                None => format!("could not be run: {}", out.stderr.trim()),
                Some(code) => format!(
                    "exit {code}, output not the audit's JSON ({e}): {}",
                    first_line(&out.stderr)
                ),
            };
            return vec![super::finding(
                RuleId::RuntimeOpenclawAudit,
                Some(Severity::Warning),
                container,
                secrets::redact(&format!("`openclaw security audit --json` {why}")),
                None,
            )];
        }
    };
    report
        .findings
        .into_iter()
        .filter_map(|f| {
            let severity = match f.severity.as_str() {
                "critical" => Severity::Error,
                "warn" => Severity::Warning,
                _ => return None,
            };
            let message = format!("{}: {}: {}", f.check_id, f.title, first_line(&f.detail));
            Some(super::finding(
                RuleId::RuntimeOpenclawAudit,
                Some(severity),
                container,
                secrets::redact(&message),
                Some(format!("checkId={}", f.check_id)),
            ))
        })
        .collect()
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default().trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The real CLI's output (openclaw 2026.9.6, `security audit --json` on a config
    /// with `bind: "lan"`, no allowed origins, no rate limit, a world-readable file).
    const SAMPLE: &str = include_str!("testdata/openclaw-audit.json");

    #[test]
    fn critical_and_warn_checks_become_findings_with_their_check_id() {
        let out = ExecOutput {
            status: Some(0),
            stdout: SAMPLE.into(),
            stderr: String::new(),
        };
        let fs = findings("oc-1", &out);
        let got: Vec<(Severity, &str)> = fs
            .iter()
            .map(|f| (f.severity, f.evidence.as_deref().unwrap_or_default()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    Severity::Error,
                    "checkId=gateway.control_ui.allowed_origins_required"
                ),
                (Severity::Warning, "checkId=gateway.auth_no_rate_limit"),
                (Severity::Error, "checkId=fs.config.perms_world_readable"),
            ]
        );
        assert!(fs.iter().all(|f| f.rule == RuleId::RuntimeOpenclawAudit
            && f.location.file == "container:oc-1"
            && f.message.starts_with(
                f.evidence
                    .as_deref()
                    .unwrap_or("-")
                    .trim_start_matches("checkId=")
            )));
    }

    #[test]
    fn output_that_is_not_the_report_is_one_warning() {
        let out = ExecOutput {
            status: Some(126),
            stdout: String::new(),
            stderr: "OCI runtime exec failed: no such file\n".into(),
        };
        let fs = findings("oc-1", &out);
        assert_eq!(fs.len(), 1);
        assert_eq!(fs[0].severity, Severity::Warning);
        assert!(fs[0].message.contains("exit 126"), "{}", fs[0].message);
    }
}
