//! `ports-on-internal-network`: ports are published but every network the workload
//! joins is `internal`, so the engine drops them. One judgement for compose/Swarm
//! services and running containers (Kubernetes has no such networks).
//! Fixtures: `crates/verify/tests/fixtures/ports-on-internal-network/`.

use crate::model::posture::{Kind, Verdict, Workload};
use crate::vocab::catalog::RuleId;

pub fn judge(w: &Workload) -> Option<Verdict> {
    let nets = &w.networks.as_ref()?.value;
    if !w.publishes.value || nets.joined.is_empty() || !nets.joined.iter().all(|(_, i)| *i) {
        return None;
    }
    let names: Vec<&str> = nets.joined.iter().map(|(n, _)| n.as_str()).collect();
    let (message, evidence) = match w.kind {
        Kind::RunningContainer => (
            format!(
                "ports are published but every network ({}) is internal: the engine drops them",
                names.join(", ")
            ),
            Some(format!("networks={}", names.join(","))),
        ),
        _ => (
            format!(
                "{} publishes ports but every network it joins is internal ({}); Docker drops them",
                w.subject,
                names.join(", ")
            ),
            None,
        ),
    };
    Some(Verdict {
        rule: RuleId::PortsOnInternalNetwork,
        at: w.publishes.at,
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
            RuleId::PortsOnInternalNetwork,
            spec::compose("    driver: bridge\n", "    internal: true\n"),
        );
    }

    #[test]
    fn catches_not() {
        spec::catches_not(RuleId::PortsOnInternalNetwork, spec::hardened());
    }
}
