//! `caps-added`: capabilities granted back. An error for capabilities close to root or
//! that break isolation (`caps::DANGEROUS`), else a warning. One judgement for
//! compose/Swarm services, Kubernetes containers and running containers.
//! Fixtures: `crates/verify/tests/fixtures/caps-added/`.

use crate::model::posture::{Kind, Verdict, Workload};
use crate::vocab::caps;
use crate::vocab::catalog::RuleId;

pub fn judge(w: &Workload) -> Vec<Verdict> {
    w.cap_add
        .iter()
        .map(|cap| {
            let name = &cap.value;
            let (message, evidence) = match w.kind {
                Kind::ComposeService | Kind::SwarmService | Kind::K8sContainer | Kind::K8sPod => {
                    (format!("{} adds capability {name}", w.subject), None)
                }
                Kind::RunningContainer => (
                    format!(
                        "capability {name} is added{}",
                        if caps::is_dangerous(name) {
                            " (breaks isolation)"
                        } else {
                            ""
                        }
                    ),
                    Some(format!("CapAdd={}", cap.written)),
                ),
            };
            Verdict {
                rule: RuleId::CapsAdded,
                at: cap.at,
                message,
                evidence,
                severity: Some(caps::added_severity(name)),
            }
        })
        .collect()
}

/// The rule's spec (`rules::spec`); whole-project cases are in `tests/fixtures/`.
#[cfg(test)]
mod spec {
    use crate::rules::spec;
    use crate::RuleId;

    #[test]
    fn catches() {
        spec::catches(
            RuleId::CapsAdded,
            spec::compose(
                "    cap_drop:\n",
                "    cap_add:\n      - SYS_ADMIN\n    cap_drop:\n",
            ),
        );
    }

    #[test]
    fn catches_not() {
        spec::catches_not(RuleId::CapsAdded, spec::hardened());
    }
}
