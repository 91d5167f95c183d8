//! The catalog's rules on Kubernetes manifests (`--k8s DIR`, default `<root>/k8s`):
//! each workload's pod spec (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job,
//! CronJob, Pod) is read with the pod-level security context as the default for its
//! containers, and reported with the same rule ids as compose, at file:line.

use super::{network_not_isolated, port_not_loopback, Out};
use crate::input::yaml::{Node, Pos};
use crate::model::posture::{self, At};
use crate::model::secrets;
use crate::vocab::catalog::RuleId;

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
        out.verdict(network_not_isolated::no_network_policy(At::Manifest {
            file,
            pos,
        }));
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

fn service(out: &mut Out, file: usize, name: &str, doc: &Node) {
    if let Some(t) = doc.get("spec").and_then(|s| s.get("type")) {
        let ty = t.scalar().unwrap_or_default();
        let at = At::Manifest { file, pos: t.pos };
        out.verdict_opt(port_not_loopback::service_type(name, &ty, at));
    }
}

/// The pod as a whole, then each of its containers, over the posture model.
fn workload(out: &mut Out, file: usize, what: &str, pod: &Node) {
    for v in super::judge_pod(&posture::k8s::pod(file, what, pod)) {
        out.verdict(v);
    }
    let pod_sc = pod.get("securityContext");
    let containers = ["initContainers", "containers"]
        .iter()
        .flat_map(|k| pod.get(k).map(Node::as_seq).unwrap_or_default());
    for c in containers {
        let w = posture::k8s::workload(file, what, pod_sc, c);
        for v in super::judge_workload(&w) {
            out.verdict(v);
        }
        secret_literals(out, file, &w);
    }
}

/// Literal secrets in a container's `env` values (the secret scan, not a posture rule).
fn secret_literals(out: &mut Out, file: usize, w: &posture::Workload) {
    for e in &w.env {
        let At::Manifest { pos, .. } = e.at else {
            continue;
        };
        let k = &e.value.key;
        for h in secrets::in_assignment(k, &e.value.value) {
            out.at(RuleId::SecretLiteral, file, pos.line, pos.column, format!("{}: {} in env {k} ({}); use a Secret (valueFrom.secretKeyRef or a mounted file)", w.subject, h.kind, secrets::mask(&h.secret)));
        }
    }
}
