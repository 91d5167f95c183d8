//! `healthcheck-unknown` (note): a workload that defines no health check runs a pulled
//! image whose Dockerfile the project does not hold, so the image's own HEALTHCHECK is not
//! visible. One-shot jobs need none. Compose/Swarm services only: a running container
//! shows the image's check, Kubernetes probes are the container's own.
//! Fixtures: `xtask/tests/fixtures/healthcheck-unknown/`.

use crate::catalog::RuleId;
use crate::posture::{Health, Verdict, Workload};

pub fn judge(w: &Workload) -> Option<Verdict> {
    let image = w.image.as_ref()?;
    if w.healthcheck.value != Health::FromImage
        || w.one_shot
        || image.value.builds
        || image.value.dockerfile.is_some()
    {
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
