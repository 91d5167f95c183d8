//! Rules on the merged compose model, service by service.

use super::Out;
use crate::input::compose::{Compose, Service};
use crate::input::interp::{self, Env};
use crate::input::project::Project;
use crate::input::yaml::Node;
use crate::model::posture;
use crate::model::posture::compose::{shown, text};
use crate::model::secrets;
use crate::vocab::catalog::RuleId;

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
    services(out, compose);
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

/// Findings a service is expected to have at most, for the vectors' first size (more
/// only grow them).
const FINDINGS_PER_SERVICE: usize = 4;

/// The per-service rules over every service, on two threads for large files: the
/// second half's findings are appended after the first half's, so the order is the
/// one a single thread gives.
fn services(out: &mut Out, compose: &Compose) {
    let all = &compose.services;
    // Room for a few findings per service at once (a large file's findings, several
    // megabytes, are then not copied from one doubled vector to the next).
    out.findings.reserve(all.len() * FINDINGS_PER_SERVICE);
    let two = all.len() >= crate::parallel::SPLIT_FROM && crate::parallel::two_threads();
    if !two {
        for s in all {
            service(out, compose, s);
        }
        return;
    }
    let (first, second) = all.split_at(all.len() / 2);
    let project = out.project;
    let ((), later) = crate::parallel::join(
        || {
            for s in first {
                service(out, compose, s);
            }
        },
        || {
            let mut o = Out {
                project,
                findings: Vec::with_capacity(second.len() * FINDINGS_PER_SERVICE),
            };
            for s in second {
                service(&mut o, compose, s);
            }
            o.findings
        },
    );
    out.findings.extend(later);
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
    // A bind mount whose source interpolated to nothing (an unset variable): judged
    // with `.env.example`'s value when it has one, else not evaluated.
    for m in w.mounts.iter().filter(|m| m.value.source.is_empty()) {
        if let Some(source) = assumed_source(out.project, &m.written) {
            let mut assumed = w.clone();
            let mut mount = m.clone();
            mount.value.source = source;
            assumed.mounts = vec![mount];
            for mut v in super::sensitive_volume::judge(&assumed) {
                v.message.push_str(" (assumed from .env.example)");
                out.verdict(v);
            }
            continue;
        }
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

/// The host path of a short-syntax bind mount (`${DATA_DIR}:/data`) with the values of
/// `.env.example`, when they make it a path.
fn assumed_source(project: &Project, written: &str) -> Option<String> {
    let example = &project.files[project.env_example?].text;
    let resolved =
        interp::interpolate_noting(written, &Env::new(Some(example)), &mut Vec::new()).ok()?;
    let source = resolved.split(':').next()?.trim();
    (!source.is_empty()).then(|| source.to_string())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::project::{Project, Selection};
    use crate::test_support::TempDir;

    /// The two-thread path gives exactly the findings of one thread, in the same order.
    #[test]
    fn two_threads_give_one_threads_findings_in_order() {
        let dir = TempDir::new("compose-rules-threads").expect("temp dir");
        let mut yaml = String::from("services:\n");
        for i in 0..crate::parallel::SPLIT_FROM + 7 {
            yaml.push_str(&format!("  s{i}:\n    image: alpine:3.{i}\n"));
            if i % 3 == 0 {
                yaml.push_str("    privileged: true\n");
            }
            if i % 5 == 0 {
                yaml.push_str(&format!("    ports:\n      - \"{}:80\"\n", 10000 + i));
            }
        }
        std::fs::write(dir.path().join("compose.yaml"), yaml).expect("write");
        let sel = Selection {
            root: dir.path().to_path_buf(),
            ..Selection::default()
        };
        let project = Project::load(&sel).expect("load");
        let compose = project.compose.as_ref().expect("compose model");
        let mut threaded = Out {
            project: &project,
            findings: Vec::new(),
        };
        services(&mut threaded, compose);
        let mut single = Out {
            project: &project,
            findings: Vec::new(),
        };
        for s in &compose.services {
            service(&mut single, compose, s);
        }
        assert!(single.findings.len() > crate::parallel::SPLIT_FROM);
        assert_eq!(threaded.findings, single.findings);
    }
}
