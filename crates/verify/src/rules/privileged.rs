//! `privileged`: the workload runs privileged (every capability, every device, no
//! seccomp/AppArmor). One judgement for compose/Swarm services, Kubernetes containers
//! and running containers. Fixtures: `crates/verify/tests/fixtures/privileged/`.

use crate::model::posture::{Kind, Verdict, Workload};
use crate::vocab::catalog::RuleId;

pub fn judge(w: &Workload) -> Option<Verdict> {
    let p = w.privileged.as_ref().filter(|p| p.value)?;
    let (message, evidence) = match w.kind {
        Kind::ComposeService | Kind::SwarmService | Kind::K8sContainer | Kind::K8sPod => {
            (format!("{} is privileged", w.subject), None)
        }
        Kind::RunningContainer => (
            "container is privileged: every capability, every device, no seccomp/AppArmor".into(),
            Some("Privileged=true".into()),
        ),
    };
    Some(Verdict {
        rule: RuleId::Privileged,
        at: p.at,
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
            RuleId::Privileged,
            spec::compose(
                "    read_only: true\n",
                "    read_only: true\n    privileged: true\n",
            ),
        );
    }

    #[test]
    fn catches_not() {
        spec::catches_not(
            RuleId::Privileged,
            spec::compose(
                "    read_only: true\n",
                "    read_only: true\n    privileged: false\n",
            ),
        );
    }
}
