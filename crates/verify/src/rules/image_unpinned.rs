//! `image-unpinned`: a pulled image referenced by a rolling or missing tag instead of a
//! version or digest. One judgement for compose/Swarm services (an image a service of
//! the project builds is not pulled) and Kubernetes containers; a Dockerfile's `FROM` is
//! judged in `dockerfile_rules`.
//! Fixtures: `crates/verify/tests/fixtures/image-unpinned/`.

use crate::model::posture::{Verdict, Workload};
use crate::vocab::catalog::RuleId;
use crate::vocab::image_tags::unpinned;

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

/// The rule's spec (`rules::spec`); whole-project cases are in `tests/fixtures/`.
#[cfg(test)]
mod spec {
    use crate::rules::spec;
    use crate::RuleId;

    #[test]
    fn catches() {
        spec::catches(
            RuleId::ImageUnpinned,
            spec::compose(
                "    image: clawdbot:0.1.0\n    build: .\n",
                "    image: example/app:latest\n",
            ),
        );
    }

    #[test]
    fn catches_not() {
        spec::catches_not(
            RuleId::ImageUnpinned,
            spec::compose(
                "    image: clawdbot:0.1.0\n    build: .\n",
                "    image: example/app:1.2.3\n",
            ),
        );
    }
}
