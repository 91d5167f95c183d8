//! `no-new-privileges-missing`: setuid binaries can regain privileges. One judgement
//! for compose/Swarm services (`security_opt`), Kubernetes containers
//! (`allowPrivilegeEscalation: false`) and running containers (`HostConfig.SecurityOpt`).
//! Fixtures: `crates/verify/tests/fixtures/no-new-privileges-missing/`.

use crate::model::posture::{Kind, Verdict, Workload};
use crate::vocab::catalog::RuleId;

pub fn judge(w: &Workload) -> Option<Verdict> {
    let f = &w.no_new_privileges;
    if f.value {
        return None;
    }
    let s = &w.subject;
    let (message, evidence) = match w.kind {
        Kind::ComposeService => (format!("{s} does not set no-new-privileges:true"), None),
        Kind::SwarmService => (
            format!("{s}: no-new-privileges cannot be enforced by the stack file (docker stack deploy ignores security_opt); set \"no-new-privileges\": true in /etc/docker/daemon.json on every node"),
            None,
        ),
        Kind::K8sContainer | Kind::K8sPod => (format!("{s}: allowPrivilegeEscalation is not false"), None),
        Kind::RunningContainer => (
            "no-new-privileges is not set: setuid binaries can still gain privileges".into(),
            Some(format!("SecurityOpt={}", f.written)),
        ),
    };
    Some(Verdict {
        rule: RuleId::NoNewPrivilegesMissing,
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
            RuleId::NoNewPrivilegesMissing,
            spec::compose("no-new-privileges:true", "no-new-privileges:false"),
        );
    }

    #[test]
    fn catches_not() {
        spec::catches_not(RuleId::NoNewPrivilegesMissing, spec::hardened());
    }
}
