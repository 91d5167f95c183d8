//! `seccomp-unconfined`: the default syscall filter is off. One judgement for
//! compose/Swarm services, Kubernetes containers (where no `seccompProfile` means
//! Unconfined without the kubelet's SeccompDefault) and running containers.
//! Fixtures: `crates/verify/tests/fixtures/seccomp-unconfined/`.

use crate::model::posture::{Confinement, Kind, Verdict, Workload};
use crate::vocab::catalog::RuleId;

pub fn judge(w: &Workload) -> Option<Verdict> {
    let f = &w.seccomp;
    let s = &w.subject;
    let (message, evidence) = match (&f.value, w.kind) {
        (Confinement::Unconfined, Kind::ComposeService | Kind::SwarmService) => {
            (format!("{s}: seccomp is unconfined"), None)
        }
        (Confinement::Unconfined, Kind::K8sContainer) => {
            (format!("{s}: seccompProfile is Unconfined"), None)
        }
        (Confinement::Unconfined, Kind::RunningContainer) => (
            "seccomp is disabled (seccomp=unconfined)".into(),
            Some("SecurityOpt=seccomp=unconfined".into()),
        ),
        (Confinement::Unset, _) => (
            format!("{s}: no seccompProfile; without the kubelet's SeccompDefault it runs Unconfined (set type: RuntimeDefault)"),
            None,
        ),
        _ => return None,
    };
    Some(Verdict {
        rule: RuleId::SeccompUnconfined,
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
            RuleId::SeccompUnconfined,
            spec::compose(
                "      - no-new-privileges:true\n",
                "      - no-new-privileges:true\n      - seccomp:unconfined\n",
            ),
        );
    }

    #[test]
    fn catches_not() {
        spec::catches_not(RuleId::SeccompUnconfined, spec::hardened());
    }
}
