//! `apparmor-unconfined`: the default AppArmor profile is off. One judgement for
//! compose/Swarm services, Kubernetes containers and running containers.
//! Fixtures: `crates/verify/tests/fixtures/apparmor-unconfined/`.

use crate::model::posture::{Confinement, Kind, Verdict, Workload};
use crate::vocab::catalog::RuleId;

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

/// The rule's spec (`rules::spec`); whole-project cases are in `tests/fixtures/`.
#[cfg(test)]
mod spec {
    use crate::rules::spec;
    use crate::RuleId;

    #[test]
    fn catches() {
        spec::catches(
            RuleId::ApparmorUnconfined,
            spec::compose(
                "      - no-new-privileges:true\n",
                "      - no-new-privileges:true\n      - apparmor:unconfined\n",
            ),
        );
    }

    #[test]
    fn catches_not() {
        spec::catches_not(RuleId::ApparmorUnconfined, spec::hardened());
    }
}
