//! `limits-missing`: no cpu or no memory limit. One judgement for compose/Swarm
//! services (`cpus`/`mem_limit` or `deploy.resources.limits`), Kubernetes containers
//! (`resources.limits`) and running containers (`NanoCpus`/`CpuQuota`, `Memory`).
//! Fixtures: `crates/verify/tests/fixtures/limits-missing/`.

use crate::model::posture::{Kind, Verdict, Workload};
use crate::vocab::catalog::RuleId;

pub fn judge(w: &Workload) -> Option<Verdict> {
    let f = &w.limits;
    let l = f.value;
    // Each input names the limits its own way and in its own order.
    let names: [(&str, bool); 2] = match w.kind {
        Kind::ComposeService | Kind::SwarmService => [("cpus", l.cpus), ("memory", l.memory)],
        Kind::K8sContainer | Kind::K8sPod => [("cpu", l.cpus), ("memory", l.memory)],
        Kind::RunningContainer => [("memory", l.memory), ("cpus", l.cpus)],
    };
    let missing: Vec<&str> = names
        .iter()
        .filter(|(_, set)| !set)
        .map(|(n, _)| *n)
        .collect();
    if missing.is_empty() {
        return None;
    }
    let missing = missing.join(" or ");
    let (message, evidence) = match w.kind {
        Kind::RunningContainer => (
            format!("no {missing} limit: one runaway process can starve the host"),
            Some(f.written.clone()),
        ),
        _ => (format!("{} has no {missing} limit", w.subject), None),
    };
    Some(Verdict {
        rule: RuleId::LimitsMissing,
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
            RuleId::LimitsMissing,
            spec::compose("    cpus: \"2.0\"\n    mem_limit: 2G\n", ""),
        );
    }

    #[test]
    fn catches_not() {
        spec::catches_not(RuleId::LimitsMissing, spec::hardened());
    }
}
