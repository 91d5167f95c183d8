//! `network-not-isolated`: the workload shares a network it need not share: the engine's
//! default bridge (every container on the host), the project's default network when
//! another service is on it too, or (runtime, profile `isolated`) a network that is not
//! internal. One judgement for compose/Swarm services and running containers; for
//! Kubernetes, a manifest set without any NetworkPolicy ([`no_network_policy`]).
//! Fixtures: `crates/verify/tests/fixtures/network-not-isolated/`.

use crate::model::posture::{At, Kind, Verdict, Workload};
use crate::vocab::catalog::RuleId;

pub fn judge(w: &Workload) -> Option<Verdict> {
    let nets = w.networks.as_ref()?;
    let n = &nets.value;
    let (message, evidence) = match w.kind {
        Kind::RunningContainer if n.default_bridge => (
            "container is on the default bridge network shared with every other container".into(),
            Some(format!("NetworkMode={}", nets.written)),
        ),
        Kind::RunningContainer if n.internal_required => {
            let open: Vec<&str> = n
                .joined
                .iter()
                .filter(|(_, internal)| !internal)
                .map(|(name, _)| name.as_str())
                .collect();
            if open.is_empty() {
                return None;
            }
            (
                format!(
                    "profile isolated, but network(s) {} are not internal",
                    open.join(", ")
                ),
                Some(format!("networks={}", open.join(","))),
            )
        }
        Kind::ComposeService | Kind::SwarmService
            if n.default_bridge || (n.project_default && n.sharing > 0) =>
        {
            let how = if n.joined.is_empty() {
                "has no `networks:` and joins the default network"
            } else {
                "lists `default` in `networks:` and joins the default network"
            };
            let with = if n.default_bridge {
                "shared with every container on the host".to_string()
            } else {
                format!("shared with {} other service(s)", n.sharing)
            };
            (format!("{} {how}, {with}", w.subject), None)
        }
        _ => return None,
    };
    Some(Verdict {
        rule: RuleId::NetworkNotIsolated,
        at: nets.at,
        message,
        evidence,
        severity: None,
    })
}

/// Kubernetes manifests with workloads (the first at `at`) and no NetworkPolicy.
pub fn no_network_policy(at: At) -> Verdict {
    Verdict {
        rule: RuleId::NetworkNotIsolated,
        at,
        message: "no NetworkPolicy among the manifests: every pod can reach and be reached by every other pod".into(),
        evidence: None,
        severity: None,
    }
}

/// The rule's spec (`rules::spec`); whole-project cases are in `tests/fixtures/`.
#[cfg(test)]
mod spec {
    use crate::rules::spec;
    use crate::RuleId;

    #[test]
    fn catches() {
        spec::catches(
            RuleId::NetworkNotIsolated,
            spec::compose("    networks:\n      - clawdbot-net\n", "").edit(
                "docker-compose.yml",
                "\nnetworks:\n",
                "  worker:\n    image: clawdbot:0.1.0\n\nnetworks:\n",
            ),
        );
    }

    #[test]
    fn catches_not() {
        spec::catches_not(RuleId::NetworkNotIsolated, spec::hardened());
    }
}
