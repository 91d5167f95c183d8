//! Rules on the merged compose model, service by service.

use super::super::compose::{Compose, Service};
use super::super::net::is_loopback;
use super::super::yaml::{Node, Value};
use super::super::Severity;
use super::super::{host_paths, secrets};
use super::dockerfile_rules::{has_healthcheck, unpinned};
use super::Out;
use crate::catalog::RuleId;
use crate::posture;

pub fn check(out: &mut Out) {
    let Some(compose) = &out.project.compose else {
        return;
    };
    for s in &compose.services {
        service(out, compose, s);
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
    // host namespaces
    for key in ["network_mode", "pid", "ipc", "uts"] {
        if let Some(v) = s.get(key).filter(|v| text(v) == "host") {
            out.yaml(
                RuleId::NetworkHost,
                v.pos,
                format!("service {name}: {key}: host"),
            );
        }
    }
    // network isolation
    let nets = s.networks();
    let mode = s.get("network_mode").map(text);
    // `network_mode: bridge` is Docker's default bridge, shared by every container.
    if nets.is_empty() && matches!(mode.as_deref(), None | Some("bridge") | Some("default")) {
        out.yaml(
            RuleId::NetworkNotIsolated,
            s.pos,
            format!("service {name} has no `networks:` and joins the default network"),
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
    healthcheck(out, s);
    // image-unpinned (only for pulled images; `build:` names the built image)
    if s.get("build").is_none() {
        if let Some(img) = s.get("image") {
            if let Some(why) = unpinned(&text(img)) {
                out.yaml(
                    RuleId::ImageUnpinned,
                    img.pos,
                    format!("service {name}: image {}: {why}", shown(img)),
                );
            }
        }
    }
    logging(out, s);
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

fn healthcheck(out: &mut Out, s: &Service) {
    let name = &s.name;
    let compose_hc = s.get("healthcheck");
    if let Some(hc) = compose_hc {
        let disabled = hc.get("disable").is_some_and(Node::is_true)
            || hc.get("test").is_some_and(|t| {
                t.as_seq().first().map(text).as_deref() == Some("NONE") || text(t) == "NONE"
            });
        if disabled {
            out.yaml(
                RuleId::HealthcheckMissing,
                hc.pos,
                format!("service {name}: healthcheck is disabled"),
            );
            return;
        }
        if hc.get("test").is_some() {
            return;
        }
    }
    let image_has = out
        .project
        .dockerfile_of(s)
        .is_some_and(|(_, df)| has_healthcheck(df));
    if !image_has {
        let why = if s.get("build").is_some() {
            "nor in its Dockerfile"
        } else {
            "(the pulled image's own HEALTHCHECK is not visible here)"
        };
        out.yaml(
            RuleId::HealthcheckMissing,
            s.pos,
            format!("service {name} has no healthcheck in compose {why}"),
        );
    }
}

fn logging(out: &mut Out, s: &Service) {
    let name = &s.name;
    let Some(l) = s.get("logging") else {
        out.yaml(
            RuleId::LoggingUnbounded,
            s.pos,
            format!("service {name} has no `logging:` (json-file keeps logs forever)"),
        );
        return;
    };
    let driver = l
        .get("driver")
        .map(text)
        .unwrap_or_else(|| "json-file".into());
    if driver == "json-file" && l.get("options").and_then(|o| o.get("max-size")).is_none() {
        out.yaml(
            RuleId::LoggingUnbounded,
            l.pos,
            format!("service {name}: json-file logging without options.max-size"),
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
