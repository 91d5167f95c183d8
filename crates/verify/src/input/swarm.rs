//! Swarm mode: what `docker stack deploy` does with a compose file. It ignores some
//! service keys that `docker compose` honours (it prints "Ignoring unsupported options")
//! and, measured on engine 20.10, drops `host_ip` from `ports:` and publishes on every
//! interface. Verify removes those keys from the model before the rules run, so no rule
//! counts a setting Swarm will not apply, and reports each as `swarm-ignored-key`.
//!
//! Swarm mode is on with `--swarm`, or when a verified compose file is named
//! `docker-stack.yml` / `docker-stack.yaml` (the name `cargo xtask init --target swarm`
//! renders and the Docker docs use).

use std::path::Path;

use crate::input::yaml::{Node, Pos, Value};

/// Service keys `docker stack deploy` ignores (docker CLI for engine 20.10), with what
/// that means for the deployment.
pub const IGNORED_KEYS: &[(&str, &str)] = &[
    ("build", "the image must be built and pushed beforehand"),
    ("cgroupns_mode", "the cgroup namespace mode is not applied"),
    ("cgroup_parent", "the cgroup parent is not applied"),
    ("container_name", "Swarm names the task containers itself"),
    ("devices", "no device is mapped"),
    ("domainname", "the domain name is not set"),
    ("external_links", "no external link is created"),
    ("ipc", "the IPC namespace setting is not applied"),
    (
        "links",
        "no link is created (services on one network resolve each other by name)",
    ),
    ("mac_address", "the MAC address is not set"),
    (
        "network_mode",
        "the network mode is not applied (use networks:)",
    ),
    ("pid", "the PID namespace setting is not applied"),
    ("privileged", "the privileged setting is not applied"),
    ("restart", "use deploy.restart_policy instead"),
    (
        "security_opt",
        "no-new-privileges, seccomp and AppArmor options are not applied",
    ),
    ("shm_size", "the /dev/shm size is not applied"),
    ("userns_mode", "the user namespace mode is not applied"),
];

/// A key the stack file sets that Swarm does not apply.
#[derive(Debug, Clone, PartialEq)]
pub struct Ignored {
    pub service: String,
    /// `security_opt`, or `ports[].host_ip` for a host IP in a port.
    pub key: String,
    pub pos: Pos,
    pub why: String,
}

/// True when a compose file name says it is a Swarm stack file.
pub fn is_stack_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n == "docker-stack.yml" || n == "docker-stack.yaml")
}

/// Removes from every service of the merged compose tree what `docker stack deploy`
/// ignores, returning what was removed (in file order).
pub fn strip(root: &mut Node) -> Vec<Ignored> {
    let mut out = Vec::new();
    let Value::Map(top) = &mut root.value else {
        return out;
    };
    for (k, services) in top.iter_mut() {
        if k.as_str() != Some("services") {
            continue;
        }
        let Value::Map(services) = &mut services.value else {
            continue;
        };
        for (name, svc) in services.iter_mut() {
            let service = name.scalar().unwrap_or_default();
            let Value::Map(fields) = &mut svc.value else {
                continue;
            };
            fields.retain(|(key, _)| {
                let key_name = key.as_str().unwrap_or_default();
                match IGNORED_KEYS.iter().find(|(k, _)| *k == key_name) {
                    Some((k, why)) => {
                        out.push(Ignored {
                            service: service.clone(),
                            key: k.to_string(),
                            pos: key.pos,
                            why: why.to_string(),
                        });
                        false
                    }
                    None => true,
                }
            });
            for (key, value) in fields.iter_mut() {
                if key.as_str() == Some("ports") {
                    if let Value::Seq(ports) = &mut value.value {
                        for p in ports.iter_mut() {
                            if let Some(pos) = strip_host_ip(p) {
                                out.push(Ignored {
                                    service: service.clone(),
                                    key: "ports[].host_ip".into(),
                                    pos,
                                    why: "the port is published on every interface".into(),
                                });
                            }
                        }
                    }
                }
            }
        }
    }
    out.sort_by_key(|i| (i.pos.file, i.pos.line, i.pos.column));
    out
}

/// Drops the host IP of one `ports:` entry (short or long syntax); returns where it was.
fn strip_host_ip(p: &mut Node) -> Option<Pos> {
    match &mut p.value {
        Value::Map(m) => {
            let i = m.iter().position(|(k, _)| k.as_str() == Some("host_ip"))?;
            let (k, _) = m.remove(i);
            Some(k.pos)
        }
        Value::Str(s) => {
            let (spec, proto) = match s.split_once('/') {
                Some((a, b)) => (a.to_string(), Some(b.to_string())),
                None => (s.clone(), None),
            };
            let rest = if let Some(r) = spec.strip_prefix('[') {
                r.split_once("]:")?.1.to_string()
            } else {
                let parts: Vec<&str> = spec.split(':').collect();
                if parts.len() < 3 {
                    return None;
                }
                parts[parts.len() - 2..].join(":")
            };
            if p.raw.is_none() {
                p.raw = Some(s.clone());
            }
            *s = match proto {
                Some(proto) => format!("{rest}/{proto}"),
                None => rest,
            };
            Some(p.pos)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::yaml;

    #[test]
    fn strips_ignored_keys_and_host_ips_with_positions() {
        let mut root = yaml::parse(concat!(
            "services:\n",
            "  app:\n",
            "    image: a:1\n",
            "    security_opt: [\"no-new-privileges:true\"]\n",
            "    ports:\n",
            "      - \"127.0.0.1:80:80/tcp\"\n",
            "      - \"[::1]:81:81\"\n",
            "      - target: 82\n",
            "        host_ip: 127.0.0.1\n",
            "        published: 82\n",
            "      - \"83:83\"\n",
            "    restart: always\n",
            "    read_only: true\n",
        ))
        .unwrap();
        let ignored = strip(&mut root);
        let got: Vec<_> = ignored
            .iter()
            .map(|i| (i.key.as_str(), i.pos.line))
            .collect();
        assert_eq!(
            got,
            [
                ("security_opt", 4),
                ("ports[].host_ip", 6),
                ("ports[].host_ip", 7),
                ("ports[].host_ip", 9),
                ("restart", 12)
            ]
        );
        let app = root.get("services").unwrap().get("app").unwrap();
        assert!(app.get("security_opt").is_none() && app.get("restart").is_none());
        assert!(app.get("read_only").is_some_and(Node::is_true));
        let ports = app.get("ports").unwrap().as_seq();
        assert_eq!(ports[0].as_str(), Some("80:80/tcp"));
        assert_eq!(ports[0].raw.as_deref(), Some("127.0.0.1:80:80/tcp"));
        assert_eq!(ports[1].as_str(), Some("81:81"));
        assert!(ports[2].get("host_ip").is_none());
        assert_eq!(ports[3].as_str(), Some("83:83"));
    }

    #[test]
    fn stack_file_names() {
        assert!(is_stack_file(Path::new("x/docker-stack.yml")));
        assert!(is_stack_file(Path::new("docker-stack.yaml")));
        assert!(!is_stack_file(Path::new("docker-compose.yml")));
    }
}
