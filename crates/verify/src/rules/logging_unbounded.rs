//! `logging-unbounded`: json-file logs without `max-size` grow until the disk is full.
//! One judgement for compose/Swarm services (`logging:`) and running containers
//! (`HostConfig.LogConfig`); Kubernetes leaves log rotation to the node.
//! Fixtures: `crates/verify/tests/fixtures/logging-unbounded/`.

use crate::model::posture::{Kind, Logging, Verdict, Workload};
use crate::vocab::catalog::RuleId;

pub fn judge(w: &Workload) -> Option<Verdict> {
    let f = w.logging.as_ref()?;
    let s = &w.subject;
    let (message, evidence) = match (&f.value, w.kind) {
        (Logging::Unset, _) => (
            format!("{s} has no `logging:` (json-file keeps logs forever)"),
            None,
        ),
        (Logging::Driver { driver, max_size }, _) if driver != "json-file" || *max_size => {
            return None
        }
        (Logging::Driver { .. }, Kind::RunningContainer) => (
            "json-file logs have no max-size: they grow until the disk is full".into(),
            Some(f.written.clone()),
        ),
        (Logging::Driver { .. }, _) => (
            format!("{s}: json-file logging without options.max-size"),
            None,
        ),
    };
    Some(Verdict {
        rule: RuleId::LoggingUnbounded,
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
            RuleId::LoggingUnbounded,
            spec::compose("        max-size: \"10m\"\n", ""),
        );
    }

    #[test]
    fn catches_not() {
        spec::catches_not(RuleId::LoggingUnbounded, spec::hardened());
    }
}
