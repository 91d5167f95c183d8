//! `image-unpinned`: a pulled image referenced by a rolling or missing tag instead of a
//! version or digest. One judgement for compose/Swarm services (an image a service of
//! the project builds is not pulled) and Kubernetes containers; a Dockerfile's `FROM` is
//! judged in `dockerfile_rules`.
//! Fixtures: `xtask/tests/fixtures/image-unpinned/`.

use crate::catalog::RuleId;
use crate::image_tags::unpinned;
use crate::posture::{Verdict, Workload};

pub fn judge(w: &Workload) -> Option<Verdict> {
    let image = w.image.as_ref()?;
    if image.value.builds || image.value.built_here {
        return None;
    }
    let why = unpinned(&image.value.reference)?;
    Some(Verdict {
        rule: RuleId::ImageUnpinned,
        at: image.at,
        message: format!("{}: image {}: {why}", w.subject, image.written),
        evidence: None,
        severity: None,
    })
}
