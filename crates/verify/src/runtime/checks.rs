//! Rules over one inspected container: the same rule ids as static verify, applied to
//! what the engine actually runs (so an override that undid hardening shows up).

use std::collections::{BTreeMap, BTreeSet};

use super::config::{Profile, RuntimeConfig};
use super::finding;
use super::inspect::{Container, Network};
use crate::catalog::RuleId;
use crate::defaults;
use crate::net::is_loopback;
use crate::{host_paths, secrets, Finding, Severity};
use crate::{posture, rules};

/// Every check on one container. `networks` maps network name to its inspect entry.
pub fn container(
    c: &Container,
    networks: &BTreeMap<String, Network>,
    s: &RuntimeConfig,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let name = c.name();
    let hc = &c.host_config;
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

    // Rules written once over the posture model (static verify runs the same ones).
    let w = posture::runtime::workload(c);
    for v in rules::judge_workload(&w) {
        push(v.rule, v.severity, v.message, v.evidence);
    }

    // Published ports: one finding per (container port, host port) bound beyond loopback.
    let mut public: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for (port, b) in c.published() {
        if !is_loopback(&b.host_ip) {
            let ip = if b.host_ip.is_empty() {
                "all interfaces".to_string()
            } else {
                b.host_ip.clone()
            };
            public.entry((port, b.host_port)).or_default().insert(ip);
        }
    }
    // Consent (`allow_public_bind`) lowers it to a warning, as in static verify.
    let public_sev = s.allow_public_bind.then_some(Severity::Warning);
    for ((port, host_port), ips) in &public {
        let ips: Vec<&str> = ips.iter().map(String::as_str).collect();
        push(
            RuleId::PortNotLoopback,
            public_sev,
            format!(
                "port {port} is published on {} (host port {host_port}); publish it on 127.0.0.1 only",
                ips.join(", ")
            ),
            Some(format!("{}:{host_port}->{port}", ips.join("|"))),
        );
    }
    if hc.publish_all_ports {
        push(
            RuleId::PortNotLoopback,
            public_sev,
            "every exposed port is published on all interfaces (PublishAllPorts)".into(),
            Some("PublishAllPorts=true".into()),
        );
    }

    // Networks: the default bridge is shared with every other container; the isolated
    // profile wants internal networks only; published ports on internal-only networks
    // are silently dropped by the engine.
    let names = c.network_names();
    if matches!(hc.network_mode.as_str(), "default" | "bridge") {
        push(
            RuleId::NetworkNotIsolated,
            None,
            "container is on the default bridge network shared with every other container".into(),
            Some(format!("NetworkMode={}", hc.network_mode)),
        );
    } else if s.profile == Profile::Isolated
        // The egress proxy service is the profile's one deliberate way out.
        && c.service() != Some(s.egress_service_name.as_str())
    {
        let open: Vec<&str> = names
            .iter()
            .filter(|n| !networks.get(*n).is_some_and(|net| net.internal))
            .map(String::as_str)
            .collect();
        if !open.is_empty() {
            push(
                RuleId::NetworkNotIsolated,
                None,
                format!(
                    "profile isolated, but network(s) {} are not internal",
                    open.join(", ")
                ),
                Some(format!("networks={}", open.join(","))),
            );
        }
    }
    let declared = hc.port_bindings.values().flatten().any(|v| !v.is_empty());
    if declared
        && !names.is_empty()
        && names
            .iter()
            .all(|n| networks.get(n).is_some_and(|net| net.internal))
    {
        push(
            RuleId::PortsOnInternalNetwork,
            None,
            format!(
                "ports are published but every network ({}) is internal: the engine drops them",
                names.join(", ")
            ),
            Some(format!("networks={}", names.join(","))),
        );
    }

    // Mounts.
    for m in &c.mounts {
        if m.kind != "bind" {
            continue;
        }
        let src = m.source.trim_end_matches('/');
        let src = if src.is_empty() { "/" } else { src };
        let ev = Some(format!(
            "{}:{}:{}",
            m.source,
            m.destination,
            if m.rw { "rw" } else { "ro" }
        ));
        if host_paths::is_engine_socket(src) {
            push(
                RuleId::SensitiveVolume,
                None,
                format!(
                    "engine socket {} is mounted: the container controls the host",
                    m.source
                ),
                ev,
            );
        } else if host_paths::is_sensitive(src) {
            push(
                RuleId::SensitiveVolume,
                (!m.rw).then_some(Severity::Warning),
                format!(
                    "sensitive host path {} is mounted {}",
                    m.source,
                    if m.rw { "writable" } else { "read-only" }
                ),
                ev,
            );
        } else if m.rw {
            push(
                RuleId::SensitiveVolume,
                Some(Severity::Warning),
                format!(
                    "host path {} is mounted writable at {}",
                    m.source, m.destination
                ),
                ev,
            );
        }
    }

    // Health. The container's Config.Healthcheck already includes the image's; the
    // engine only reports a health status once a container with one has started.
    let test = c
        .config
        .healthcheck
        .as_ref()
        .map(|h| h.test.as_slice())
        .unwrap_or(&[]);
    match (test.first().map(String::as_str), &c.state.health) {
        (Some("NONE"), _) => push(
            RuleId::HealthcheckMissing,
            None,
            "healthcheck is disabled (test NONE)".into(),
            None,
        ),
        (None, None) => push(
            RuleId::HealthcheckMissing,
            None,
            "container has no healthcheck (neither the image nor compose defines one)".into(),
            None,
        ),
        (_, Some(h)) if c.is_running() && h.status != "healthy" => {
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
        _ => {}
    }

    // Keys visible to anyone who can `docker inspect`: a finding only when the service
    // is configured for secrets; otherwise `env_file: .env` is the intended channel.
    if uses_secrets(c, s) {
        for (key, value) in secret_env(c, s) {
            push(
                RuleId::SecretInEnvironment,
                None,
                format!(
                    "{key} is in the container environment (visible to `docker inspect`) although the service reads its keys from /run/secrets; pass {key}_FILE instead"
                ),
                Some(format!("{key}={}", secrets::mask(value))),
            );
        }
    }

    out
}

/// Where Docker secrets are mounted in a container.
const SECRETS_DIR: &str = "/run/secrets";

/// True when the container is configured for Docker secrets: a mount at or below
/// `/run/secrets`, a `*_FILE` variable pointing there, or the `secrets` setting.
pub fn uses_secrets(c: &Container, s: &RuntimeConfig) -> bool {
    let under = |p: &str| p == SECRETS_DIR || p.starts_with(&format!("{SECRETS_DIR}/"));
    s.secrets
        || c.mounts
            .iter()
            .any(|m| under(m.destination.trim_end_matches('/')))
        || c.config.env.iter().any(|e| {
            e.split_once('=')
                .is_some_and(|(k, v)| k.ends_with("_FILE") && under(v))
        })
}

/// The token and provider-key variables with a real (non-placeholder) value in the
/// container's `Config.Env`.
pub fn secret_env<'c>(c: &'c Container, s: &RuntimeConfig) -> Vec<(&'c str, &'c str)> {
    let mut names: Vec<&str> = s.provider_key_vars.iter().map(String::as_str).collect();
    names.push(s.token_var.as_str());
    names.extend(defaults::TOKEN_VARS);
    c.config
        .env
        .iter()
        .filter_map(|e| e.split_once('='))
        .filter(|(k, v)| names.contains(k) && !v.is_empty() && !defaults::is_placeholder(v))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::inspect::parse_networks;
    use super::super::inspect::tests::sample;
    use super::*;

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
        assert!(uses_secrets(&clean, &RuntimeConfig::default()));
        assert!(container(&clean, &networks(), &RuntimeConfig::default()).is_empty());
        // The `secrets` setting alone also makes a key in the environment an error.
        let on = RuntimeConfig {
            secrets: true,
            ..RuntimeConfig::default()
        };
        let hard = sample("hardened");
        assert!(!uses_secrets(&hard, &RuntimeConfig::default()) && uses_secrets(&hard, &on));
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
        assert_eq!(
            sev(RuleId::SensitiveVolume, "/etc is mounted read-only"),
            Some(Severity::Warning)
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
        c.config.healthcheck = Some(super::super::inspect::Healthcheck {
            test: vec!["NONE".into()],
        });
        let fs = container(&c, &networks(), &RuntimeConfig::default());
        assert!(fs
            .iter()
            .any(|f| f.rule == RuleId::HealthcheckMissing && f.message.contains("disabled")));
    }
}
