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
use crate::Severity;

/// What kind of input a workload was read from (rules phrase messages for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A service of the merged compose model.
    ComposeService,
    /// A service of a Swarm stack file (`docker stack deploy` ignores some keys).
    SwarmService,
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
    /// `no-new-privileges` is on (`security_opt`, `allowPrivilegeEscalation: false`,
    /// `HostConfig.SecurityOpt`); placed where it is or would be written.
    pub no_new_privileges: Field<bool>,
    pub seccomp: Field<Confinement>,
    pub apparmor: Field<Confinement>,
    /// The root filesystem is read-only: `Some(true)`, set otherwise: `Some(false)`,
    /// not set: `None` (writable).
    pub read_only_rootfs: Field<Option<bool>>,
    /// `ALL` is among the dropped capabilities; placed at the drop list (or where it
    /// would be written).
    pub cap_drop_all: Field<bool>,
    /// Added capabilities, normalised (`SYS_ADMIN`), each where it is written.
    pub cap_add: Vec<Field<String>>,
    /// Which of the cpu and memory limits are set; placed where a missing one is reported.
    pub limits: Field<Limits>,
    /// A pids limit is set; `None` where the input has no per-workload pids limit
    /// (Kubernetes containers).
    pub pids_limit: Option<Field<bool>>,
    /// Namespaces shared with the host (`network`, `pid`, `ipc`, `uts`), each where it is
    /// set (`network_mode: host`, `HostConfig.PidMode`, ...). Kubernetes shares them per
    /// pod (`hostNetwork`, ...), judged once per pod in `k8s_rules`.
    pub host_namespaces: Vec<Field<&'static str>>,
    /// The container log setup; `None` where the input does not set it (Kubernetes:
    /// the node rotates logs; a running container the engine reports no LogConfig for).
    pub logging: Option<Field<Logging>>,
}

/// How container logs are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Logging {
    /// No `logging:` at all: the engine default, json-file without rotation.
    Unset,
    /// A driver, and whether it has a `max-size` option.
    Driver { driver: String, max_size: bool },
}

/// Resource limits that are set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub cpus: bool,
    pub memory: bool,
}

/// A seccomp or AppArmor setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confinement {
    /// The engine's default profile (nothing says otherwise).
    Default,
    /// Explicitly disabled (`seccomp:unconfined`, `type: Unconfined`).
    Unconfined,
    /// A named or runtime-default profile (Kubernetes `type: RuntimeDefault`, ...).
    Profile(String),
    /// Not set where the default is no confinement (a Kubernetes pod without
    /// `seccompProfile` runs Unconfined unless the kubelet enables SeccompDefault).
    Unset,
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
    /// A severity other than the catalog's, where the catalog documents why
    /// (`caps-added`: error for dangerous capabilities, else warning).
    pub severity: Option<Severity>,
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
    use crate::interp::Env;
    use crate::runtime::inspect::tests::sample;

    /// The same settings written in a compose file and applied to a running container
    /// give the same rule ids: the rules are the same functions.
    #[test]
    fn static_and_runtime_agree_by_construction() {
        struct Case {
            compose: &'static str,
            user: &'static str,
            privileged: bool,
            opts: &'static [&'static str],
            read_only: bool,
            cap_drop: &'static [&'static str],
            cap_add: &'static [&'static str],
            /// cpu, memory and pids limits set (both ways) or none.
            limits: bool,
            /// network, pid and ipc namespaces shared with the host.
            host_ns: bool,
        }
        const HARD: Case = Case {
            compose: "user: \"1000:1000\"\n    read_only: true\n    cap_drop: [ALL]\n    security_opt: [\"no-new-privileges:true\"]",
            user: "1000:1000",
            privileged: false,
            opts: &["no-new-privileges:true"],
            read_only: true,
            cap_drop: &["ALL"],
            cap_add: &[],
            limits: true,
            host_ns: false,
        };
        let cases = [
            HARD,
            Case {
                compose: "user: Root\n    read_only: true\n    cap_drop: [all]\n    security_opt: [\"no-new-privileges=true\"]",
                user: "Root",
                opts: &["no-new-privileges=true"],
                cap_drop: &["all"],
                ..HARD
            },
            Case {
                compose: "user: \"0\"\n    privileged: true\n    cap_add: [SYS_ADMIN, chown]",
                user: "0",
                privileged: true,
                opts: &[],
                read_only: false,
                cap_drop: &[],
                cap_add: &["CAP_SYS_ADMIN", "CHOWN"],
                limits: false,
                host_ns: true,
            },
            Case {
                compose: "user: app\n    read_only: true\n    cap_drop: [ALL]\n    security_opt: [\"seccomp=unconfined\", \"apparmor:unconfined\", no-new-privileges]",
                user: "app",
                opts: &["seccomp:unconfined", "apparmor=unconfined", "no-new-privileges"],
                ..HARD
            },
        ];
        let mut seen = Vec::new();
        for case in &cases {
            let host_ns = if case.host_ns {
                "\n    network_mode: host\n    pid: host\n    ipc: host"
            } else {
                ""
            };
            // With limits also bounded logs; without, json-file logs with no max-size.
            let limits = if case.limits {
                "\n    cpus: \"1.5\"\n    mem_limit: 1g\n    pids_limit: 100\n    logging: {driver: json-file, options: {max-size: 10m}}"
            } else {
                "\n    logging: {driver: json-file}"
            };
            let text = format!(
                "services:\n  app:\n    image: x:1\n    {}{limits}{host_ns}\n",
                case.compose
            );
            let node = crate::compose::parse_file(&text, 0, &Env::default()).unwrap();
            let compose = crate::compose::model(&node);
            let stat = compose::workload(&compose.services[0], false);
            let mut c = sample("hardened");
            c.config.user = case.user.to_string();
            let hc = &mut c.host_config;
            hc.privileged = case.privileged;
            hc.security_opt = case.opts.iter().map(|o| o.to_string()).collect();
            hc.readonly_rootfs = case.read_only;
            hc.cap_drop = case.cap_drop.iter().map(|o| o.to_string()).collect();
            hc.cap_add = case.cap_add.iter().map(|o| o.to_string()).collect();
            if case.host_ns {
                for mode in [&mut hc.network_mode, &mut hc.pid_mode, &mut hc.ipc_mode] {
                    *mode = "host".into();
                }
            }
            if !case.limits {
                (hc.memory, hc.nano_cpus, hc.cpu_quota, hc.pids_limit) = (0, 0, 0, None);
                let log = hc.log_config.as_mut().expect("the sample has a LogConfig");
                log.config.remove("max-size");
            }
            let run = runtime::workload(&c);
            let ids = |w: &Workload| -> Vec<(RuleId, Option<Severity>)> {
                crate::rules::judge_workload(w)
                    .iter()
                    .map(|v| (v.rule, v.severity))
                    .collect()
            };
            assert_eq!(ids(&stat), ids(&run), "{}", case.compose);
            assert_eq!(stat.user.value, run.user.value, "{}", case.compose);
            seen.extend(ids(&run).into_iter().map(|(id, _)| id));
        }
        for id in [
            RuleId::UserRoot,
            RuleId::Privileged,
            RuleId::RootfsWritable,
            RuleId::CapsNotDropped,
            RuleId::CapsAdded,
            RuleId::NoNewPrivilegesMissing,
            RuleId::SeccompUnconfined,
            RuleId::ApparmorUnconfined,
            RuleId::LimitsMissing,
            RuleId::PidsLimitMissing,
            RuleId::NetworkHost,
            RuleId::LoggingUnbounded,
        ] {
            assert!(seen.contains(&id), "{id} never fired");
        }
    }

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
