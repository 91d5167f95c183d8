//! `user-unknown` (note): a compose/Swarm service runs a pulled image, sets no `user:`,
//! and no Dockerfile of the project (nor the settings' image) builds it: which user it
//! runs as is unknown, never "non-root".
//! Fixtures: `xtask/tests/fixtures/user-unknown/`.

use crate::catalog::RuleId;
use crate::posture::{Kind, User, Verdict, Workload};

pub fn judge(w: &Workload) -> Option<Verdict> {
    let image = w.image.as_ref()?;
    let compose = matches!(w.kind, Kind::ComposeService | Kind::SwarmService);
    if !compose
        || w.user.value != User::FromImage
        || image.value.builds
        || image.value.dockerfile.is_some()
    {
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
