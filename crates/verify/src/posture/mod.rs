//! One posture model: the security settings of one workload, whatever it was read from
//! (a compose or Swarm service, a Kubernetes container, a running container), each with
//! the place it was read. Adapters (`compose`, `k8s`, `runtime`) build a [`Workload`];
//! rules written once over it (`rules::user_root`, `rules::privileged`) judge it and
//! return [`Verdict`]s, which each front end turns into findings at the verdict's place.
//!
//! Rule families move onto this model one at a time; the others still read their input
//! directly (see docs/architecture.md).

pub mod compose;
pub mod k8s;
pub mod runtime;

use crate::catalog::RuleId;
use crate::yaml::Pos;

/// What kind of input a workload was read from (rules phrase messages for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A service of the merged compose model (also a Swarm stack's service).
    ComposeService,
    /// A container of a Kubernetes workload's pod template.
    K8sContainer,
    /// A container the engine runs (`docker inspect`).
    RunningContainer,
}

/// Where a setting was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// A compose position (`pos.file` indexes the project's compose files).
    Compose(Pos),
    /// A position in a Kubernetes manifest (`file` indexes the project's files).
    Manifest { file: usize, pos: Pos },
    /// The running container as a whole (`container:<name>`, line 0).
    Container,
}

/// A setting with the place it was read and its text as written (never a resolved
/// secret: only security settings are modelled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field<T> {
    pub value: T,
    pub at: At,
    pub written: String,
}

impl<T> Field<T> {
    pub fn new(value: T, at: At, written: impl Into<String>) -> Self {
        Field {
            value,
            at,
            written: written.into(),
        }
    }
}

/// Which user the workload's process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum User {
    /// Set explicitly: compose `user:`, `runAsUser`, or the engine's `Config.User`
    /// (which already holds the image's `USER`), as written (`1000:1000`, `root`).
    Set(String),
    /// Not set: the image's `USER` decides (compose, Swarm); the Dockerfile rule judges it.
    FromImage,
    /// Not set anywhere: the engine runs the process as root (an empty `Config.User`).
    DefaultRoot,
    /// Not set and nothing forbids root (Kubernetes without `runAsNonRoot: true`).
    Unenforced,
    /// Kubernetes `runAsNonRoot: true`: the kubelet refuses to start a root process.
    NonRootEnforced,
}

/// The security posture of one workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    pub kind: Kind,
    /// How messages name it: `service web`, `Deployment/gw container app`, or empty for a
    /// running container (its findings are located at `container:<name>`).
    pub subject: String,
    pub user: Field<User>,
    /// `privileged: true` (compose, Kubernetes securityContext, `HostConfig.Privileged`);
    /// `None` when not set.
    pub privileged: Option<Field<bool>>,
}

/// One rule's judgement of a workload: a finding without severity (the catalog's, for
/// the static or the runtime scope) and without evidence text for static inputs (the
/// report shows the source line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub rule: RuleId,
    pub at: At,
    pub message: String,
    /// Runtime evidence (`User=0`); static findings show their source line instead.
    pub evidence: Option<String>,
}

/// `0`, `root`, `ROOT:0`: the user part names uid 0 (case-insensitively, as the
/// kernel's passwd lookup of `root` does not care how the file spelled the user).
pub fn is_root_user(user: &str) -> bool {
    let name = user.split(':').next().unwrap_or("").trim();
    name == "0" || name.eq_ignore_ascii_case("root")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_user_forms() {
        for root in ["0", "root", "Root", "ROOT:0", " 0:1000", "root:root"] {
            assert!(is_root_user(root), "{root}");
        }
        for user in ["1000", "1000:0", "rooty", "app", "", "00"] {
            assert!(!is_root_user(user), "{user}");
        }
    }
}
