//! `caps-added`: capabilities granted back. An error for capabilities close to root or
//! that break isolation (`caps::DANGEROUS`), else a warning. One judgement for
//! compose/Swarm services, Kubernetes containers and running containers.
//! Fixtures: `xtask/tests/fixtures/caps-added/`.

use crate::caps;
use crate::catalog::RuleId;
use crate::posture::{Kind, Verdict, Workload};

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
