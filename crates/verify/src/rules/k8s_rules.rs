//! The catalog's rules on Kubernetes manifests (`--k8s DIR`, default `<root>/k8s`):
//! each workload's pod spec (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job,
//! CronJob, Pod) is read with the pod-level security context as the default for its
//! containers, and reported with the same rule ids as compose, at file:line.

use super::super::yaml::{Node, Pos};
use super::super::{host_paths, net, secrets, Severity};
use super::dockerfile_rules::unpinned;
use super::Out;
use crate::catalog::RuleId;
use crate::posture;

const WORKLOADS: &[&str] = &[
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "Job",
    "CronJob",
    "Pod",
];

pub fn check(out: &mut Out) {
    let project = out.project;
    let mut has_policy = false;
    let mut first_workload: Option<(usize, Pos)> = None;
    for (file, docs) in &project.manifests {
        for doc in docs {
            let kind = doc.get("kind").and_then(Node::scalar).unwrap_or_default();
            let name = doc
                .get("metadata")
                .and_then(|m| m.get("name"))
                .and_then(Node::scalar)
                .unwrap_or_else(|| "(unnamed)".into());
            match kind.as_str() {
                "NetworkPolicy" => has_policy = true,
                "Service" => service(out, *file, &name, doc),
                k if WORKLOADS.contains(&k) => {
                    let Some(pod) = pod_spec(doc, k) else {
                        continue;
                    };
                    first_workload.get_or_insert((*file, doc.pos));
                    workload(out, *file, &format!("{k} {name}"), pod);
                }
                _ => {}
            }
        }
    }
    if let (false, Some((file, pos))) = (has_policy, first_workload) {
        out.at(
            RuleId::NetworkNotIsolated,
            file,
            pos.line,
            pos.column,
            "no NetworkPolicy among the manifests: every pod can reach and be reached by every other pod".into(),
        );
    }
}

fn pod_spec<'a>(doc: &'a Node, kind: &str) -> Option<&'a Node> {
    let spec = doc.get("spec")?;
    match kind {
        "Pod" => Some(spec),
        "CronJob" => spec
            .get("jobTemplate")?
            .get("spec")?
            .get("template")?
            .get("spec"),
        _ => spec.get("template")?.get("spec"),
    }
}

fn at(out: &mut Out, rule: RuleId, file: usize, pos: Pos, message: String) {
    out.at(rule, file, pos.line, pos.column, message);
}

fn service(out: &mut Out, file: usize, name: &str, doc: &Node) {
    if let Some(t) = doc.get("spec").and_then(|s| s.get("type")) {
        let ty = t.scalar().unwrap_or_default();
        if ty == "NodePort" || ty == "LoadBalancer" {
            at(
                out,
                RuleId::PortNotLoopback,
                file,
                t.pos,
                format!("Service {name} is of type {ty}: it is reachable from outside the cluster; use ClusterIP"),
            );
        }
    }
}

fn workload(out: &mut Out, file: usize, what: &str, pod: &Node) {
    for key in ["hostNetwork", "hostPID", "hostIPC"] {
        if let Some(n) = pod.get(key).filter(|n| n.is_true()) {
            at(
                out,
                RuleId::NetworkHost,
                file,
                n.pos,
                format!("{what}: {key}: true shares the node's namespace"),
            );
        }
    }
    for v in pod.get("volumes").map(Node::as_seq).unwrap_or_default() {
        let Some(hp) = v.get("hostPath") else {
            continue;
        };
        let path = hp.get("path").and_then(Node::scalar).unwrap_or_default();
        let norm = if path.len() > 1 {
            path.trim_end_matches('/')
        } else {
            path.as_str()
        };
        if host_paths::is_engine_socket(norm) {
            at(
                out,
                RuleId::SensitiveVolume,
                file,
                hp.pos,
                format!(
                    "{what} mounts the container runtime socket {norm}: full control of the node"
                ),
            );
        } else if host_paths::is_sensitive(norm) {
            at(
                out,
                RuleId::SensitiveVolume,
                file,
                hp.pos,
                format!("{what} mounts sensitive node path {norm} (hostPath)"),
            );
        } else {
            out.push(
                RuleId::SensitiveVolume,
                Severity::Warning,
                file,
                hp.pos.line,
                hp.pos.column,
                format!("{what} mounts node path {norm} (hostPath); use an emptyDir, a ConfigMap or a PersistentVolumeClaim"),
            );
        }
    }
    let pod_sc = pod.get("securityContext");
    let containers = ["initContainers", "containers"]
        .iter()
        .flat_map(|k| pod.get(k).map(Node::as_seq).unwrap_or_default());
    for c in containers {
        container(out, file, what, pod_sc, c);
    }
}

fn container(out: &mut Out, file: usize, what: &str, pod_sc: Option<&Node>, c: &Node) {
    let cname = c.get("name").and_then(Node::scalar).unwrap_or_default();
    let who = format!("{what} container {cname}");

    // Rules written once over the posture model.
    let w = posture::k8s::workload(file, what, pod_sc, c);
    for v in super::judge_workload(&w) {
        out.verdict(v);
    }
    // probes
    let probes: Vec<&str> = ["livenessProbe", "readinessProbe"]
        .into_iter()
        .filter(|k| c.get(k).is_none())
        .collect();
    if !probes.is_empty() {
        at(
            out,
            RuleId::HealthcheckMissing,
            file,
            c.pos,
            format!("{who} has no {}", probes.join(" and no ")),
        );
    }
    if let Some(img) = c.get("image") {
        if let Some(why) = unpinned(&img.scalar().unwrap_or_default()) {
            at(
                out,
                RuleId::ImageUnpinned,
                file,
                img.pos,
                format!("{who}: image {}: {why}", img.scalar().unwrap_or_default()),
            );
        }
    }
    for p in c.get("ports").map(Node::as_seq).unwrap_or_default() {
        if let Some(hp) = p.get("hostPort") {
            let ip = p.get("hostIP").and_then(Node::scalar).unwrap_or_default();
            let loopback = net::is_loopback(&ip);
            if !loopback {
                at(
                    out,
                    RuleId::PortNotLoopback,
                    file,
                    hp.pos,
                    format!(
                        "{who}: hostPort {} publishes on the node's interfaces",
                        hp.scalar().unwrap_or_default()
                    ),
                );
            }
        }
    }
    for e in c.get("env").map(Node::as_seq).unwrap_or_default() {
        let (Some(k), Some(v)) = (e.get("name").and_then(Node::scalar), e.get("value")) else {
            continue;
        };
        for h in secrets::in_assignment(&k, &v.scalar().unwrap_or_default()) {
            at(out, RuleId::SecretLiteral, file, v.pos, format!("{who}: {} in env {k} ({}); use a Secret (valueFrom.secretKeyRef or a mounted file)", h.kind, secrets::mask(&h.secret)));
        }
    }
}
