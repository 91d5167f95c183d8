//! `caps-not-dropped`: the engine's default capability set stays. One judgement for
//! compose/Swarm services (`cap_drop`), Kubernetes containers (`capabilities.drop`) and
//! running containers (`HostConfig.CapDrop`). Fixtures: `xtask/tests/fixtures/caps-not-dropped/`.

use crate::catalog::RuleId;
use crate::posture::{Kind, Verdict, Workload};

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
