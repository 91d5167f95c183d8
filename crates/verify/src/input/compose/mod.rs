//! Compose model: one or more files, interpolated, merged the way compose merges `-f`
//! files (mappings merged key by key, sequences per compose's rules), each value keeping
//! the position of the file and line it came from.

pub mod expand;

use crate::input::interp::{interpolate_noting, Env, Missing};
use crate::input::yaml::{self, Node, Pos, Value};

/// A service after merging, with the position of its name.
#[derive(Debug, Clone)]
pub struct Service {
    pub name: String,
    pub pos: Pos,
    pub node: Node,
}

#[derive(Debug, Clone)]
pub struct Network {
    pub name: String,
    pub internal: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Compose {
    pub services: Vec<Service>,
    pub networks: Vec<Network>,
    /// How many services join the project's default network ([`Service::joins_default`]),
    /// counted once so per-service rules stay linear in the number of services.
    pub on_default_network: usize,
    /// Names of the services another service waits on to complete
    /// (`depends_on: {NAME: {condition: service_completed_successfully}}`).
    pub awaited: crate::hashing::Set<String>,
}

/// An error in one compose file.
#[derive(Debug)]
pub struct ComposeError {
    pub pos: Pos,
    pub message: String,
}

/// A required variable without a value, where the file references it.
#[derive(Debug, Clone)]
pub struct Unset {
    pub pos: Pos,
    pub missing: Missing,
}

/// Parses and interpolates one file (index `file` in the merge order); missing required
/// variables are left unset (see [`parse_file_noting`]).
pub fn parse_file(text: &str, file: usize, env: &Env) -> Result<Node, ComposeError> {
    parse_file_noting(text, file, env).map(|(n, _)| n)
}

/// Parses and interpolates one file; also returns each missing required variable
/// (`${VAR:?}`, `${VAR?}`) with its first position. Compose itself refuses such a file
/// only for want of a value in the environment, so verification continues with the
/// variable unset; malformed YAML or references are errors.
pub fn parse_file_noting(
    text: &str,
    file: usize,
    env: &Env,
) -> Result<(Node, Vec<Unset>), ComposeError> {
    let mut root = yaml::parse(text).map_err(|e| ComposeError {
        pos: e.pos,
        message: e.message,
    })?;
    if !matches!(root.value, Value::Map(_)) {
        return Err(ComposeError {
            pos: root.pos,
            message: "a compose file must be a mapping with `services:`".into(),
        });
    }
    let mut failure = None;
    let mut unset: Vec<Unset> = Vec::new();
    // Nothing to do for the first file when no scalar can hold a `$` (none written, and
    // no escape that could spell one).
    if file == 0 && memchr::memchr2(b'$', b'\\', text.as_bytes()).is_none() {
        return Ok((root, unset));
    }
    root.walk_mut(&mut |n| {
        n.pos.file = file;
        if let Value::Str(s) = &n.value {
            if s.bytes().any(|b| b == b'$') {
                let mut missing = Vec::new();
                match interpolate_noting(s, env, &mut missing) {
                    Ok(v) => {
                        n.raw = Some(s.clone());
                        n.value = Value::Str(v);
                    }
                    Err(e) if failure.is_none() => failure = Some((n.pos, e)),
                    Err(_) => {}
                }
                for m in missing {
                    if !unset.iter().any(|u| u.missing.name == m.name) {
                        unset.push(Unset {
                            pos: n.pos,
                            missing: m,
                        });
                    }
                }
            }
        }
    });
    if let Some((pos, message)) = failure {
        return Err(ComposeError { pos, message });
    }
    Ok((root, unset))
}

/// Merges `over` into `base` following compose's merge rules.
pub fn merge(base: &mut Node, over: Node, field: &str) {
    match (&mut base.value, over.value) {
        (Value::Map(b), Value::Map(o)) => {
            for (k, v) in o {
                let name = k.as_str().unwrap_or("").to_string();
                if let Some((_, bv)) = b.iter_mut().find(|(bk, _)| bk.as_str() == k.as_str()) {
                    merge(bv, v, &name);
                } else {
                    b.push((k, v));
                }
            }
        }
        (Value::Seq(b), Value::Seq(o)) if !matches!(field, "command" | "entrypoint" | "test") => {
            for item in o {
                let key = seq_key(field, &item);
                if let Some(existing) = b.iter_mut().find(|x| seq_key(field, x) == key) {
                    *existing = item;
                } else {
                    b.push(item);
                }
            }
        }
        (_, value) => {
            base.value = value;
            base.pos = over.pos;
            base.raw = over.raw;
        }
    }
}

/// Identity of a sequence item for merging: volumes by target, environment/labels by
/// name, everything else by its text.
fn seq_key(field: &str, item: &Node) -> String {
    let text = item.scalar().unwrap_or_default();
    match field {
        "volumes" | "devices" => match item.get("target") {
            Some(t) => t.scalar().unwrap_or_default(),
            None => text.split(':').nth(1).unwrap_or(&text).to_string(),
        },
        "environment" | "labels" | "args" => text.split('=').next().unwrap_or("").to_string(),
        "extra_hosts" => text.split([':', '=']).next().unwrap_or("").to_string(),
        _ => format!("{:?}", item.value),
    }
}

/// Builds the model from merged files.
pub fn model(root: &Node) -> Compose {
    into_model(root.clone())
}

/// Builds the model from merged files, moving the services out of the tree (no copy).
pub fn into_model(root: Node) -> Compose {
    let mut c = Compose::default();
    let Value::Map(mut top) = root.value else {
        return c;
    };
    // The entry a lookup by name sees (`Node::get`: the last of duplicates).
    let services = top
        .iter()
        .rposition(|(k, _)| k.as_str() == Some("services"))
        .map(|i| std::mem::replace(&mut top[i].1, Node::null()));
    if let Some(Node {
        value: Value::Map(services),
        ..
    }) = services
    {
        for (k, v) in services {
            c.services.push(Service {
                name: k.scalar().unwrap_or_default(),
                pos: k.pos,
                node: v,
            });
        }
    }
    let root = Node {
        value: Value::Map(top),
        pos: root.pos,
        raw: None,
    };
    if let Some(networks) = root.get("networks") {
        for (k, v) in networks.entries() {
            c.networks.push(Network {
                name: k.scalar().unwrap_or_default(),
                internal: v.get("internal").is_some_and(Node::is_true),
            });
        }
    }
    c.on_default_network = c.services.iter().filter(|s| s.joins_default()).count();
    for s in &c.services {
        let Some(deps) = s.get("depends_on") else {
            continue;
        };
        for (k, _) in deps.entries() {
            // `get` picks the entry a lookup by name sees (the last of duplicates).
            let waits = k.as_str().is_some_and(|name| {
                deps.get(name)
                    .and_then(|d| d.get("condition"))
                    .is_some_and(|c| {
                        c.scalar()
                            .unwrap_or_default()
                            .eq_ignore_ascii_case("service_completed_successfully")
                    })
            });
            if waits {
                c.awaited.insert(k.as_str().unwrap_or_default().to_string());
            }
        }
    }
    c
}

impl Service {
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.node.get(key)
    }

    /// Position to report a missing key at: the service name.
    pub fn at(&self, key: &str) -> Pos {
        self.node.key(key).map(|k| k.pos).unwrap_or(self.pos)
    }

    /// Names of the networks the service joins (empty: the default network).
    pub fn networks(&self) -> Vec<String> {
        match self.get("networks") {
            Some(n) => match &n.value {
                Value::Seq(s) => s.iter().filter_map(Node::scalar).collect(),
                Value::Map(m) => m.iter().filter_map(|(k, _)| k.scalar()).collect(),
                _ => Vec::new(),
            },
            None => Vec::new(),
        }
    }

    /// Whether the service joins the project's default network: no `networks:` and no
    /// `network_mode` other than `default`, or `default` listed in `networks:`.
    pub fn joins_default(&self) -> bool {
        let nets = self.networks();
        let mode = self
            .get("network_mode")
            .map(|n| n.scalar().unwrap_or_default());
        (nets.is_empty() && matches!(mode.as_deref(), None | Some("default")))
            || nets.iter().any(|n| n == "default")
    }

    /// `(name, value node)` pairs of a list-or-map field (environment, labels, args).
    pub fn pairs_of(node: &Node) -> Vec<(String, Node)> {
        match &node.value {
            Value::Map(m) => m
                .iter()
                .map(|(k, v)| (k.scalar().unwrap_or_default(), v.clone()))
                .collect(),
            Value::Seq(s) => s
                .iter()
                .filter_map(|item| {
                    let (k, v) = item.raw_str()?.split_once('=')?;
                    let n = Node {
                        value: Value::Str(v.to_string()),
                        pos: item.pos,
                        raw: None,
                    };
                    Some((k.to_string(), n))
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(files: &[&str]) -> Compose {
        let env = Env::from_map(
            [("HOST".to_string(), "127.0.0.1".to_string())]
                .into_iter()
                .collect(),
        );
        let mut nodes = files
            .iter()
            .enumerate()
            .map(|(i, t)| parse_file(t, i, &env).unwrap());
        let mut root = nodes.next().unwrap();
        for n in nodes {
            merge(&mut root, n, "");
        }
        model(&root)
    }

    #[test]
    fn merge_keeps_winning_position() {
        let c = load(&[
            "services:\n  app:\n    image: a:1\n    read_only: true\n    ports: [\"${HOST}:80:80\"]\n    cap_drop: [ALL]\n    environment:\n      - A=1\n",
            "services:\n  app:\n    read_only: false\n    ports: [\"0.0.0.0:81:81\"]\n    cap_drop: [ALL]\n    environment:\n      - A=2\n",
        ]);
        let app = &c.services[0];
        let ro = app.get("read_only").unwrap();
        assert!(!ro.is_true());
        assert_eq!((ro.pos.file, ro.pos.line), (1, 3));
        let ports = app.get("ports").unwrap().as_seq();
        assert_eq!(ports.len(), 2);
        assert_eq!(ports[0].as_str(), Some("127.0.0.1:80:80"));
        assert_eq!(ports[0].raw.as_deref(), Some("${HOST}:80:80"));
        assert_eq!(app.get("cap_drop").unwrap().as_seq().len(), 1);
        let env = app.get("environment").unwrap().as_seq();
        assert_eq!((env.len(), env[0].as_str()), (1, Some("A=2")));
    }

    #[test]
    fn missing_required_variable_is_unset_with_position() {
        let (node, unset) = parse_file_noting(
            "services:\n  a:\n    image: \"x:${NOPE:?set NOPE}\"\n    user: ${NOPE:?}\n",
            0,
            &Env::default(),
        )
        .unwrap();
        assert_eq!(unset.len(), 1);
        assert_eq!(
            (unset[0].pos.line, unset[0].missing.name.as_str()),
            (3, "NOPE")
        );
        let a = node.get("services").unwrap().get("a").unwrap();
        assert_eq!(a.get("image").unwrap().as_str(), Some("x:"));
        let e = parse_file_noting("services:\n  a:\n    image: \"${A\"\n", 0, &Env::default())
            .unwrap_err();
        assert_eq!(e.pos.line, 3);
    }
}
