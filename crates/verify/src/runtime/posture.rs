//! Adapter: a running container (`docker inspect`) → [`Workload`] (the runtime side of
//! the posture model in `model::posture`). The engine's values
//! are effective ones: `Config.User` already holds the image's `USER`, and
//! `Config.Healthcheck` the image's `HEALTHCHECK`.

use std::collections::BTreeMap;

use crate::defaults;
use crate::model::posture::{
    At, Confinement, EnvVar, Field, Health, Kind, Limits, Logging, Mount, Networks, Port, User,
    Workload,
};
use crate::runtime::config::{Profile, RuntimeConfig};
use crate::runtime::inspect::{Container, Network};
use crate::vocab::caps;

/// Where Docker secrets are mounted in a container.
const SECRETS_DIR: &str = "/run/secrets";

/// `networks` maps network name to its inspect entry; `cfg` is what the deployment
/// expects (profile, consent to public binds, secrets mode, key variable names).
pub fn workload(
    c: &Container,
    networks: &BTreeMap<String, Network>,
    cfg: &RuntimeConfig,
) -> Workload {
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
    let ports = c
        .published()
        .into_iter()
        .map(|(port, b)| {
            let value = Port {
                host_ip: b.host_ip.clone(),
                host_ip_written: Some(b.host_ip.clone()),
                published: Some(b.host_port.clone()),
                target: port,
                long: false,
            };
            Field::new(value, At::Container, "")
        })
        .collect();
    let names = c.network_names();
    let declared = hc.port_bindings.values().flatten().any(|v| !v.is_empty());
    let mounts = c
        .mounts
        .iter()
        .filter(|m| m.kind == "bind")
        .map(|m| {
            let mount = Mount {
                source: m.source.clone(),
                target: m.destination.clone(),
                read_only: !m.rw,
            };
            let rw = if m.rw { "rw" } else { "ro" };
            Field::new(
                mount,
                At::Container,
                format!("{}:{}:{rw}", m.source, m.destination),
            )
        })
        .collect();
    let networks = Networks {
        default_bridge: matches!(hc.network_mode.as_str(), "default" | "bridge"),
        project_default: false,
        sharing: 0,
        joined: names
            .iter()
            .map(|n| (n.clone(), networks.get(n).is_some_and(|net| net.internal)))
            .collect(),
        // The egress proxy service is the isolated profile's one deliberate way out.
        internal_required: cfg.profile == Profile::Isolated
            && c.service() != Some(cfg.egress_service_name.as_str()),
    };
    let test = c
        .config
        .healthcheck
        .as_ref()
        .map(|h| h.test.as_slice())
        .unwrap_or(&[]);
    // The engine only reports a health status once a container with a check has started.
    let health = match (test.first().map(String::as_str), &c.state.health) {
        (Some("NONE"), _) => Health::Disabled,
        (None, None) => Health::Absent,
        _ => Health::Defined,
    };
    let env = c
        .config
        .env
        .iter()
        .filter_map(|e| e.split_once('='))
        .map(|(k, v)| {
            let var = EnvVar {
                key: k.to_string(),
                value: v.to_string(),
                env_file: None,
            };
            Field::new(var, At::Container, "")
        })
        .collect();
    let mut key_vars = cfg.provider_key_vars.clone();
    key_vars.push(cfg.token_var.clone());
    key_vars.extend(defaults::TOKEN_VARS.iter().map(|v| v.to_string()));
    Workload {
        at: At::Container,
        ports,
        publishes: Field::new(declared, At::Container, ""),
        publish_all_ports: hc.publish_all_ports,
        public_bind_allowed: cfg.allow_public_bind,
        mounts,
        networks: Some(Field::new(networks, At::Container, hc.network_mode.clone())),
        healthcheck: Field::new(health, At::Container, ""),
        one_shot: false,
        env,
        uses_secrets: uses_secrets(c, cfg),
        key_vars,
        image: None,
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

/// True when the container is configured for Docker secrets: a mount at or below
/// `/run/secrets`, a `*_FILE` variable pointing there, or the `secrets` setting.
pub fn uses_secrets(c: &Container, cfg: &RuntimeConfig) -> bool {
    let under = |p: &str| p == SECRETS_DIR || p.starts_with(&format!("{SECRETS_DIR}/"));
    cfg.secrets
        || c.mounts
            .iter()
            .any(|m| under(m.destination.trim_end_matches('/')))
        || c.config.env.iter().any(|e| {
            e.split_once('=')
                .is_some_and(|(k, v)| k.ends_with("_FILE") && under(v))
        })
}
