//! `port-not-loopback`: a port published beyond loopback. One judgement for compose/Swarm
//! services (`ports:`), Kubernetes containers (`hostPort`) and running containers (the
//! engine's bindings, `PublishAllPorts`); a Kubernetes `Service` of type `NodePort` or
//! `LoadBalancer` is judged by [`service_type`]. Consent to public binds
//! (`allow_public_bind`, read by runtime verify) lowers it to a warning.
//! Fixtures: `crates/verify/tests/fixtures/port-not-loopback/`.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::posture::{At, Kind, Verdict, Workload};
use crate::vocab::catalog::RuleId;
use crate::vocab::net::is_loopback;
use crate::Severity;

pub fn judge(w: &Workload) -> Vec<Verdict> {
    let severity = w.public_bind_allowed.then_some(Severity::Warning);
    let verdict = |at: At, message: String, evidence: Option<String>| Verdict {
        rule: RuleId::PortNotLoopback,
        at,
        message,
        evidence,
        severity,
    };
    let public = w.ports.iter().filter(|p| !is_loopback(&p.value.host_ip));
    let mut out = Vec::new();
    match w.kind {
        Kind::ComposeService | Kind::SwarmService => {
            for p in public {
                let why = if p.value.long {
                    let what = p
                        .value
                        .host_ip_written
                        .as_deref()
                        .unwrap_or("all interfaces");
                    let published = p.value.published.as_deref().unwrap_or("a random port");
                    format!("{published} is published on {what}")
                } else {
                    let ip = p.value.host_ip.as_str();
                    let where_ = if ip.is_empty() || ip == "0.0.0.0" || ip == "::" {
                        "all interfaces (0.0.0.0 and ::)"
                    } else {
                        "a non-loopback address"
                    };
                    format!("\"{}\" is published on {where_}", p.written)
                };
                out.push(verdict(p.at, format!("{}: port {why}", w.subject), None));
            }
        }
        Kind::K8sContainer => {
            for p in public {
                let message = format!(
                    "{}: hostPort {} publishes on the node's interfaces",
                    w.subject, p.written
                );
                out.push(verdict(p.at, message, None));
            }
        }
        Kind::RunningContainer => {
            // One finding per (container port, host port), naming every public address.
            let mut grouped: BTreeMap<(&str, &str), BTreeSet<&str>> = BTreeMap::new();
            for p in public {
                let ip = if p.value.host_ip.is_empty() {
                    "all interfaces"
                } else {
                    p.value.host_ip.as_str()
                };
                let host_port = p.value.published.as_deref().unwrap_or("");
                grouped
                    .entry((p.value.target.as_str(), host_port))
                    .or_default()
                    .insert(ip);
            }
            for ((port, host_port), ips) in grouped {
                let ips: Vec<&str> = ips.into_iter().collect();
                out.push(verdict(
                    At::Container,
                    format!(
                        "port {port} is published on {} (host port {host_port}); publish it on 127.0.0.1 only",
                        ips.join(", ")
                    ),
                    Some(format!("{}:{host_port}->{port}", ips.join("|"))),
                ));
            }
            if w.publish_all_ports {
                out.push(verdict(
                    At::Container,
                    "every exposed port is published on all interfaces (PublishAllPorts)".into(),
                    Some("PublishAllPorts=true".into()),
                ));
            }
        }
        Kind::K8sPod => {}
    }
    out
}

/// A Kubernetes `Service` (`name`) whose `spec.type` (`ty`, at `at`) makes it reachable
/// from outside the cluster.
pub fn service_type(name: &str, ty: &str, at: At) -> Option<Verdict> {
    (ty == "NodePort" || ty == "LoadBalancer").then(|| Verdict {
        rule: RuleId::PortNotLoopback,
        at,
        message: format!(
            "Service {name} is of type {ty}: it is reachable from outside the cluster; use ClusterIP"
        ),
        evidence: None,
        severity: None,
    })
}

/// The rule's spec (`rules::spec`); whole-project cases are in `tests/fixtures/`.
#[cfg(test)]
mod spec {
    use crate::rules::spec;
    use crate::RuleId;

    #[test]
    fn catches() {
        spec::catches(
            RuleId::PortNotLoopback,
            spec::compose("\"127.0.0.1:18789:18789\"", "\"18789:18789\""),
        );
    }

    #[test]
    fn catches_not() {
        spec::catches_not(
            RuleId::PortNotLoopback,
            spec::compose("\"127.0.0.1:18789:18789\"", "\"[::1]:18789:18789\""),
        );
    }
}
