//! `pids-limit-missing`: no pids limit. One judgement for compose/Swarm services
//! (`pids_limit` or `deploy.resources.limits.pids`) and running containers
//! (`HostConfig.PidsLimit`); Kubernetes has no per-container pids limit.
//! Fixtures: `crates/verify/tests/fixtures/pids-limit-missing/`.

use crate::model::posture::{Kind, Verdict, Workload};
use crate::vocab::catalog::RuleId;

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

/// The rule's spec (`rules::spec`); whole-project cases are in `tests/fixtures/`.
#[cfg(test)]
mod spec {
    use crate::rules::spec;
    use crate::RuleId;

    #[test]
    fn catches() {
        spec::catches(
            RuleId::PidsLimitMissing,
            spec::compose("    pids_limit: 256\n", ""),
        );
    }

    #[test]
    fn catches_not() {
        spec::catches_not(RuleId::PidsLimitMissing, spec::hardened());
    }
}
