//! `apparmor-unconfined`: the default AppArmor profile is off. One judgement for
//! compose/Swarm services, Kubernetes containers and running containers.
//! Fixtures: `xtask/tests/fixtures/apparmor-unconfined/`.

use crate::catalog::RuleId;
use crate::posture::{Confinement, Kind, Verdict, Workload};

pub fn judge(w: &Workload) -> Option<Verdict> {
    let f = &w.apparmor;
    if f.value != Confinement::Unconfined {
        return None;
    }
    let s = &w.subject;
    let (message, evidence) = match w.kind {
        Kind::ComposeService | Kind::SwarmService => (format!("{s}: AppArmor is unconfined"), None),
        Kind::K8sContainer | Kind::K8sPod => (format!("{s}: appArmorProfile is Unconfined"), None),
        Kind::RunningContainer => (
            "AppArmor is disabled (apparmor=unconfined)".into(),
            Some("SecurityOpt=apparmor=unconfined".into()),
        ),
    };
    Some(Verdict {
        rule: RuleId::ApparmorUnconfined,
        at: f.at,
        message,
        evidence,
        severity: None,
    })
}
