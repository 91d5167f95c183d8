//! `user-root`: the workload's process runs as root (uid 0), or nothing stops it.
//! One judgement for compose/Swarm services, Kubernetes containers and running
//! containers, and a service's `build.dockerfile_inline`; a Dockerfile file's own `USER`
//! is judged in `dockerfile_rules`.
//! Fixtures: `crates/verify/tests/fixtures/user-root/`.

use crate::model::posture::{is_root_user, Kind, User, Verdict, Workload};
use crate::vocab::catalog::RuleId;

pub fn judge(w: &Workload) -> Option<Verdict> {
    let u = &w.user;
    let message = match (&u.value, w.kind) {
        (User::Set(spec), Kind::ComposeService | Kind::SwarmService) if is_root_user(spec) => {
            format!("{}: user {} is root", w.subject, u.written)
        }
        (User::Set(spec), Kind::K8sContainer) if is_root_user(spec) => {
            format!("{}: runAsUser is 0 (root)", w.subject)
        }
        (User::Set(spec), Kind::RunningContainer) if is_root_user(spec) => {
            format!("process runs as root (Config.User {})", u.written)
        }
        (User::DefaultRoot, _) => "process runs as root (Config.User (none: root))".into(),
        (User::Unenforced, _) => format!(
            "{}: neither runAsNonRoot: true nor a non-zero runAsUser; the image decides and may run as root",
            w.subject
        ),
        (User::FromImage, _) => return inline_dockerfile(w),
        _ => return None,
    };
    let evidence = (w.kind == Kind::RunningContainer).then(|| format!("User={}", u.written));
    Some(Verdict {
        rule: RuleId::UserRoot,
        at: u.at,
        message,
        evidence,
        severity: None,
    })
}

/// A service without `user:` whose image is built from its `build.dockerfile_inline`:
/// the inline Dockerfile's `USER` decides.
fn inline_dockerfile(w: &Workload) -> Option<Verdict> {
    let df = w.image.as_ref()?.value.dockerfile.as_ref()?;
    let at = df.inline?;
    let message = match &df.user {
        None => format!(
            "{}: its dockerfile_inline sets no USER, so it runs as root",
            w.subject
        ),
        Some(Some(u)) if is_root_user(u) => {
            format!(
                "{}: its dockerfile_inline sets USER {u}, which is root",
                w.subject
            )
        }
        _ => return None,
    };
    Some(Verdict {
        rule: RuleId::UserRoot,
        at,
        message,
        evidence: None,
        severity: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::posture::{At, Field};

    fn running(user: &str) -> Workload {
        let value = if user.is_empty() {
            User::DefaultRoot
        } else {
            User::Set(user.into())
        };
        Workload {
            user: Field::new(value, At::Container, user),
            ..Workload::hardened(Kind::RunningContainer, "", At::Container)
        }
    }

    /// Static and runtime agree on what root is: `Root`/`ROOT` count at runtime too
    /// (before, runtime compared case-sensitively and missed them).
    #[test]
    fn root_spellings_fire_at_runtime_as_statically() {
        for user in ["", "0", "0:0", "root", "Root", "ROOT:root"] {
            let v = judge(&running(user)).unwrap_or_else(|| panic!("{user:?}"));
            assert_eq!(v.rule, RuleId::UserRoot);
            assert_eq!(v.evidence.as_deref(), Some(format!("User={user}").as_str()));
        }
        for user in ["1000", "1000:1000", "clawdbot", "rooter"] {
            assert_eq!(judge(&running(user)), None, "{user}");
        }
    }

    #[test]
    fn unset_user_is_left_to_the_image_or_required_non_root() {
        let mut w = running("1000");
        w.kind = Kind::ComposeService;
        w.user.value = User::FromImage;
        assert_eq!(judge(&w), None);
        w.kind = Kind::K8sContainer;
        w.user.value = User::NonRootEnforced;
        assert_eq!(judge(&w), None);
        w.user.value = User::Unenforced;
        assert!(judge(&w).is_some());
    }
}

/// The rule's spec (`rules::spec`); whole-project cases are in `tests/fixtures/`.
#[cfg(test)]
mod spec {
    use crate::rules::spec;
    use crate::RuleId;

    #[test]
    fn catches() {
        spec::catches(
            RuleId::UserRoot,
            spec::compose("user: \"1000:1000\"", "user: \"0:0\""),
        );
    }

    #[test]
    fn catches_not() {
        spec::catches_not(
            RuleId::UserRoot,
            spec::compose("user: \"1000:1000\"", "user: \"1000\""),
        );
    }
}
