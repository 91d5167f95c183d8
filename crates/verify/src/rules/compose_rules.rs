//! Rules on the merged compose model, service by service.

use super::super::compose::{Compose, Service};
use super::super::net::is_loopback;
use super::super::yaml::{Node, Value};
use super::super::Severity;
use super::super::{host_paths, oneshot, secrets};
use super::dockerfile_rules::{final_user, has_healthcheck_at, is_root_user, unpinned};
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
    let name = &s.name;
    let user_set = s.get("user").is_some_and(|u| !text(u).trim().is_empty());
    let project = out.project;
    let source = project.image_source(s);
    match &source {
        // An inline Dockerfile is judged here (file-based ones by the Dockerfile rules).
        Some(src) if src.file.is_none() && !user_set => {
            let at = s
                .get("build")
                .and_then(|b| b.key("dockerfile_inline"))
                .map(|k| k.pos)
                .unwrap_or(s.pos);
            match final_user(src.dockerfile, src.target.as_deref()) {
                None => out.yaml(
                    RuleId::UserRoot,
                    at,
                    format!(
                        "service {name}: its dockerfile_inline sets no USER, so it runs as root"
                    ),
                ),
                Some((Some(u), _)) if is_root_user(&u) => out.yaml(
                    RuleId::UserRoot,
                    at,
                    format!("service {name}: its dockerfile_inline sets USER {u}, which is root"),
                ),
                _ => {}
            }
        }
        None if !user_set && s.get("build").is_none() => {
            if let Some(img) = s.get("image") {
                out.yaml(
                    RuleId::UserUnknown,
                    s.pos,
                    format!(
                        "service {name}: image {} is pulled and nothing says which user it runs as (no `user:`, no Dockerfile in the project builds it); set `user: \"1000:1000\"`",
                        shown(img)
                    ),
                );
            }
        }
        _ => {}
    }
    // Rules written once over the posture model.
    let w = posture::compose::workload(s, out.project.swarm);
    for v in super::judge_workload(&w) {
        out.verdict(v);
    }
    // ports
    let ports = s
        .get("ports")
        .map(|p| p.as_seq().to_vec())
        .unwrap_or_default();
    for p in &ports {
        if let Some(why) = port_exposed(p) {
            out.yaml(
                RuleId::PortNotLoopback,
                p.pos,
                format!("service {name}: port {why}"),
            );
        }
    }
    volumes(out, s);
    // network isolation
    let nets = s.networks();
    let mode = s.get("network_mode").map(text);
    // `network_mode: bridge` is Docker's default bridge, shared by every container.
    let on_bridge = nets.is_empty() && mode.as_deref() == Some("bridge");
    let joins_default = s.joins_default();
    // Service names are unique keys, so the others are the count less this one.
    let sharing = compose.on_default_network - usize::from(joins_default);
    if on_bridge || (joins_default && sharing > 0) {
        let how = if nets.is_empty() {
            "has no `networks:` and joins the default network"
        } else {
            "lists `default` in `networks:` and joins the default network"
        };
        let with = if on_bridge {
            "shared with every container on the host".to_string()
        } else {
            format!("shared with {sharing} other service(s)")
        };
        out.yaml(
            RuleId::NetworkNotIsolated,
            if nets.is_empty() {
                s.pos
            } else {
                s.at("networks")
            },
            format!("service {name} {how}, {with}"),
        );
    }
    if !ports.is_empty() && !nets.is_empty() {
        let all_internal = nets
            .iter()
            .all(|n| compose.networks.iter().any(|d| &d.name == n && d.internal));
        if all_internal {
            out.yaml(
                RuleId::PortsOnInternalNetwork,
                s.at("ports"),
                format!("service {name} publishes ports but every network it joins is internal ({}); Docker drops them", nets.join(", ")),
            );
        }
    }
    healthcheck(out, compose, s, source.as_ref());
    not_evaluated(out, s);
    // image-unpinned (only for pulled images; `build:` names the built image, and so
    // does the `image:` of a service that another service builds)
    if s.get("build").is_none() {
        if let Some(img) = s
            .get("image")
            .filter(|i| !out.project.builds_image(&text(i)))
        {
            if let Some(why) = unpinned(&text(img)) {
                out.yaml(
                    RuleId::ImageUnpinned,
                    img.pos,
                    format!("service {name}: image {}: {why}", shown(img)),
                );
            }
        }
    }
    secrets_in(out, s);
    super::secret_env::check(out, s);
}

/// Why a `ports:` entry publishes beyond loopback (`None` when loopback only).
pub fn port_exposed(p: &Node) -> Option<String> {
    let raw = shown(p);
    if let Value::Map(_) = p.value {
        let host_ip = p.get("host_ip").map(text).unwrap_or_default();
        if is_loopback(&host_ip) {
            return None;
        }
        let what = p
            .get("host_ip")
            .map(shown)
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "all interfaces".into());
        let published = p
            .get("published")
            .map(shown)
            .unwrap_or_else(|| "a random port".into());
        return Some(format!("{published} is published on {what}"));
    }
    let value = text(p);
    let spec = value.split('/').next().unwrap_or("");
    let host_ip = if let Some(rest) = spec.strip_prefix('[') {
        rest.split(']').next().unwrap_or("").to_string()
    } else {
        let parts: Vec<&str> = spec.split(':').collect();
        if parts.len() >= 3 {
            parts[..parts.len() - 2].join(":")
        } else {
            String::new()
        }
    };
    if is_loopback(&host_ip) {
        return None;
    }
    let where_ = if host_ip.is_empty() || host_ip == "0.0.0.0" || host_ip == "::" {
        "all interfaces (0.0.0.0 and ::)".to_string()
    } else {
        "a non-loopback address".to_string()
    };
    Some(format!("\"{raw}\" is published on {where_}"))
}

fn volumes(out: &mut Out, s: &Service) {
    let name = &s.name;
    for v in s.get("volumes").map(Node::as_seq).unwrap_or_default() {
        let (source, read_only) = match &v.value {
            Value::Map(_) => {
                let ty = v.get("type").map(text).unwrap_or_default();
                let src = v.get("source").map(text).unwrap_or_default();
                if ty == "bind" && src.trim().is_empty() {
                    unset_source(out, name, v);
                    continue;
                }
                if ty != "bind"
                    && !(src.starts_with('/') || src.starts_with('.') || src.starts_with('~'))
                {
                    continue;
                }
                (src, v.get("read_only").is_some_and(Node::is_true))
            }
            _ => {
                let t = text(v);
                let parts: Vec<&str> = t.split(':').collect();
                if parts.len() < 2 {
                    continue;
                }
                let src = parts[0].to_string();
                if src.is_empty() {
                    unset_source(out, name, v);
                    continue;
                }
                if !(src.starts_with('/') || src.starts_with('.') || src.starts_with('~')) {
                    continue; // named volume
                }
                let ro = parts
                    .get(2)
                    .is_some_and(|m| m.split(',').any(|o| o == "ro" || o == "readonly"));
                (src, ro)
            }
        };
        let norm = if source.len() > 1 {
            source.trim_end_matches('/')
        } else {
            source.as_str()
        };
        let mode = if read_only { "read-only" } else { "writable" };
        if read_only && host_paths::is_benign_readonly(norm) {
            continue;
        }
        if host_paths::is_engine_socket(norm) {
            out.yaml(RuleId::SensitiveVolume, v.pos, format!("service {name} mounts the Docker socket {norm} ({mode}): full control of the host"));
        } else if host_paths::is_sensitive(norm) {
            out.yaml(
                RuleId::SensitiveVolume,
                v.pos,
                format!("service {name} mounts sensitive host path {norm} ({mode})"),
            );
        } else if !read_only {
            out.yaml_sev(
                RuleId::SensitiveVolume,
                Severity::Warning,
                v.pos,
                format!("service {name} mounts host path {norm} writable (add :ro)"),
            );
        }
    }
}

/// A bind mount whose source interpolated to nothing (an unset variable).
fn unset_source(out: &mut Out, name: &str, v: &Node) {
    out.yaml(
        RuleId::ComposeNotEvaluated,
        v.pos,
        format!(
            "service {name}: not evaluated: volumes ({} has an empty source, an unset variable)",
            shown(v)
        ),
    );
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

fn healthcheck(
    out: &mut Out,
    compose: &Compose,
    s: &Service,
    source: Option<&crate::project::ImageSource>,
) {
    let name = &s.name;
    let one_shot = oneshot::is_one_shot(s, compose);
    if let Some(hc) = s.get("healthcheck") {
        let disabled = hc.get("disable").is_some_and(Node::is_true)
            || hc.get("test").is_some_and(|t| {
                t.as_seq().first().map(text).as_deref() == Some("NONE") || text(t) == "NONE"
            });
        if disabled {
            if one_shot.is_none() {
                out.yaml(
                    RuleId::HealthcheckMissing,
                    hc.pos,
                    format!("service {name}: healthcheck is disabled"),
                );
            }
            return;
        }
        if hc.get("test").is_some() {
            return;
        }
        // `healthcheck: {disable: false}` or options only: the image's check applies.
    }
    if one_shot.is_some() {
        return;
    }
    match source {
        Some(src) if has_healthcheck_at(src.dockerfile, src.target.as_deref()) => {}
        Some(src) => {
            let stage = src
                .target
                .as_ref()
                .map(|t| format!(" (stage {t})"))
                .unwrap_or_default();
            let via = src
                .via
                .as_ref()
                .map(|v| format!(", which service {v} builds"))
                .unwrap_or_default();
            out.yaml(
                RuleId::HealthcheckMissing,
                s.pos,
                format!("service {name} has no healthcheck in compose nor in its Dockerfile{stage}{via}"),
            );
        }
        None if s.get("build").is_some() => out.yaml(
            RuleId::HealthcheckMissing,
            s.pos,
            format!("service {name} has no healthcheck in compose nor in its Dockerfile"),
        ),
        None => {
            let image = s.get("image").map(shown).unwrap_or_default();
            out.yaml(
                RuleId::HealthcheckUnknown,
                s.pos,
                format!("service {name}: compose defines no healthcheck and the pulled image {image} is not built here, so its own HEALTHCHECK is not visible"),
            );
        }
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
