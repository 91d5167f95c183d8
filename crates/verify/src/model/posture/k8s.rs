//! Adapter: a container of a Kubernetes pod template → [`Workload`]. A container's
//! security setting is its own `securityContext`'s, else the pod's (for the keys the
//! pod level has).

use super::{
    At, Confinement, EnvVar, Field, Health, Image, Kind, Limits, Mount, Port, User, Workload,
};
use crate::input::yaml::{Node, Value};
use crate::vocab::caps;

/// A container's security setting: its own, else the pod's.
pub fn setting<'a>(
    c_sc: Option<&'a Node>,
    pod_sc: Option<&'a Node>,
    key: &str,
) -> Option<&'a Node> {
    c_sc.and_then(|s| s.get(key))
        .or_else(|| pod_sc.and_then(|s| s.get(key)))
}

/// `false` as a YAML boolean or the string `"false"`.
fn is_false(n: Option<&Node>) -> bool {
    n.is_some_and(|n| matches!(&n.value, Value::Bool(false)) || n.as_str() == Some("false"))
}

/// `file` indexes the project's files; `what` names the workload (`Deployment/gw`).
pub fn workload(file: usize, what: &str, pod_sc: Option<&Node>, c: &Node) -> Workload {
    let cname = c.get("name").and_then(Node::scalar).unwrap_or_default();
    let sc = c.get("securityContext");
    let here = sc.map_or(c.pos, |s| s.pos);
    let at = |pos| At::Manifest { file, pos };

    let uid = setting(sc, pod_sc, "runAsUser");
    let non_root = setting(sc, pod_sc, "runAsNonRoot");
    let user = match uid {
        Some(u) => {
            let v = u.scalar().unwrap_or_default();
            Field::new(User::Set(v.clone()), at(u.pos), v)
        }
        None if non_root.is_some_and(Node::is_true) => {
            Field::new(User::NonRootEnforced, at(here), "")
        }
        None => Field::new(User::Unenforced, at(non_root.map_or(here, |n| n.pos)), ""),
    };
    let privileged = sc
        .and_then(|s| s.get("privileged"))
        .map(|p| Field::new(p.is_true(), at(p.pos), p.scalar().unwrap_or_default()));
    let ape = sc.and_then(|s| s.get("allowPrivilegeEscalation"));
    let ape_false = is_false(ape);
    let profile = |key: &str, unset: Confinement| match setting(sc, pod_sc, key) {
        Some(p) => {
            let ty = p.get("type").and_then(Node::scalar).unwrap_or_default();
            let value = if ty == "Unconfined" {
                Confinement::Unconfined
            } else {
                Confinement::Profile(ty.clone())
            };
            Field::new(value, at(p.pos), ty)
        }
        None => Field::new(unset, at(here), ""),
    };
    let ro = sc.and_then(|s| s.get("readOnlyRootFilesystem"));
    let capabilities = sc.and_then(|s| s.get("capabilities"));
    let drop = capabilities.and_then(|c| c.get("drop"));
    let dropped_all = drop
        .map(Node::as_seq)
        .unwrap_or_default()
        .iter()
        .any(|d| d.scalar().is_some_and(|d| caps::name(&d) == "ALL"));
    let cap_add = capabilities
        .and_then(|c| c.get("add"))
        .map(Node::as_seq)
        .unwrap_or_default()
        .iter()
        .map(|cap| {
            let written = cap.scalar().unwrap_or_default();
            Field::new(caps::name(&written), at(cap.pos), written)
        })
        .collect();
    let lim = c.get("resources").and_then(|r| r.get("limits"));
    let has = |key: &str| lim.and_then(|l| l.get(key)).is_some();
    let ports = c
        .get("ports")
        .map(Node::as_seq)
        .unwrap_or_default()
        .iter()
        .filter_map(|p| {
            let hp = p.get("hostPort")?;
            let host_ip = p.get("hostIP").and_then(Node::scalar);
            let port = Port {
                host_ip: host_ip.clone().unwrap_or_default(),
                host_ip_written: host_ip,
                published: hp.scalar(),
                target: p
                    .get("containerPort")
                    .and_then(Node::scalar)
                    .unwrap_or_default(),
                long: true,
            };
            Some(Field::new(
                port,
                at(hp.pos),
                hp.scalar().unwrap_or_default(),
            ))
        })
        .collect::<Vec<_>>();
    let probes: Vec<&'static str> = ["livenessProbe", "readinessProbe"]
        .into_iter()
        .filter(|k| c.get(k).is_none())
        .collect();
    let healthcheck = if probes.is_empty() {
        Health::Defined
    } else {
        Health::MissingProbes(probes)
    };
    let env = c
        .get("env")
        .map(Node::as_seq)
        .unwrap_or_default()
        .iter()
        .filter_map(|e| {
            let (key, v) = (e.get("name").and_then(Node::scalar)?, e.get("value")?);
            let value = v.scalar().unwrap_or_default();
            let var = EnvVar {
                key,
                value: value.clone(),
                env_file: None,
            };
            Some(Field::new(var, at(v.pos), value))
        })
        .collect();
    let image = c.get("image").map(|img| {
        let reference = img.scalar().unwrap_or_default();
        let value = Image {
            reference: reference.clone(),
            builds: false,
            built_here: false,
            dockerfile: None,
        };
        Field::new(value, at(img.pos), reference)
    });
    Workload {
        publishes: Field::new(!ports.is_empty(), at(c.pos), ""),
        ports,
        healthcheck: Field::new(healthcheck, at(c.pos), ""),
        env,
        image,
        host_namespaces: Vec::new(),
        logging: None,
        limits: Field::new(
            Limits {
                cpus: has("cpu"),
                memory: has("memory"),
            },
            at(lim.map_or(c.pos, |n| n.pos)),
            "",
        ),
        pids_limit: None,
        read_only_rootfs: Field::new(
            ro.map(Node::is_true),
            at(ro.map_or(here, |n| n.pos)),
            ro.and_then(Node::scalar).unwrap_or_default(),
        ),
        cap_drop_all: Field::new(
            dropped_all,
            at(drop.or(capabilities).map_or(here, |n| n.pos)),
            "",
        ),
        cap_add,
        kind: Kind::K8sContainer,
        subject: format!("{what} container {cname}"),
        user,
        privileged,
        no_new_privileges: Field::new(
            ape_false,
            at(ape.map_or(here, |n| n.pos)),
            ape.and_then(Node::scalar).unwrap_or_default(),
        ),
        seccomp: profile("seccompProfile", Confinement::Unset),
        apparmor: profile("appArmorProfile", Confinement::Default),
        ..Workload::hardened(Kind::K8sContainer, String::new(), at(c.pos))
    }
}

/// The pod as a whole (`what`: `Deployment gw`): the namespaces it shares with the node
/// (`hostNetwork`, `hostPID`, `hostIPC`) and its `hostPath` volumes. Its containers are
/// [`workload`]s.
pub fn pod(file: usize, what: &str, pod: &Node) -> Workload {
    let at = |pos| At::Manifest { file, pos };
    let host_namespaces = [
        ("hostNetwork", "network"),
        ("hostPID", "pid"),
        ("hostIPC", "ipc"),
    ]
    .into_iter()
    .filter_map(|(key, ns)| {
        let n = pod.get(key).filter(|n| n.is_true())?;
        Some(Field::new(ns, at(n.pos), key))
    })
    .collect();
    let mounts = pod
        .get("volumes")
        .map(Node::as_seq)
        .unwrap_or_default()
        .iter()
        .filter_map(|v| {
            let hp = v.get("hostPath")?;
            let source = hp.get("path").and_then(Node::scalar).unwrap_or_default();
            let mount = Mount {
                source: source.clone(),
                target: String::new(),
                read_only: false,
            };
            Some(Field::new(mount, at(hp.pos), source))
        })
        .collect();
    Workload {
        host_namespaces,
        mounts,
        ..Workload::hardened(Kind::K8sPod, what, at(pod.pos))
    }
}
