//! Adapter: a service of the merged compose model (or a Swarm stack's) → [`Workload`].

use super::{At, Confinement, Field, Kind, Limits, Logging, User, Workload};
use crate::caps;
use crate::compose::Service;
use crate::yaml::Node;

fn text(n: &Node) -> String {
    n.scalar().unwrap_or_default()
}

/// The text as written in the file (interpolation references, never resolved values).
fn shown(n: &Node) -> String {
    n.raw_str()
        .map(str::to_owned)
        .or_else(|| n.scalar())
        .unwrap_or_default()
}

/// `swarm`: the service is read from a Swarm stack file.
pub fn workload(s: &Service, swarm: bool) -> Workload {
    let user = match s.get("user") {
        // An empty `user:` (e.g. an unset variable) keeps the image's USER.
        Some(u) if !text(u).trim().is_empty() => {
            Field::new(User::Set(text(u)), At::Compose(u.pos), shown(u))
        }
        Some(u) => Field::new(User::FromImage, At::Compose(u.pos), shown(u)),
        None => Field::new(User::FromImage, At::Compose(s.pos), ""),
    };
    let privileged = s
        .get("privileged")
        .map(|p| Field::new(p.is_true(), At::Compose(p.pos), shown(p)));
    // `security_opt` entries, normalised (`seccomp=unconfined` = `seccomp:unconfined`).
    let opts: Vec<(String, &Node)> = s
        .get("security_opt")
        .map(|n| {
            n.as_seq()
                .iter()
                .map(|o| (text(o).replace('=', ":").to_ascii_lowercase(), o))
                .collect()
        })
        .unwrap_or_default();
    let opts_at = At::Compose(s.at("security_opt"));
    let nnp = opts
        .iter()
        .any(|(o, _)| o == "no-new-privileges" || o == "no-new-privileges:true");
    let confinement = |unconfined: &str| match opts.iter().find(|(o, _)| o == unconfined) {
        Some((_, n)) => Field::new(Confinement::Unconfined, At::Compose(n.pos), shown(n)),
        None => Field::new(Confinement::Default, opts_at, ""),
    };
    let read_only_rootfs = match s.get("read_only") {
        Some(r) => Field::new(Some(r.is_true()), At::Compose(r.pos), shown(r)),
        None => Field::new(None, At::Compose(s.pos), ""),
    };
    let caps_of = |key: &str| -> Vec<&Node> {
        s.get(key)
            .map(|n| n.as_seq().iter().collect())
            .unwrap_or_default()
    };
    let cap_drop_all = Field::new(
        caps_of("cap_drop")
            .iter()
            .any(|c| caps::name(&text(c)) == "ALL"),
        At::Compose(s.at("cap_drop")),
        "",
    );
    let cap_add = caps_of("cap_add")
        .into_iter()
        .map(|c| Field::new(caps::name(&text(c)), At::Compose(c.pos), shown(c)))
        .collect();
    let lim = s
        .get("deploy")
        .and_then(|d| d.get("resources"))
        .and_then(|r| r.get("limits"));
    let has = |svc_key: &str, deploy_key: &str| {
        s.get(svc_key).is_some() || lim.and_then(|l| l.get(deploy_key)).is_some()
    };
    let limits = Limits {
        cpus: has("cpus", "cpus"),
        memory: has("mem_limit", "memory"),
    };
    let host_namespaces = [
        ("network_mode", "network"),
        ("pid", "pid"),
        ("ipc", "ipc"),
        ("uts", "uts"),
    ]
    .into_iter()
    .filter_map(|(key, ns)| {
        let v = s.get(key).filter(|v| text(v) == "host")?;
        Some(Field::new(ns, At::Compose(v.pos), key))
    })
    .collect();
    let logging = Some(match s.get("logging") {
        None => Field::new(Logging::Unset, At::Compose(s.pos), ""),
        Some(l) => {
            let driver = l
                .get("driver")
                .map(text)
                .unwrap_or_else(|| "json-file".into());
            let max_size = l.get("options").and_then(|o| o.get("max-size")).is_some();
            Field::new(Logging::Driver { driver, max_size }, At::Compose(l.pos), "")
        }
    });
    Workload {
        logging,
        host_namespaces,
        limits: Field::new(limits, At::Compose(s.pos), ""),
        pids_limit: Some(Field::new(
            has("pids_limit", "pids"),
            At::Compose(s.pos),
            "",
        )),
        read_only_rootfs,
        cap_drop_all,
        cap_add,
        kind: if swarm {
            Kind::SwarmService
        } else {
            Kind::ComposeService
        },
        subject: format!("service {}", s.name),
        user,
        privileged,
        no_new_privileges: Field::new(nnp, opts_at, ""),
        seccomp: confinement("seccomp:unconfined"),
        apparmor: confinement("apparmor:unconfined"),
    }
}
