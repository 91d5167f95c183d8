//! `rootfs-writable`: the root filesystem is writable. One judgement for compose/Swarm
//! services (`read_only`), Kubernetes containers (`readOnlyRootFilesystem`) and running
//! containers (`HostConfig.ReadonlyRootfs`). Fixtures: `crates/verify/tests/fixtures/rootfs-writable/`.

use crate::model::posture::{Kind, Verdict, Workload};
use crate::vocab::catalog::RuleId;

pub fn judge(w: &Workload) -> Option<Verdict> {
    let f = &w.read_only_rootfs;
    if f.value == Some(true) {
        return None;
    }
    let s = &w.subject;
    let (message, evidence) = match (w.kind, f.value) {
        (Kind::ComposeService | Kind::SwarmService, Some(_)) => {
            (format!("{s}: read_only is {}", f.written), None)
        }
        (Kind::ComposeService | Kind::SwarmService, None) => {
            (format!("{s} has no `read_only: true`"), None)
        }
        (Kind::K8sContainer | Kind::K8sPod, _) => {
            (format!("{s}: readOnlyRootFilesystem is not true"), None)
        }
        (Kind::RunningContainer, _) => (
            "root filesystem is writable (HostConfig.ReadonlyRootfs is false)".into(),
            Some("ReadonlyRootfs=false".into()),
        ),
    };
    Some(Verdict {
        rule: RuleId::RootfsWritable,
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
            RuleId::RootfsWritable,
            spec::compose("read_only: true", "read_only: false"),
        );
    }

    #[test]
    fn catches_not() {
        spec::catches_not(RuleId::RootfsWritable, spec::hardened());
    }
}
