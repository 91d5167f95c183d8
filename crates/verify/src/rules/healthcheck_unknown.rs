//! `healthcheck-unknown` (note): a workload that defines no health check runs a pulled
//! image whose Dockerfile the project does not hold, so the image's own HEALTHCHECK is not
//! visible. One-shot jobs need none. Compose/Swarm services only: a running container
//! shows the image's check, Kubernetes probes are the container's own.
//! Fixtures: `crates/verify/tests/fixtures/healthcheck-unknown/`.

use crate::model::posture::{Health, Verdict, Workload};
use crate::vocab::catalog::RuleId;

pub fn judge(w: &Workload) -> Option<Verdict> {
    let image = w.image.as_ref()?;
    if w.healthcheck.value != Health::FromImage || w.one_shot || !image.value.is_opaque() {
        return None;
    }
    Some(Verdict {
        rule: RuleId::HealthcheckUnknown,
        at: w.at,
        message: format!(
            "{}: compose defines no healthcheck and the pulled image {} is not built here, so its own HEALTHCHECK is not visible",
            w.subject, image.written
        ),
        evidence: None,
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
            RuleId::HealthcheckUnknown,
            spec::compose(
                "    image: clawdbot:0.1.0\n    build: .\n",
                "    image: example/app:1.2.3\n",
            )
            .edit(
                "docker-compose.yml",
                "    healthcheck:\n",
                "    x-healthcheck:\n",
            ),
        );
    }

    #[test]
    fn catches_not() {
        spec::catches_not(
            RuleId::HealthcheckUnknown,
            spec::compose(
                "    image: clawdbot:0.1.0\n    build: .\n",
                "    image: example/app:1.2.3\n",
            ),
        );
    }
}
