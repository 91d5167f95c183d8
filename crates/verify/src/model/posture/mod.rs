//! One posture model: the security settings of one workload, whatever it was read from
//! (a compose or Swarm service, a Kubernetes container, a running container), each with
//! the place it was read. Adapters (`compose`, `k8s` here, `runtime::posture` for running
//! containers) build a [`Workload`];
//! rules written once over it (`rules::user_root`, `rules::privileged`) judge it and
//! return [`Verdict`]s, which each front end turns into findings at the verdict's place.
//!
//! Every per-workload rule is written over this model; project-level rules (env files,
//! ignore files, Dockerfiles, the secret scan of files) read their files directly (see
//! docs/architecture.md).

pub mod compose;
pub mod k8s;

use crate::input::yaml::Pos;
use crate::vocab::catalog::RuleId;
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
    /// A Kubernetes pod spec as a whole: what the pod shares with the node (host
    /// namespaces, `hostPath` volumes); judged by [`crate::rules::judge_pod`].
    K8sPod,
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
    /// Where the workload is defined (a compose service's name, a container's entry).
    pub at: At,
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
    /// Published ports, each where it is written (running container: the engine's
    /// bindings, one per host address).
    pub ports: Vec<Field<Port>>,
    /// Ports are requested at all (compose `ports:`, `HostConfig.PortBindings`), placed
    /// at the `ports:` key; `value: false` when none are.
    pub publishes: Field<bool>,
    /// Every exposed port is published on all interfaces (`PublishAllPorts`).
    pub publish_all_ports: bool,
    /// Publishing beyond loopback was consented to (the `allow_public_bind` setting, which
    /// runtime verify reads): such ports are warnings, not errors.
    pub public_bind_allowed: bool,
    /// Host paths mounted into the workload (bind mounts, `hostPath` volumes).
    pub mounts: Vec<Field<Mount>>,
    /// The networks it joins; `None` where networks are not per workload (Kubernetes).
    pub networks: Option<Field<Networks>>,
    /// Its health check; placed where it is written (else at the workload).
    pub healthcheck: Field<Health>,
    /// It runs to completion (a job, a tool run on demand) and needs no health check.
    pub one_shot: bool,
    /// Environment entries with the place each is written (never printed: rules show
    /// the key, and at runtime a masked value as evidence).
    pub env: Vec<Field<EnvVar>>,
    /// It reads secrets from files (`/run/secrets`): compose `secrets:`, a mount there, a
    /// `*_FILE` variable pointing there, or the `secrets` setting.
    pub uses_secrets: bool,
    /// Variable names that carry a key or token besides the generic credential names
    /// (the settings' token and provider-key variables at runtime).
    pub key_vars: Vec<String>,
    /// The image and what the project knows of it; `None` where the input names none
    /// that is judged here (a running container's image is the resolved one).
    pub image: Option<Field<Image>>,
}

impl Workload {
    /// A workload of `kind` with nothing to report: every setting hardened, nothing
    /// published or mounted, placed at `at`. Adapters and tests start from it.
    pub fn hardened(kind: Kind, subject: impl Into<String>, at: At) -> Workload {
        Workload {
            kind,
            subject: subject.into(),
            at,
            user: Field::new(User::FromImage, at, ""),
            privileged: None,
            no_new_privileges: Field::new(true, at, ""),
            seccomp: Field::new(Confinement::Default, at, ""),
            apparmor: Field::new(Confinement::Default, at, ""),
            read_only_rootfs: Field::new(Some(true), at, ""),
            cap_drop_all: Field::new(true, at, ""),
            cap_add: Vec::new(),
            limits: Field::new(
                Limits {
                    cpus: true,
                    memory: true,
                },
                at,
                "",
            ),
            pids_limit: None,
            host_namespaces: Vec::new(),
            logging: None,
            ports: Vec::new(),
            publishes: Field::new(false, at, ""),
            publish_all_ports: false,
            public_bind_allowed: false,
            mounts: Vec::new(),
            networks: None,
            healthcheck: Field::new(Health::Defined, at, ""),
            one_shot: false,
            env: Vec::new(),
            uses_secrets: false,
            key_vars: Vec::new(),
            image: None,
        }
    }
}

/// A published port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    /// Host address as resolved; empty: every interface.
    pub host_ip: String,
    /// Host address as written; `None` when not written.
    pub host_ip_written: Option<String>,
    /// Host port as written; `None`: a random port.
    pub published: Option<String>,
    /// Container port (`80/tcp`); empty where the input does not say.
    pub target: String,
    /// Compose long syntax (`target:`, `published:`); the short syntax is the field's
    /// `written` text.
    pub long: bool,
}

/// A host path mounted into the workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The host path as written or reported; empty when it interpolated to nothing (an
    /// unset variable).
    pub source: String,
    /// Where it is mounted (running containers; empty where not read).
    pub target: String,
    pub read_only: bool,
}

/// The networks a workload joins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Networks {
    /// On the engine's default bridge, shared with every container on the host
    /// (`network_mode: bridge`, `NetworkMode=default|bridge`).
    pub default_bridge: bool,
    /// Joins the project's default network (no `networks:`, or `default` listed).
    pub project_default: bool,
    /// Other workloads of the project on its default network.
    pub sharing: usize,
    /// The networks it names (compose `networks:`, the engine's endpoints), each with
    /// whether it is `internal`.
    pub joined: Vec<(String, bool)>,
    /// The deployment wants only internal networks here (runtime: profile `isolated`,
    /// any service but the egress proxy).
    pub internal_required: bool,
}

/// A workload's health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// A check is defined (compose `test`, probes, `Config.Healthcheck`, a health status).
    Defined,
    /// Disabled explicitly (`disable: true`, `test: NONE`).
    Disabled,
    /// The workload defines none: the image's HEALTHCHECK decides ([`Workload::image`]).
    FromImage,
    /// Kubernetes: these probes are missing.
    MissingProbes(Vec<&'static str>),
    /// Nothing defines one (a running container: the image's is already merged in).
    Absent,
}

/// One environment entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVar {
    pub key: String,
    /// The value as resolved; never printed in clear.
    pub value: String,
    /// The env file it is read from, as written; `None`: the workload's own environment.
    pub env_file: Option<String>,
}

/// The image a workload runs and what the project knows of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// The reference as resolved (`name:tag`); empty when only `build:` names it.
    pub reference: String,
    /// This workload builds it (`build:`).
    pub builds: bool,
    /// A workload of the project builds it (this one or another with the same `image:`).
    pub built_here: bool,
    /// The Dockerfile it is built from, when the project holds it.
    pub dockerfile: Option<ImageFacts>,
}

impl Image {
    /// Pulled and unseen: this workload does not build it and no Dockerfile of the
    /// project does, so what the image itself sets (USER, HEALTHCHECK) is unknown.
    pub fn is_opaque(&self) -> bool {
        !self.builds && self.dockerfile.is_none()
    }
}

/// What the Dockerfile an image is built from sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFacts {
    /// The effective `USER` of the built stage: `None` when never set, `Some(None)` when
    /// set but not resolvable.
    pub user: Option<Option<String>>,
    /// The built stage has a HEALTHCHECK (not `NONE`).
    pub healthcheck: bool,
    /// `build.target`, the stage built.
    pub stage: Option<String>,
    /// Why this Dockerfile when the service does not build the image itself (see
    /// `ImageSource::via`): `which service web builds`, or how the root Dockerfile links.
    pub via: Option<String>,
    /// Written inline (`build.dockerfile_inline`), at that key.
    pub inline: Option<At>,
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
    use crate::input::interp::Env;
    use crate::runtime::inspect::tests::sample;

    /// The workload of a compose file's first service, read without a project.
    fn static_workload(text: &str) -> Workload {
        let node = crate::input::compose::parse_file(text, 0, &Env::default()).unwrap();
        let compose = crate::input::compose::model(&node);
        let cx = compose::Context {
            compose: &compose,
            project: None,
            swarm: false,
        };
        compose::workload(&compose.services[0], &cx)
    }

    /// The rule ids and severities the rules give a workload, in id order.
    fn judged(w: &Workload) -> Vec<(RuleId, Option<Severity>)> {
        let mut v: Vec<_> = crate::rules::judge_workload(w)
            .iter()
            .map(|v| (v.rule, v.severity))
            .collect();
        v.sort();
        v
    }

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
                "services:\n  app:\n    image: x:1\n    healthcheck: {{test: [CMD, \"true\"]}}\n    {}{limits}{host_ns}\n",
                case.compose
            );
            let stat = static_workload(&text);
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
            let run =
                crate::runtime::posture::workload(&c, &Default::default(), &Default::default());
            assert_eq!(judged(&stat), judged(&run), "{}", case.compose);
            assert_eq!(stat.user.value, run.user.value, "{}", case.compose);
            seen.extend(judged(&run).into_iter().map(|(id, _)| id));
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

    /// The ports, mounts, networks, health and environment rules: the same settings
    /// written in a compose file and applied to a running container give the same rule
    /// ids and severities.
    #[test]
    fn ports_mounts_networks_health_and_env_agree_by_construction() {
        use crate::runtime::inspect::{
            Container, Endpoint, Healthcheck, Mount as RtMount, Network, PortBinding,
        };
        use std::collections::BTreeMap;
        struct Case {
            /// Extra service keys, `healthcheck:` and `networks:` of the compose service.
            compose: &'static str,
            healthcheck: &'static str,
            networks: &'static str,
            runtime: fn(&mut Container),
            expect: &'static [RuleId],
        }
        fn bind(ip: &str, port: &str) -> Option<Vec<PortBinding>> {
            Some(vec![PortBinding {
                host_ip: ip.into(),
                host_port: port.into(),
            }])
        }
        fn mount(src: &str, dst: &str, rw: bool) -> RtMount {
            RtMount {
                kind: "bind".into(),
                source: src.into(),
                destination: dst.into(),
                rw,
                ..RtMount::default()
            }
        }
        fn on(c: &mut Container, net: &str) {
            c.host_config.network_mode = net.into();
            c.network_settings.networks = [(net.to_string(), Endpoint::default())].into();
        }
        const CHECK: &str = "{test: [\"CMD\", \"true\"]}";
        let cases = [
            Case {
                compose: "",
                healthcheck: CHECK,
                networks: "[net]",
                runtime: |_| {},
                expect: &[],
            },
            Case {
                compose: "ports: [\"8080:8080\", \"127.0.0.1:9090:9090\"]",
                healthcheck: CHECK,
                networks: "[net]",
                runtime: |c| {
                    for map in [
                        &mut c.host_config.port_bindings,
                        &mut c.network_settings.ports,
                    ] {
                        map.insert("8080/tcp".into(), bind("0.0.0.0", "8080"));
                        map.insert("9090/tcp".into(), bind("127.0.0.1", "9090"));
                    }
                },
                expect: &[RuleId::PortNotLoopback],
            },
            Case {
                compose: "volumes: [\"/var/run/docker.sock:/var/run/docker.sock\", \"/etc:/host/etc:ro\", \"/srv/data:/data\", \"/srv/conf:/conf:ro\", \"/etc/localtime:/etc/localtime:ro\", \"cache:/cache\"]",
                healthcheck: CHECK,
                networks: "[net]",
                runtime: |c| {
                    c.mounts = vec![
                        mount("/var/run/docker.sock", "/var/run/docker.sock", true),
                        mount("/etc", "/host/etc", false),
                        mount("/srv/data", "/data", true),
                        mount("/srv/conf", "/conf", false),
                        mount("/etc/localtime", "/etc/localtime", false),
                        RtMount {
                            kind: "volume".into(),
                            source: "/var/lib/docker/volumes/cache/_data".into(),
                            destination: "/cache".into(),
                            rw: true,
                            ..RtMount::default()
                        },
                    ];
                },
                expect: &[
                    RuleId::SensitiveVolume,
                    RuleId::SensitiveVolume,
                    RuleId::SensitiveVolume,
                ],
            },
            Case {
                compose: "",
                healthcheck: "{disable: true}",
                networks: "[net]",
                runtime: |c| {
                    c.config.healthcheck = Some(Healthcheck {
                        test: vec!["NONE".into()],
                    });
                },
                expect: &[RuleId::HealthcheckMissing],
            },
            Case {
                compose: "network_mode: bridge",
                healthcheck: CHECK,
                networks: "",
                runtime: |c| on(c, "bridge"),
                expect: &[RuleId::NetworkNotIsolated],
            },
            Case {
                compose: "ports: [\"127.0.0.1:8080:8080\"]",
                healthcheck: CHECK,
                networks: "[inner]",
                runtime: |c| {
                    on(c, "inner");
                    // The engine drops the binding: declared, not in effect.
                    let b = bind("127.0.0.1", "8080");
                    c.host_config.port_bindings.insert("8080/tcp".into(), b);
                },
                expect: &[RuleId::PortsOnInternalNetwork],
            },
            Case {
                compose: "secrets: [tok]\n    environment: {CLAWDBOT_GATEWAY_TOKEN: Xq9Lr2Tz8Wk4Np6Vb3Mj7Hs5, OPENAI_API_KEY: sk-your-key-here, RUST_LOG: info}",
                healthcheck: CHECK,
                networks: "[net]",
                runtime: |c| {
                    c.mounts = vec![mount("/srv/tok", "/run/secrets/tok", false)];
                    c.config.env = [
                        "CLAWDBOT_GATEWAY_TOKEN=Xq9Lr2Tz8Wk4Np6Vb3Mj7Hs5",
                        "OPENAI_API_KEY=sk-your-key-here",
                        "RUST_LOG=info",
                    ]
                    .map(String::from)
                    .to_vec();
                },
                expect: &[RuleId::SecretInEnvironment],
            },
        ];
        let networks: BTreeMap<String, Network> = [("net", false), ("inner", true)]
            .into_iter()
            .map(|(name, internal)| {
                let net = Network {
                    name: name.into(),
                    internal,
                    ..Network::default()
                };
                (name.to_string(), net)
            })
            .collect();
        for case in &cases {
            let networks_key = if case.networks.is_empty() {
                String::new()
            } else {
                format!("\n    networks: {}", case.networks)
            };
            let text = format!(
                "services:\n  app:\n    image: x:1\n    user: \"1000:1000\"\n    read_only: true\n    cap_drop: [ALL]\n    security_opt: [\"no-new-privileges:true\"]\n    cpus: \"1\"\n    mem_limit: 1g\n    pids_limit: 100\n    logging: {{driver: json-file, options: {{max-size: 10m}}}}\n    healthcheck: {}{networks_key}\n    {}\nnetworks:\n  net: {{}}\n  inner: {{internal: true}}\nsecrets:\n  tok: {{file: ./tok}}\n",
                case.healthcheck, case.compose
            );
            let stat = static_workload(&text);
            let mut c = sample("hardened");
            on(&mut c, "net");
            c.host_config.port_bindings.clear();
            c.network_settings.ports.clear();
            c.config.env.clear();
            (case.runtime)(&mut c);
            let run = crate::runtime::posture::workload(&c, &networks, &Default::default());
            assert_eq!(judged(&stat), judged(&run), "{}", case.compose);
            let got: Vec<RuleId> = judged(&run).into_iter().map(|(id, _)| id).collect();
            assert_eq!(got, case.expect, "{}", case.compose);
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
