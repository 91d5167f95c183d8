//! `network-host`: a namespace shared with the host (network, pid, ipc, uts). One
//! judgement for compose/Swarm services, running containers and Kubernetes pods
//! (`hostNetwork`, `hostPID`, `hostIPC`, shared per pod).
//! Fixtures: `crates/verify/tests/fixtures/network-host/`.

use crate::model::posture::{Kind, Verdict, Workload};
use crate::vocab::catalog::RuleId;

pub fn judge(w: &Workload) -> Vec<Verdict> {
    w.host_namespaces
        .iter()
        .map(|ns| {
            let (message, evidence) = match w.kind {
                Kind::RunningContainer => (
                    format!(
                        "container shares the host's {0} namespace ({0} mode host)",
                        ns.value
                    ),
                    Some(ns.written.clone()),
                ),
                Kind::K8sPod => (
                    format!(
                        "{}: {}: true shares the node's namespace",
                        w.subject, ns.written
                    ),
                    None,
                ),
                // The compose key as written: `network_mode: host`, `pid: host`, ...
                _ => (format!("{}: {}: host", w.subject, ns.written), None),
            };
            Verdict {
                rule: RuleId::NetworkHost,
                at: ns.at,
                message,
                evidence,
                severity: None,
            }
        })
        .collect()
}

/// The rule's spec (`rules::spec`); whole-project cases are in `tests/fixtures/`.
#[cfg(test)]
mod spec {
    use crate::rules::spec;
    use crate::RuleId;

    #[test]
    fn catches() {
        spec::catches(
            RuleId::NetworkHost,
            spec::compose(
                "    read_only: true\n",
                "    read_only: true\n    pid: host\n",
            ),
        );
    }

    #[test]
    fn catches_not() {
        spec::catches_not(RuleId::NetworkHost, spec::hardened());
    }
}
