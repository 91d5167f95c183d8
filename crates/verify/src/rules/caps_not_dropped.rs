//! `caps-not-dropped`: the engine's default capability set stays. One judgement for
//! compose/Swarm services (`cap_drop`), Kubernetes containers (`capabilities.drop`) and
//! running containers (`HostConfig.CapDrop`). Fixtures: `crates/verify/tests/fixtures/caps-not-dropped/`.

use crate::model::posture::{Kind, Verdict, Workload};
use crate::vocab::catalog::RuleId;

pub fn judge(w: &Workload) -> Option<Verdict> {
    let f = &w.cap_drop_all;
    if f.value {
        return None;
    }
    let s = &w.subject;
    let (message, evidence) = match w.kind {
        Kind::ComposeService | Kind::SwarmService => {
            (format!("{s} does not drop ALL capabilities"), None)
        }
        Kind::K8sContainer | Kind::K8sPod => {
            (format!("{s}: capabilities.drop does not include ALL"), None)
        }
        Kind::RunningContainer => (
            "capabilities are not dropped (CapDrop does not include ALL): the default set stays"
                .into(),
            Some(format!("CapDrop={}", f.written)),
        ),
    };
    Some(Verdict {
        rule: RuleId::CapsNotDropped,
        at: f.at,
        message,
        evidence,
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
            RuleId::CapsNotDropped,
            spec::compose("    cap_drop:\n      - ALL\n", ""),
        );
    }

    #[test]
    fn catches_not() {
        spec::catches_not(
            RuleId::CapsNotDropped,
            spec::compose("      - ALL\n", "      - all\n"),
        );
    }
}
