//! `network-host`: a namespace shared with the host (network, pid, ipc, uts). One
//! judgement for compose/Swarm services, running containers and Kubernetes pods
//! (`hostNetwork`, `hostPID`, `hostIPC`, shared per pod).
//! Fixtures: `xtask/tests/fixtures/network-host/`.

use crate::catalog::RuleId;
use crate::posture::{Kind, Verdict, Workload};

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
