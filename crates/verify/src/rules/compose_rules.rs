//! Rules on the merged compose model, service by service.

use super::super::compose::{Compose, Service};
use super::super::secrets;
use super::super::yaml::Node;
use super::Out;
use crate::catalog::RuleId;
use crate::posture;

/// Service keys that change a container's posture and that no rule evaluates: each one
/// present is the note `compose-not-evaluated` ("not evaluated: KEY").
pub const NOT_EVALUATED: &[&str] = &[
    "devices",
    "device_cgroup_rules",
    "sysctls",
    "userns_mode",
    "volumes_from",
    "cgroup_parent",
    "cgroupns_mode",
    "runtime",
    "isolation",
    "group_add",
    "oom_kill_disable",
    "credential_spec",
];

pub fn check(out: &mut Out) {
    let Some(compose) = &out.project.compose else {
        return;
    };
    for s in &compose.services {
        service(out, compose, s);
    }
    let mut seen: Vec<&str> = Vec::new();
    for u in &out.project.unset {
        if seen.contains(&u.missing.name.as_str()) {
            continue;
        }
        seen.push(&u.missing.name);
        out.yaml(
            RuleId::VariableUnset,
            u.pos,
            format!(
                "required variable {} has no value here; verified with it unset",
                u.missing.name
            ),
        );
    }
    for i in &out.project.swarm_ignored {
        out.yaml(
            RuleId::SwarmIgnoredKey,
            i.pos,
            format!(
                "service {}: docker stack deploy ignores {}: {}",
                i.service, i.key, i.why
            ),
        );
    }
}

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

fn service(out: &mut Out, compose: &Compose, s: &Service) {
    // Every per-service rule is written once over the posture model.
    let cx = posture::compose::Context {
        compose,
        project: Some(out.project),
        swarm: out.project.swarm,
    };
    let w = posture::compose::workload(s, &cx);
    for v in super::judge_workload(&w) {
        out.verdict(v);
    }
    // A bind mount whose source interpolated to nothing (an unset variable).
    for m in w.mounts.iter().filter(|m| m.value.source.is_empty()) {
        if let posture::At::Compose(pos) = m.at {
            out.yaml(
                RuleId::ComposeNotEvaluated,
                pos,
                format!(
                    "service {}: not evaluated: volumes ({} has an empty source, an unset variable)",
                    s.name, m.written
                ),
            );
        }
    }
    not_evaluated(out, s);
    secrets_in(out, s);
}

/// `compose-not-evaluated` for posture keys no rule judges.
fn not_evaluated(out: &mut Out, s: &Service) {
    let name = &s.name;
    for key in NOT_EVALUATED {
        if let Some(k) = s.node.key(key) {
            out.yaml(
                RuleId::ComposeNotEvaluated,
                k.pos,
                format!("service {name}: not evaluated: {key}"),
            );
        }
    }
    // Namespaces shared with another container: its posture is not judged here.
    for key in ["network_mode", "pid", "ipc"] {
        if let Some(v) = s.get(key) {
            let t = text(v);
            if t.starts_with("service:") || t.starts_with("container:") {
                out.yaml(
                    RuleId::ComposeNotEvaluated,
                    v.pos,
                    format!("service {name}: not evaluated: {key}: {t} (shares the namespace of another container)"),
                );
            }
        }
    }
    for o in s.get("security_opt").map(Node::as_seq).unwrap_or_default() {
        let v = text(o).replace('=', ":").to_ascii_lowercase();
        let known = v == "no-new-privileges"
            || v.starts_with("no-new-privileges:")
            || v == "seccomp:unconfined"
            || v == "apparmor:unconfined"
            || v == "seccomp:default"
            || v == "apparmor:docker-default";
        if !known {
            out.yaml(
                RuleId::ComposeNotEvaluated,
                o.pos,
                format!("service {name}: not evaluated: security_opt {}", shown(o)),
            );
        }
    }
    if let Some(k) = s.get("build").and_then(|b| b.key("dockerfile_inline")) {
        out.yaml(
            RuleId::ComposeNotEvaluated,
            k.pos,
            format!("service {name}: not evaluated: build.dockerfile_inline beyond USER and HEALTHCHECK (secrets, base image)"),
        );
    }
    if let Some(k) = s.get("build").and_then(|b| b.key("network")) {
        out.yaml(
            RuleId::ComposeNotEvaluated,
            k.pos,
            format!("service {name}: not evaluated: build.network"),
        );
    }
}

fn secrets_in(out: &mut Out, s: &Service) {
    let name = &s.name;
    let mut fields: Vec<(&str, &Node)> = Vec::new();
    if let Some(e) = s.get("environment") {
        fields.push(("environment", e));
    }
    if let Some(l) = s.get("labels") {
        fields.push(("labels", l));
    }
    if let Some(a) = s.get("build").and_then(|b| b.get("args")) {
        fields.push(("build args", a));
    }
    for (what, node) in fields {
        for (k, v) in Service::pairs_of(node) {
            let raw = v
                .raw_str()
                .map(str::to_owned)
                .or_else(|| v.scalar())
                .unwrap_or_default();
            for h in secrets::in_assignment(&k, &raw) {
                out.yaml(
                    RuleId::SecretLiteral,
                    v.pos,
                    format!(
                        "service {name}: {} in {what} {k} ({})",
                        h.kind,
                        secrets::mask(&h.secret)
                    ),
                );
            }
        }
    }
}
