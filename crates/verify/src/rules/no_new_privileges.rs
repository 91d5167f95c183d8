//! `no-new-privileges-missing`: setuid binaries can regain privileges. One judgement
//! for compose/Swarm services (`security_opt`), Kubernetes containers
//! (`allowPrivilegeEscalation: false`) and running containers (`HostConfig.SecurityOpt`).
//! Fixtures: `xtask/tests/fixtures/no-new-privileges-missing/`.

use crate::catalog::RuleId;
use crate::posture::{Kind, Verdict, Workload};

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
