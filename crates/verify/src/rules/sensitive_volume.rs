//! `sensitive-volume`: a host path mounted into the workload: the engine socket, a
//! sensitive path (`/`, `/etc`, `/proc`, ...) read-only or not, or any host path writable
//! (a warning). Read-only time and locale files are fine. One judgement for compose/Swarm
//! bind mounts, Kubernetes `hostPath` volumes (per pod) and a running container's binds.
//! A bind whose source is an unset variable is `compose-not-evaluated` instead.
//! Fixtures: `crates/verify/tests/fixtures/sensitive-volume/`.

use crate::model::posture::{Kind, Verdict, Workload};
use crate::vocab::catalog::RuleId;
use crate::vocab::host_paths;
use crate::Severity;

pub fn judge(w: &Workload) -> Vec<Verdict> {
    let mut out = Vec::new();
    for m in &w.mounts {
        let mount = &m.value;
        if mount.source.is_empty() {
            continue;
        }
        let path = host_paths::normalize(&mount.source);
        let ro = mount.read_only;
        if ro && host_paths::is_benign_readonly(path) {
            continue;
        }
        let mode = if ro { "read-only" } else { "writable" };
        let src = &mount.source;
        let (message, severity) = if host_paths::is_engine_socket(path) {
            let message = match w.kind {
                Kind::RunningContainer => {
                    format!("engine socket {src} is mounted: the container controls the host")
                }
                Kind::K8sPod => format!(
                    "{} mounts the container runtime socket {path}: full control of the node",
                    w.subject
                ),
                _ => format!(
                    "{} mounts the Docker socket {path} ({mode}): full control of the host",
                    w.subject
                ),
            };
            (message, None)
        } else if host_paths::is_sensitive(path) {
            let message = match w.kind {
                Kind::RunningContainer => format!("sensitive host path {src} is mounted {mode}"),
                Kind::K8sPod => {
                    format!("{} mounts sensitive node path {path} (hostPath)", w.subject)
                }
                _ => format!("{} mounts sensitive host path {path} ({mode})", w.subject),
            };
            (message, None)
        } else if !ro {
            let message = match w.kind {
                Kind::RunningContainer => format!(
                    "host path {src} is mounted writable at {}",
                    mount.target
                ),
                Kind::K8sPod => format!("{} mounts node path {path} (hostPath); use an emptyDir, a ConfigMap or a PersistentVolumeClaim", w.subject),
                _ => format!("{} mounts host path {path} writable (add :ro)", w.subject),
            };
            (message, Some(Severity::Warning))
        } else {
            continue;
        };
        out.push(Verdict {
            rule: RuleId::SensitiveVolume,
            at: m.at,
            message,
            evidence: (w.kind == Kind::RunningContainer).then(|| m.written.clone()),
            severity,
        });
    }
    out
}

/// The rule's spec (`rules::spec`); whole-project cases are in `tests/fixtures/`.
#[cfg(test)]
mod spec {
    use crate::rules::spec;
    use crate::RuleId;

    #[test]
    fn catches() {
        spec::catches(RuleId::SensitiveVolume, spec::compose("    read_only: true\n", "    read_only: true\n    volumes:\n      - /var/run/docker.sock:/var/run/docker.sock\n"));
    }

    #[test]
    fn catches_not() {
        spec::catches_not(
            RuleId::SensitiveVolume,
            spec::compose(
                "    read_only: true\n",
                "    read_only: true\n    volumes:\n      - ./config:/config:ro\n",
            ),
        );
    }
}
