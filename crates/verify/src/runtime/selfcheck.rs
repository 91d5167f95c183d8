//! `clawdbot self-check --json`, run inside the container with `docker exec`: what the
//! process itself sees (effective capabilities, no_new_privs, seccomp, rootfs, cgroup
//! limits). Failed checks become findings; schema per `defaults::SELFCHECK_SCHEMA`.

use serde::Deserialize;

use super::finding;
use crate::defaults::{self, SelfCheckId};
use crate::vocab::catalog::RuleId;
use crate::{vocab::catalog, Finding, Severity};

/// The parts of the self-check report runtime verify reads.
#[derive(Debug, Clone, Deserialize)]
pub struct Report {
    pub schema: u32,
    #[serde(default)]
    pub checks: Vec<Check>,
    /// The sessions-volume scan (`no-secrets-in-sessions`).
    #[serde(default)]
    pub sessions: Option<Sessions>,
}

/// The parts of the `sessions` scan runtime verify reads (never a secret value).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Sessions {
    #[serde(default)]
    pub files_with_secrets: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Check {
    pub id: String,
    pub ok: bool,
    #[serde(default)]
    pub detail: String,
}

/// What `docker exec` returned.
#[derive(Debug, Clone, Default)]
pub struct ExecOutput {
    /// `None` when the command could not be run at all (or was killed).
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Severity of a failed self-check, by check id (documented in the catalog): the
/// catalog's error for isolation checks, a warning for the others.
fn severity(check: &str) -> Option<Severity> {
    use SelfCheckId::*;
    match SelfCheckId::from_id(check) {
        Some(
            NonRoot | CapsEmpty | NoNewPrivs | Seccomp | RootfsReadOnly | EtcReadOnly
            | NoDockerSocket | NoSecretsInSessions,
        ) => None,
        _ => Some(Severity::Warning),
    }
}

/// The rule a failed check is reported under: `no-secrets-in-sessions` has its own
/// (a secret on a volume, not hardening that did not take effect), the others share one.
fn rule(check: &str) -> RuleId {
    match SelfCheckId::from_id(check) {
        Some(SelfCheckId::NoSecretsInSessions) => RuleId::RuntimeSecretInSessions,
        _ => RuleId::RuntimeSelfcheckFailed,
    }
}

/// Parses the one JSON object `self-check --json` prints (exit 1 still prints it).
pub fn parse(stdout: &str) -> Result<Report, String> {
    let text = stdout.trim();
    let report: Report = serde_json::from_str(text)
        .map_err(|e| format!("output is not the self-check JSON ({e})"))?;
    if report.schema != defaults::SELFCHECK_SCHEMA {
        return Err(format!(
            "self-check schema {} (expected {}): image and xtask versions differ",
            report.schema,
            defaults::SELFCHECK_SCHEMA
        ));
    }
    Ok(report)
}

/// Findings from one container's self-check. `is_service` marks the deployment's own
/// service, where a missing self-check is a warning rather than a note.
pub fn findings(container: &str, is_service: bool, out: &ExecOutput) -> Vec<Finding> {
    match parse(&out.stdout) {
        Ok(report) => report
            .checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| {
                let detail: String = c.detail.chars().take(200).collect();
                let rule = rule(&c.id);
                // Documented in the catalog: a sessions scan that found no secret but
                // could not finish is a warning (verify cannot tell).
                let found = report.sessions.as_ref().map_or(0, |s| s.files_with_secrets);
                let severity = if rule == RuleId::RuntimeSecretInSessions && found == 0 {
                    Some(Severity::Warning)
                } else {
                    severity(&c.id)
                };
                let mut f = finding(
                    rule,
                    severity,
                    container,
                    format!("self-check inside the container: {} failed: {detail}", c.id),
                    Some(format!("check={}", c.id)),
                );
                f.checklist = catalog::selfcheck_item(&c.id);
                f
            })
            .collect(),
        Err(parse_err) => {
            let first = out
                .stderr
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or("");
            let missing = matches!(out.status, Some(126 | 127))
                || first.contains("executable file not found")
                || first.contains("no such file or directory");
            let why = if missing {
                format!("{} is not in the image", defaults::IMAGE_BINARY)
            } else if !first.is_empty() {
                let first: String = first.chars().take(200).collect();
                format!(
                    "exit {}: {first}",
                    out.status.map_or("?".into(), |s| s.to_string())
                )
            } else {
                parse_err
            };
            vec![finding(
                RuleId::RuntimeSelfcheckUnavailable,
                // Documented in the catalog: a note for other containers.
                (!is_service).then_some(Severity::Note),
                container,
                format!("could not run `clawdbot self-check --json` in the container: {why}"),
                None,
            )]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{"schema":2,"version":"0.1.0",
      "user":{"uid":0,"gid":0,"name":null},
      "capabilities":{"effective":["CAP_CHOWN"],"permitted":[],"bounding":[],"effective_hex":"0000000000000001",
                      "permitted_hex":"0","bounding_hex":"0"},
      "no_new_privs":false,"seccomp":"filter","rootfs_writable":true,"etc_writable":true,
      "cgroup":{"version":2,"memory_max_bytes":null,"cpu_max":null,"pids_max":256},
      "docker_socket":false,"listening":[{"proto":"tcp","address":"0.0.0.0","port":18789}],
      "env_files":[],
      "checks":[{"id":"non-root","ok":false,"detail":"uid 0"},
                {"id":"memory-limit","ok":false,"detail":"unlimited"},
                {"id":"pids-limit","ok":true,"detail":"256"}],
      "ok":false}"#;

    fn exec(status: i32, stdout: &str, stderr: &str) -> ExecOutput {
        ExecOutput {
            status: Some(status),
            stdout: stdout.into(),
            stderr: stderr.into(),
        }
    }

    #[test]
    fn failed_checks_become_findings_with_their_severity() {
        let fs = findings(
            "c1",
            true,
            &exec(1, SAMPLE, "error: self-check failed: non-root"),
        );
        let got: Vec<_> = fs
            .iter()
            .map(|f| (f.evidence.as_deref().unwrap(), f.severity))
            .collect();
        assert_eq!(
            got,
            [
                ("check=non-root", Severity::Error),
                ("check=memory-limit", Severity::Warning)
            ]
        );
        assert!(fs.iter().all(|f| f.rule == RuleId::RuntimeSelfcheckFailed));
        assert!(fs[0].message.contains("uid 0"));
        // Each counts against the checklist item of its check: non-root 1, limits 6.
        let status = catalog::checklist_items(&fs);
        let failed: Vec<u8> = status
            .iter()
            .filter(|(_, s)| *s == catalog::ItemStatus::Fail)
            .map(|(item, _)| item.number)
            .collect();
        assert_eq!(failed, [1, 6]);
    }

    /// The catalog's text for `runtime-selfcheck-failed` names each self-check's
    /// checklist item as the shared table (`clawdbot_facts::SelfCheckId`) has it.
    #[test]
    fn catalog_text_matches_the_selfcheck_items() {
        // "(non-root 1; ...; memory-, cpu-, pids-limit 6; no-env-file 7)"
        let rationale = crate::RuleId::RuntimeSelfcheckFailed.rule().rationale;
        let list = rationale
            .rsplit_once('(')
            .and_then(|(_, l)| l.strip_suffix(")."))
            .expect("the rationale ends with the (check item; ...) list");
        let mut documented = Vec::new();
        for group in list.split("; ") {
            let (ids, item) = group.rsplit_once(' ').unwrap();
            let ids: Vec<&str> = ids.split(", ").collect();
            // `memory-, cpu-, pids-limit`: a trailing `-` shares the last id's suffix.
            let last = ids.last().unwrap();
            let suffix = last.split_once('-').map_or("", |(_, rest)| rest);
            for id in &ids {
                let id = match id.strip_suffix('-') {
                    Some(head) => format!("{head}-{suffix}"),
                    None => id.to_string(),
                };
                documented.push((id, item.parse::<u8>().unwrap()));
            }
        }
        documented.sort();
        let mut shared: Vec<(String, u8)> = SelfCheckId::ALL
            .iter()
            .filter(|c| rule(c.as_str()) == RuleId::RuntimeSelfcheckFailed)
            .map(|c| (c.as_str().to_string(), c.checklist_item()))
            .collect();
        shared.sort();
        assert_eq!(documented, shared);
        assert_eq!(catalog::selfcheck_item("no-env-file"), Some(7));
        assert_eq!(catalog::selfcheck_item("unknown-check"), None);
    }

    /// A secret in the sessions volume is its own rule (an error on checklist item 7);
    /// a scan that could not finish is the same rule as a warning.
    #[test]
    fn secret_in_sessions_is_its_own_rule() {
        let planted = r#"{"schema":2,"sessions":{"dir":"/data/sessions","files_with_secrets":1},
          "checks":[{"id":"no-secrets-in-sessions","ok":false,"detail":"1 of 2 files in /data/sessions hold a secret: 6d61696e.json (CLAWDBOT_GATEWAY_TOKEN)"}],"ok":false}"#;
        let fs = findings("c1", true, &exec(1, planted, ""));
        assert_eq!(fs.len(), 1);
        assert_eq!(fs[0].rule, RuleId::RuntimeSecretInSessions);
        assert_eq!(fs[0].severity, Severity::Error);
        assert!(fs[0].message.contains("6d61696e.json"), "{}", fs[0].message);
        assert_eq!(catalog::finding_item(&fs[0]), Some(7));
        let failed: Vec<u8> = catalog::checklist_items(&fs)
            .iter()
            .filter(|(_, s)| *s == catalog::ItemStatus::Fail)
            .map(|(item, _)| item.number)
            .collect();
        assert_eq!(failed, [7]);

        let incomplete = planted
            .replace(r#""files_with_secrets":1"#, r#""files_with_secrets":0"#)
            .replace("1 of 2 files", "scan incomplete");
        let fs = findings("c1", true, &exec(1, &incomplete, ""));
        assert_eq!(fs[0].rule, RuleId::RuntimeSecretInSessions);
        assert_eq!(fs[0].severity, Severity::Warning);

        let clean = r#"{"schema":2,"checks":[{"id":"no-secrets-in-sessions","ok":true,"detail":"no secret found"}],"ok":true}"#;
        assert!(findings("c1", true, &exec(0, clean, "")).is_empty());
    }

    #[test]
    fn passing_report_gives_nothing() {
        let ok =
            r#"{"schema":2,"checks":[{"id":"non-root","ok":true,"detail":"uid 1000"}],"ok":true}"#;
        assert!(findings("c1", true, &exec(0, ok, "")).is_empty());
    }

    #[test]
    fn missing_binary_wrong_schema_and_garbage_are_unavailable() {
        let missing = exec(
            126,
            "",
            "OCI runtime exec failed: exec failed: unable to start container process: exec: \"/usr/local/bin/clawdbot\": stat /usr/local/bin/clawdbot: no such file or directory: unknown",
        );
        let fs = findings("c1", false, &missing);
        assert_eq!(fs.len(), 1);
        assert_eq!(fs[0].rule, RuleId::RuntimeSelfcheckUnavailable);
        assert_eq!(fs[0].severity, Severity::Note);
        assert!(
            fs[0].message.contains("is not in the image"),
            "{}",
            fs[0].message
        );

        let fs = findings("c1", true, &exec(0, r#"{"schema":99,"checks":[]}"#, ""));
        assert_eq!(fs[0].severity, Severity::Warning);
        assert!(fs[0].message.contains("schema 99"), "{}", fs[0].message);

        let fs = findings("c1", true, &exec(2, "", "error: not implemented yet\n"));
        assert!(
            fs[0].message.contains("exit 2: error: not implemented yet"),
            "{}",
            fs[0].message
        );
        assert_eq!(findings("c1", true, &exec(0, "[1,2", "")).len(), 1);
    }
}
