//! `healthcheck-missing`: nothing tells the engine or the orchestrator whether the
//! workload is healthy: its check is disabled, neither compose nor the Dockerfile that
//! builds its image defines one, a Kubernetes container lacks probes, or a running
//! container has none (the image's is merged in). One-shot jobs need none. A pulled
//! image whose Dockerfile the project does not hold is `healthcheck-unknown`.
//! Fixtures: `crates/verify/tests/fixtures/healthcheck-missing/`.

use crate::model::posture::{Health, Kind, Verdict, Workload};
use crate::vocab::catalog::RuleId;

pub fn judge(w: &Workload) -> Option<Verdict> {
    let hc = &w.healthcheck;
    let message = match (&hc.value, w.kind) {
        (Health::Defined, _) => return None,
        (_, _) if w.one_shot => return None,
        (Health::Disabled, Kind::RunningContainer) => "healthcheck is disabled (test NONE)".into(),
        (Health::Disabled, _) => format!("{}: healthcheck is disabled", w.subject),
        (Health::Absent, _) => {
            "container has no healthcheck (neither the image nor compose defines one)".into()
        }
        (Health::MissingProbes(probes), _) => {
            format!("{} has no {}", w.subject, probes.join(" and no "))
        }
        (Health::FromImage, _) => {
            let image = &w.image.as_ref()?.value;
            match &image.dockerfile {
                Some(df) if df.healthcheck => return None,
                Some(df) => {
                    let stage = df
                        .stage
                        .as_ref()
                        .map(|t| format!(" (stage {t})"))
                        .unwrap_or_default();
                    let via = df
                        .via
                        .as_ref()
                        .map(|v| format!(", {v}"))
                        .unwrap_or_default();
                    format!(
                        "{} has no healthcheck in compose nor in its Dockerfile{stage}{via}",
                        w.subject
                    )
                }
                None if image.builds => format!(
                    "{} has no healthcheck in compose nor in its Dockerfile",
                    w.subject
                ),
                None => return None,
            }
        }
    };
    Some(Verdict {
        rule: RuleId::HealthcheckMissing,
        at: hc.at,
        message,
        evidence: None,
        severity: None,
    })
}

/// The rule's spec (`rules::spec`); whole-project cases are in `tests/fixtures/`.
#[cfg(test)]
mod spec {
    use crate::rules::spec;
    use crate::RuleId;

    #[test]
    fn catches() {
        spec::catches(
            RuleId::HealthcheckMissing,
            spec::compose("    healthcheck:\n", "    x-healthcheck:\n").edit(
                "Dockerfile",
                "HEALTHCHECK",
                "# HEALTHCHECK",
            ),
        );
    }

    #[test]
    fn catches_not() {
        spec::catches_not(
            RuleId::HealthcheckMissing,
            spec::compose("    healthcheck:\n", "    x-healthcheck:\n"),
        );
    }
}
