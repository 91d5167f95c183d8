//! `pids-limit-missing`: no pids limit. One judgement for compose/Swarm services
//! (`pids_limit` or `deploy.resources.limits.pids`) and running containers
//! (`HostConfig.PidsLimit`); Kubernetes has no per-container pids limit.
//! Fixtures: `xtask/tests/fixtures/pids-limit-missing/`.

use crate::catalog::RuleId;
use crate::posture::{Kind, Verdict, Workload};

pub fn judge(w: &Workload) -> Option<Verdict> {
    let f = w.pids_limit.as_ref().filter(|f| !f.value)?;
    let (message, evidence) = match w.kind {
        Kind::RunningContainer => (
            "no pids limit: a fork bomb can exhaust the host's process table".into(),
            Some(f.written.clone()),
        ),
        _ => (format!("{} has no pids limit", w.subject), None),
    };
    Some(Verdict {
        rule: RuleId::PidsLimitMissing,
        at: f.at,
        message,
        evidence,
        severity: None,
    })
}
