//! `privileged`: the workload runs privileged (every capability, every device, no
//! seccomp/AppArmor). One judgement for compose/Swarm services, Kubernetes containers
//! and running containers. Fixtures: `xtask/tests/fixtures/privileged/`.

use crate::catalog::RuleId;
use crate::posture::{Kind, Verdict, Workload};

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
