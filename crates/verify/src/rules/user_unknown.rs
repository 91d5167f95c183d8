//! `user-unknown` (note): a compose/Swarm service runs a pulled image, sets no `user:`,
//! and no Dockerfile of the project (nor the settings' image) builds it: which user it
//! runs as is unknown, never "non-root".
//! Fixtures: `crates/verify/tests/fixtures/user-unknown/`.

use crate::model::posture::{Kind, User, Verdict, Workload};
use crate::vocab::catalog::RuleId;

pub fn judge(w: &Workload) -> Option<Verdict> {
    let image = w.image.as_ref()?;
    let compose = matches!(w.kind, Kind::ComposeService | Kind::SwarmService);
    if !compose || w.user.value != User::FromImage || !image.value.is_opaque() {
        return None;
    }
    Some(Verdict {
        rule: RuleId::UserUnknown,
        at: w.at,
        message: format!(
            "{}: image {} is pulled and nothing says which user it runs as (no `user:`, no Dockerfile in the project builds it); set `user: \"1000:1000\"`",
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
            RuleId::UserUnknown,
            spec::compose(
                "    image: clawdbot:0.1.0\n    build: .\n",
                "    image: example/app:1.2.3\n",
            )
            .edit("docker-compose.yml", "    user: \"1000:1000\"\n", ""),
        );
    }

    #[test]
    fn catches_not() {
        spec::catches_not(
            RuleId::UserUnknown,
            spec::compose(
                "    image: clawdbot:0.1.0\n    build: .\n",
                "    image: example/app:1.2.3\n",
            ),
        );
    }
}
