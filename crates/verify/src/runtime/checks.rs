//! Checks of one inspected container: the per-workload rules of static verify over the
//! posture model (`runtime::posture` adapts `docker inspect`), applied to what the engine
//! actually runs (so an override that undid hardening shows up), plus what only a running
//! container has: its state and its health status.

use std::collections::BTreeMap;

use super::config::RuntimeConfig;
use super::finding;
use super::inspect::{Container, Network};
use crate::rules;
use crate::vocab::catalog::RuleId;
use crate::{Finding, Severity};

/// Every check on one container. `networks` maps network name to its inspect entry.
pub fn container(
    c: &Container,
    networks: &BTreeMap<String, Network>,
    s: &RuntimeConfig,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let name = c.name();
    // `sev: None` takes the catalog's runtime severity.
    let mut push = |rule, sev: Option<Severity>, msg: String, ev: Option<String>| {
        out.push(finding(rule, sev, name, msg, ev))
    };

    if !c.is_running() {
        let why = if c.state.error.is_empty() {
            String::new()
        } else {
            format!(": {}", c.state.error)
        };
        push(
            RuleId::RuntimeNotRunning,
            None,
            format!(
                "container is {} (exit code {}){why}",
                c.state.status, c.state.exit_code
            ),
            None,
        );
    }

    // Every per-workload rule, written once over the posture model (static verify runs
    // the same ones).
    let w = super::posture::workload(c, networks, s);
    for v in rules::judge_workload(&w) {
        push(v.rule, v.severity, v.message, v.evidence);
    }

    // Health status: only a running container with a check has one.
    if let Some(h) = c.state.health.as_ref().filter(|_| c.is_running()) {
        if h.status != "healthy" {
            let last = h.log.last().map(|l| {
                let out: String = l
                    .output
                    .lines()
                    .next()
                    .unwrap_or("")
                    .chars()
                    .take(120)
                    .collect();
                format!("; last probe exit {}: {out}", l.exit_code)
            });
            push(
                RuleId::RuntimeUnhealthy,
                (h.status == "starting").then_some(Severity::Warning),
                format!("health status is {}{}", h.status, last.unwrap_or_default()),
                Some(format!("Health.Status={}", h.status)),
            );
        }
    }

    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::config::Profile;
    use crate::runtime::inspect::parse_networks;
    use crate::runtime::inspect::tests::sample;

    fn networks() -> BTreeMap<String, Network> {
        let text = std::fs::read_to_string(format!(
            "{}/src/runtime/testdata/networks.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        parse_networks(&text)
            .unwrap()
            .into_iter()
            .map(|n| (n.name.clone(), n))
            .collect()
    }

    fn rules(name: &str) -> Vec<RuleId> {
        let mut r: Vec<_> = container(&sample(name), &networks(), &RuntimeConfig::default())
            .into_iter()
            .map(|f| f.rule)
            .collect();
        r.sort();
        r.dedup();
        r
    }

    #[test]
    fn hardened_sample_with_its_token_in_env_file_is_clean() {
        // The recorded container got its gateway token through `env_file: .env`, which
        // `docker inspect` shows; without secrets that is the intended channel.
        let fs = container(&sample("hardened"), &networks(), &RuntimeConfig::default());
        assert!(fs.is_empty(), "{fs:?}");
    }

    /// Drift fix: `Root`/`ROOT` users are root at runtime too, as statically (the
    /// runtime check used to compare case-sensitively).
    #[test]
    fn root_user_in_any_case_is_reported() {
        for user in ["root", "Root", "ROOT:0", "0", ""] {
            let mut c = sample("hardened");
            c.config.user = user.into();
            let fs = container(&c, &networks(), &RuntimeConfig::default());
            let hits: Vec<_> = fs.iter().filter(|f| f.rule == RuleId::UserRoot).collect();
            assert_eq!(hits.len(), 1, "{user:?}: {fs:?}");
            assert_eq!(
                hits[0].evidence.as_deref(),
                Some(format!("User={user}").as_str())
            );
        }
    }

    #[test]
    fn keys_in_env_are_an_error_only_when_the_service_uses_secrets() {
        // Configured for secrets by its /run/secrets mount and *_FILE variable, yet the
        // Anthropic key still arrives as plain environment: an error, masked; the
        // placeholder OpenAI key is not reported.
        let fs = container(
            &sample("secrets-leak"),
            &networks(),
            &RuntimeConfig::default(),
        );
        let rules: Vec<_> = fs.iter().map(|f| (f.rule, f.severity)).collect();
        assert_eq!(
            rules,
            [(RuleId::SecretInEnvironment, Severity::Error)],
            "{fs:?}"
        );
        let ev = fs[0].evidence.as_deref().unwrap();
        assert_eq!(ev, "ANTHROPIC_API_KEY=sk-ant-****");
        assert!(!fs[0].message.contains("Zx8Q"));
        // Only *_FILE variables and secret mounts: clean.
        let clean = sample("secrets-clean");
        assert!(crate::runtime::posture::uses_secrets(
            &clean,
            &RuntimeConfig::default()
        ));
        assert!(container(&clean, &networks(), &RuntimeConfig::default()).is_empty());
        // The `secrets` setting alone also makes a key in the environment an error.
        let on = RuntimeConfig {
            secrets: true,
            ..RuntimeConfig::default()
        };
        let hard = sample("hardened");
        assert!(
            !crate::runtime::posture::uses_secrets(&hard, &RuntimeConfig::default())
                && crate::runtime::posture::uses_secrets(&hard, &on)
        );
        let fs = container(&hard, &networks(), &on);
        assert_eq!(
            fs.iter()
                .map(|f| (f.rule, f.evidence.as_deref().unwrap_or("")))
                .collect::<Vec<_>>(),
            [(RuleId::SecretInEnvironment, "CLAWDBOT_GATEWAY_TOKEN=****")]
        );
    }

    #[test]
    fn exposed_sample_fires_exactly_its_weaknesses() {
        assert_eq!(
            rules("exposed"),
            [
                RuleId::ApparmorUnconfined,
                RuleId::CapsAdded,
                RuleId::CapsNotDropped,
                RuleId::HealthcheckMissing,
                RuleId::LimitsMissing,
                RuleId::LoggingUnbounded,
                RuleId::NoNewPrivilegesMissing,
                RuleId::PidsLimitMissing,
                RuleId::PortNotLoopback,
                RuleId::PortsOnInternalNetwork,
                RuleId::RootfsWritable,
                RuleId::SeccompUnconfined,
                RuleId::SensitiveVolume,
                RuleId::UserRoot,
            ]
        );
        let fs = container(&sample("exposed"), &networks(), &RuntimeConfig::default());
        let sev = |rule: RuleId, needle: &str| {
            fs.iter()
                .find(|f| f.rule == rule && f.message.contains(needle))
                .map(|f| f.severity)
        };
        assert_eq!(sev(RuleId::CapsAdded, "SYS_ADMIN"), Some(Severity::Error));
        assert_eq!(
            sev(RuleId::CapsAdded, "NET_BIND_SERVICE"),
            Some(Severity::Warning)
        );
        assert_eq!(
            sev(RuleId::SensitiveVolume, "docker.sock"),
            Some(Severity::Error)
        );
        // Drift fix: a sensitive path mounted read-only is an error, as statically (the
        // runtime copy of the rule lowered it to a warning).
        assert_eq!(
            sev(RuleId::SensitiveVolume, "/etc is mounted read-only"),
            Some(Severity::Error)
        );
        assert_eq!(
            sev(RuleId::SensitiveVolume, "/tmp/rt is mounted writable"),
            Some(Severity::Warning)
        );
        // Three bindings: empty host IP, 0.0.0.0 and :: are all public.
        assert_eq!(
            fs.iter()
                .filter(|f| f.rule == RuleId::PortNotLoopback)
                .count(),
            3
        );
        assert!(fs.iter().any(|f| f.message.contains("all interfaces")));
        // Its key in the environment is not a finding: it does not use secrets.
        assert!(fs.iter().all(|f| f.rule != RuleId::SecretInEnvironment));
        assert!(fs
            .iter()
            .all(|f| f.location.file == "container:rtdevweak-exposed-1"
                && f.location.line == 0
                && f.location.column == 0));
    }

    #[test]
    fn host_namespaces_and_root_user() {
        let r = rules("hostnet");
        assert!(
            r.contains(&RuleId::NetworkHost) && r.contains(&RuleId::UserRoot),
            "{r:?}"
        );
        let fs = container(&sample("hostnet"), &networks(), &RuntimeConfig::default());
        let hosts: Vec<_> = fs
            .iter()
            .filter(|f| f.rule == RuleId::NetworkHost)
            .filter_map(|f| f.evidence.as_deref())
            .collect();
        assert_eq!(hosts, ["network=host", "pid=host", "ipc=host"]);
        assert!(!r.contains(&RuleId::NetworkNotIsolated));
    }

    #[test]
    fn privileged_created_container_is_reported_not_running() {
        let r = rules("privileged-created");
        for rule in [
            RuleId::Privileged,
            RuleId::RuntimeNotRunning,
            RuleId::PortNotLoopback,
            RuleId::CapsNotDropped,
        ] {
            assert!(r.contains(&rule), "{rule} missing from {r:?}");
        }
        // Not running: no health verdict beyond "missing".
        assert!(!r.contains(&RuleId::RuntimeUnhealthy));
    }

    #[test]
    fn unhealthy_container_is_an_error_with_its_last_probe() {
        let fs = container(
            &sample("public-unhealthy"),
            &networks(),
            &RuntimeConfig::default(),
        );
        let f = fs
            .iter()
            .find(|f| f.rule == RuleId::RuntimeUnhealthy)
            .unwrap();
        assert_eq!(f.severity, Severity::Error);
        assert!(
            f.message.contains("unhealthy") && f.message.contains("exceeded timeout"),
            "{}",
            f.message
        );
        // [::1] binding is loopback; 0.0.0.0 and :: on 28794 are one finding.
        let ports: Vec<_> = fs
            .iter()
            .filter(|f| f.rule == RuleId::PortNotLoopback)
            .collect();
        assert_eq!(ports.len(), 1, "{ports:?}");
        assert!(ports[0].message.contains("0.0.0.0") && ports[0].message.contains("::"));
    }

    #[test]
    fn public_bind_consent_downgrades_and_isolated_profile_wants_internal() {
        let s = RuntimeConfig {
            allow_public_bind: true,
            profile: Profile::Isolated,
            ..RuntimeConfig::default()
        };
        let fs = container(&sample("public-unhealthy"), &networks(), &s);
        assert!(fs
            .iter()
            .filter(|f| f.rule == RuleId::PortNotLoopback)
            .all(|f| f.severity == Severity::Warning));
        let hard = container(&sample("hardened"), &networks(), &s);
        assert_eq!(
            hard.iter().map(|f| f.rule).collect::<Vec<_>>(),
            [RuleId::NetworkNotIsolated]
        );
    }

    #[test]
    fn isolated_profile_exempts_only_the_egress_service_from_internal_networks() {
        let s = RuntimeConfig {
            profile: Profile::Isolated,
            ..RuntimeConfig::default()
        };
        let mut egress = sample("hardened");
        egress.config.labels.insert(
            "com.docker.compose.service".into(),
            s.egress_service_name.clone(),
        );
        let rules: Vec<_> = container(&egress, &networks(), &s)
            .into_iter()
            .map(|f| f.rule)
            .collect();
        assert!(!rules.contains(&RuleId::NetworkNotIsolated), "{rules:?}");
        let gateway: Vec<_> = container(&sample("hardened"), &networks(), &s)
            .into_iter()
            .map(|f| f.rule)
            .collect();
        assert!(gateway.contains(&RuleId::NetworkNotIsolated), "{gateway:?}");
    }

    #[test]
    fn healthcheck_is_read_from_config_not_only_from_state() {
        // Created (never started): a configured healthcheck has no state yet.
        let mut c = sample("hardened");
        c.state = Default::default();
        let rules: Vec<_> = container(&c, &networks(), &RuntimeConfig::default())
            .into_iter()
            .map(|f| f.rule)
            .collect();
        assert!(
            rules.contains(&RuleId::RuntimeNotRunning)
                && !rules.contains(&RuleId::HealthcheckMissing),
            "{rules:?}"
        );
        // Disabled with NONE, even while the engine has no status.
        c.config.healthcheck = Some(crate::runtime::inspect::Healthcheck {
            test: vec!["NONE".into()],
        });
        let fs = container(&c, &networks(), &RuntimeConfig::default());
        assert!(fs
            .iter()
            .any(|f| f.rule == RuleId::HealthcheckMissing && f.message.contains("disabled")));
    }
}
