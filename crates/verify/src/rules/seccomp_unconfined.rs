//! `seccomp-unconfined`: the default syscall filter is off. One judgement for
//! compose/Swarm services, Kubernetes containers (where no `seccompProfile` means
//! Unconfined without the kubelet's SeccompDefault) and running containers.
//! Fixtures: `xtask/tests/fixtures/seccomp-unconfined/`.

use crate::catalog::RuleId;
use crate::posture::{Confinement, Kind, Verdict, Workload};

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
