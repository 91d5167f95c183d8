//! Adapter: a running container (`docker inspect`) → [`Workload`]. The engine's values
//! are effective ones: `Config.User` already holds the image's `USER`.

use super::{At, Confinement, Field, Kind, Limits, Logging, User, Workload};
use crate::caps;
use crate::runtime::inspect::Container;

pub fn workload(c: &Container) -> Workload {
    let written = c.config.user.trim();
    let user = if written.is_empty() {
        User::DefaultRoot
    } else {
        User::Set(written.to_string())
    };
    let hc = &c.host_config;
    // `HostConfig.SecurityOpt`, normalised (`seccomp:unconfined` = `seccomp=unconfined`).
    let opts: Vec<String> = hc
        .security_opt
        .iter()
        .map(|o| o.replace(':', "=").to_ascii_lowercase())
        .collect();
    let opts_written = format!("{:?}", hc.security_opt);
    let nnp = opts
        .iter()
        .any(|o| o == "no-new-privileges" || o == "no-new-privileges=true");
    let confinement = |unconfined: &str| {
        let value = if opts.iter().any(|o| o == unconfined) {
            Confinement::Unconfined
        } else {
            Confinement::Default
        };
        Field::new(value, At::Container, unconfined)
    };
    let host_namespaces = [
        ("network", &hc.network_mode),
        ("pid", &hc.pid_mode),
        ("ipc", &hc.ipc_mode),
    ]
    .into_iter()
    .filter(|(_, mode)| *mode == "host")
    .map(|(ns, _)| Field::new(ns, At::Container, format!("{ns}=host")))
    .collect();
    let logging = hc.log_config.as_ref().map(|log| {
        Field::new(
            Logging::Driver {
                driver: log.kind.clone(),
                max_size: log.config.contains_key("max-size"),
            },
            At::Container,
            format!("LogConfig.Type={}", log.kind),
        )
    });
    Workload {
        logging,
        host_namespaces,
        limits: Field::new(
            Limits {
                cpus: hc.nano_cpus > 0 || hc.cpu_quota > 0,
                memory: hc.memory > 0,
            },
            At::Container,
            format!(
                "Memory={} NanoCpus={} CpuQuota={}",
                hc.memory, hc.nano_cpus, hc.cpu_quota
            ),
        ),
        pids_limit: Some(Field::new(
            hc.pids_limit.is_some_and(|p| p > 0),
            At::Container,
            format!(
                "PidsLimit={}",
                hc.pids_limit.map_or("null".into(), |p| p.to_string())
            ),
        )),
        read_only_rootfs: Field::new(
            Some(hc.readonly_rootfs),
            At::Container,
            hc.readonly_rootfs.to_string(),
        ),
        cap_drop_all: Field::new(
            hc.cap_drop.iter().any(|cap| caps::name(cap) == "ALL"),
            At::Container,
            format!("{:?}", hc.cap_drop),
        ),
        cap_add: hc
            .cap_add
            .iter()
            .map(|cap| Field::new(caps::name(cap), At::Container, cap.clone()))
            .collect(),
        no_new_privileges: Field::new(nnp, At::Container, opts_written),
        seccomp: confinement("seccomp=unconfined"),
        apparmor: confinement("apparmor=unconfined"),
        kind: Kind::RunningContainer,
        subject: String::new(),
        user: Field::new(user, At::Container, written),
        privileged: Some(Field::new(
            c.host_config.privileged,
            At::Container,
            c.host_config.privileged.to_string(),
        )),
    }
}
