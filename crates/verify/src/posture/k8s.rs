//! Adapter: a container of a Kubernetes pod template → [`Workload`]. A container's
//! security setting is its own `securityContext`'s, else the pod's (for the keys the
//! pod level has).

use super::{At, Confinement, Field, Kind, Limits, User, Workload};
use crate::caps;
use crate::yaml::{Node, Value};

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
    Workload {
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
    }
}
