//! Compose `include:` and `extends:`, resolved the way compose resolves them, over a
//! [`Source`] that opens further files (the file system for `verify`, memory for the fuzz
//! target). Every value keeps the position of the file that defines it, so a finding on
//! an inherited key points into the file that wrote it.
//!
//! Paths: each file's relative paths (`build`, `build.context`, `env_file`, bind mount
//! sources, `extends.file`, `include` entries) are rewritten relative to the project
//! directory when the file is opened ([`rebase`]), so the rules see one directory.

use crate::input::compose::{merge, ComposeError};
use crate::input::yaml::{Node, Pos, Value};

/// Most nested `include`/`extends` levels followed (compose has no limit; a cycle is an
/// error either way).
pub const MAX_DEPTH: usize = 16;

/// Opens compose files for [`expand`].
pub trait Source {
    /// Parses the compose file at `path` (relative to the project directory, `/`
    /// separated), interpolated with the variables of `env_file` (`None`: the main
    /// project's), with each node's `pos.file` set to the file's index. `Ok(None)`: no
    /// such file.
    fn open(&mut self, path: &str, env_file: Option<&str>) -> Result<Option<Node>, ComposeError>;
}

fn error(pos: Pos, message: String) -> ComposeError {
    ComposeError { pos, message }
}

/// Lexical `dir/rel` with `.` and `..` resolved (`..` above the project stays).
pub fn join(dir: &str, rel: &str) -> String {
    if rel.starts_with('/') || rel.starts_with('~') || rel.contains("://") {
        return rel.to_string();
    }
    let mut parts: Vec<&str> = Vec::new();
    for p in dir.split('/').chain(rel.split('/')) {
        match p {
            "" | "." => {}
            ".." if parts.last().is_some_and(|l| *l != "..") => {
                parts.pop();
            }
            _ => parts.push(p),
        }
    }
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

/// Directory part of a `/`-separated path (`""` for a bare name).
pub fn dir_of(path: &str) -> &str {
    path.rfind('/').map(|i| &path[..i]).unwrap_or("")
}

fn set_str(n: &mut Node, v: String) {
    if n.raw.is_none() {
        n.raw = n.as_str().map(str::to_owned);
    }
    n.value = Value::Str(v);
}

fn rebase_scalar(n: &mut Node, dir: &str) {
    if let Some(s) = n.as_str().map(str::to_owned) {
        set_str(n, join(dir, &s));
    }
}

/// Rewrites a file's relative paths to be relative to the project directory, for a file
/// in directory `dir` (see the module header). `dir` empty: nothing changes.
pub fn rebase(root: &mut Node, dir: &str) {
    if dir.is_empty() || dir == "." {
        return;
    }
    if let Value::Map(m) = &mut root.value {
        for (k, v) in m.iter_mut() {
            match k.as_str() {
                Some("services") => {
                    if let Value::Map(services) = &mut v.value {
                        for (_, s) in services.iter_mut() {
                            rebase_service(s, dir);
                        }
                    }
                }
                Some("include") => {
                    for item in seq_mut(v) {
                        if item.as_str().is_some() {
                            rebase_scalar(item, dir);
                        } else if let Value::Map(fields) = &mut item.value {
                            for (fk, fv) in fields.iter_mut() {
                                if matches!(
                                    fk.as_str(),
                                    Some("path" | "env_file" | "project_directory")
                                ) {
                                    if fv.as_str().is_some() {
                                        rebase_scalar(fv, dir);
                                    } else {
                                        seq_mut(fv).iter_mut().for_each(|p| rebase_scalar(p, dir));
                                    }
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

fn seq_mut(n: &mut Node) -> &mut [Node] {
    match &mut n.value {
        Value::Seq(s) => s,
        _ => &mut [],
    }
}

fn rebase_service(s: &mut Node, dir: &str) {
    let Value::Map(m) = &mut s.value else {
        return;
    };
    for (k, v) in m.iter_mut() {
        match k.as_str() {
            Some("build") => {
                if v.as_str().is_some() {
                    rebase_scalar(v, dir);
                } else if let Value::Map(b) = &mut v.value {
                    for (bk, bv) in b.iter_mut() {
                        if bk.as_str() == Some("context") {
                            rebase_scalar(bv, dir);
                        }
                    }
                }
            }
            Some("env_file") => {
                if v.as_str().is_some() {
                    rebase_scalar(v, dir);
                } else {
                    for e in seq_mut(v) {
                        if e.as_str().is_some() {
                            rebase_scalar(e, dir);
                        } else if let Value::Map(f) = &mut e.value {
                            for (fk, fv) in f.iter_mut() {
                                if fk.as_str() == Some("path") {
                                    rebase_scalar(fv, dir);
                                }
                            }
                        }
                    }
                }
            }
            Some("extends") => {
                if let Value::Map(f) = &mut v.value {
                    for (fk, fv) in f.iter_mut() {
                        if fk.as_str() == Some("file") {
                            rebase_scalar(fv, dir);
                        }
                    }
                }
            }
            Some("volumes") => {
                for vol in seq_mut(v) {
                    if let Some(text) = vol.as_str().map(str::to_owned) {
                        if let Some((src, rest)) = text.split_once(':') {
                            if src.starts_with('.') {
                                set_str(vol, format!("{}:{rest}", join(dir, src)));
                            }
                        }
                    } else if let Value::Map(f) = &mut vol.value {
                        for (fk, fv) in f.iter_mut() {
                            if fk.as_str() == Some("source")
                                && fv.as_str().is_some_and(|s| s.starts_with('.'))
                            {
                                rebase_scalar(fv, dir);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// One `include:` entry: the files (merged in order), their variables and directory.
struct Include {
    pos: Pos,
    paths: Vec<String>,
    env_file: Option<String>,
}

fn includes(root: &Node) -> Vec<Include> {
    let strings = |n: &Node| -> Vec<String> {
        match n.scalar() {
            Some(s) => vec![s],
            None => n.as_seq().iter().filter_map(Node::scalar).collect(),
        }
    };
    root.get("include")
        .map(|inc| {
            inc.as_seq()
                .iter()
                .map(|item| match item.scalar() {
                    Some(p) => Include {
                        pos: item.pos,
                        paths: vec![p],
                        env_file: None,
                    },
                    None => {
                        let paths = item.get("path").map(strings).unwrap_or_default();
                        let env_file = item.get("env_file").and_then(|e| strings(e).pop());
                        let dir = item
                            .get("project_directory")
                            .and_then(Node::scalar)
                            .or_else(|| paths.first().map(|p| dir_of(p).to_string()));
                        Include {
                            pos: item.pos,
                            env_file: env_file.or_else(|| dir.map(|d| join(&d, ".env"))),
                            paths,
                        }
                    }
                })
                .map(|mut i| {
                    if i.env_file.is_none() {
                        i.env_file = i.paths.first().map(|p| join(dir_of(p), ".env"));
                    }
                    i
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Resolves `include:` (recursively) and then every service's `extends:` in `root`, a
/// merged document of the main project. Errors are what compose rejects too: a missing
/// included or extended file or service, a cycle, a service defined twice.
pub fn expand(root: &mut Node, src: &mut dyn Source) -> Result<(), ComposeError> {
    let mut budget = Budget {
        inner: src,
        left: MAX_OPENS,
    };
    expand_at(root, &mut budget, None, &mut Vec::new())?;
    Ok(())
}

/// Most files opened for one project (repeated includes of includes grow as a tree).
pub const MAX_OPENS: usize = 256;

/// A [`Source`] that refuses more than [`MAX_OPENS`] opens.
struct Budget<'a> {
    inner: &'a mut dyn Source,
    left: usize,
}

impl Source for Budget<'_> {
    fn open(&mut self, path: &str, env_file: Option<&str>) -> Result<Option<Node>, ComposeError> {
        if self.left == 0 {
            return Err(error(
                Pos::default(),
                format!("more than {MAX_OPENS} include/extends files opened (at {path})"),
            ));
        }
        self.left -= 1;
        self.inner.open(path, env_file)
    }
}

fn expand_at(
    root: &mut Node,
    src: &mut dyn Source,
    env_file: Option<&str>,
    stack: &mut Vec<String>,
) -> Result<(), ComposeError> {
    if stack.len() > MAX_DEPTH {
        return Err(error(root.pos, "include/extends nested too deeply".into()));
    }
    for inc in includes(root) {
        let mut merged: Option<Node> = None;
        for path in &inc.paths {
            if stack.contains(path) {
                return Err(error(inc.pos, format!("include cycle through {path}")));
            }
            let node = src
                .open(path, inc.env_file.as_deref())?
                .ok_or_else(|| error(inc.pos, format!("included file {path} not found")))?;
            match &mut merged {
                Some(m) => merge(m, node, ""),
                None => merged = Some(node),
            }
        }
        let Some(mut doc) = merged else { continue };
        stack.push(inc.paths.join(","));
        expand_at(&mut doc, src, inc.env_file.as_deref(), stack)?;
        stack.pop();
        add_included(root, doc, inc.pos)?;
    }
    if let Value::Map(m) = &mut root.value {
        m.retain(|(k, _)| k.as_str() != Some("include"));
    }
    resolve_extends(root, src, env_file, stack)
}

/// Adds an included document's services, networks, volumes, secrets and configs.
fn add_included(root: &mut Node, doc: Node, at: Pos) -> Result<(), ComposeError> {
    let Value::Map(m) = &mut root.value else {
        return Ok(());
    };
    let Value::Map(items) = doc.value else {
        return Ok(());
    };
    for (k, v) in items {
        let Some(section) = k.as_str().map(str::to_owned) else {
            continue;
        };
        if !matches!(
            section.as_str(),
            "services" | "networks" | "volumes" | "secrets" | "configs"
        ) {
            continue;
        }
        let target = match m.iter().position(|(mk, _)| mk.as_str() == Some(&section)) {
            Some(i) => &mut m[i].1,
            None => {
                m.push((
                    k.clone(),
                    Node {
                        value: Value::Map(Vec::new()),
                        pos: k.pos,
                        raw: None,
                    },
                ));
                let last = m.len() - 1;
                &mut m[last].1
            }
        };
        if !matches!(target.value, Value::Map(_)) {
            target.value = Value::Map(Vec::new());
        }
        let Value::Map(existing) = &mut target.value else {
            continue;
        };
        for (name, def) in v.entries().iter().cloned() {
            if existing.iter().any(|(e, _)| e.as_str() == name.as_str()) {
                if section == "services" {
                    return Err(error(
                        at,
                        format!(
                            "included service {} conflicts with a service of the same name",
                            name.scalar().unwrap_or_default()
                        ),
                    ));
                }
                continue;
            }
            existing.push((name, def));
        }
    }
    Ok(())
}

/// `(file, service)` an `extends:` names (`file` `None`: the same document).
fn extends_of(service: &Node) -> Option<(Option<String>, String, Pos)> {
    let e = service.get("extends")?;
    match e.scalar() {
        Some(name) => Some((None, name, e.pos)),
        None => Some((
            e.get("file").and_then(Node::scalar),
            e.get("service").and_then(Node::scalar)?,
            e.pos,
        )),
    }
}

/// Replaces every service that `extends:` another by the merge of its base and itself.
fn resolve_extends(
    root: &mut Node,
    src: &mut dyn Source,
    env_file: Option<&str>,
    stack: &mut Vec<String>,
) -> Result<(), ComposeError> {
    // A service without `extends:` resolves to itself: only the others are looked up and
    // copied (looking up every service by name made this quadratic in the services).
    let entries = root.get("services").map(Node::entries).unwrap_or_default();
    let mut count: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (k, _) in entries {
        if let Some(n) = k.as_str() {
            *count.entry(n).or_default() += 1;
        }
    }
    let names: Vec<String> = entries
        .iter()
        .filter(|(k, v)| {
            let alone = k.as_str().is_some_and(|n| count.get(n) == Some(&1));
            !(alone && extends_of(v).is_none())
        })
        .filter_map(|(k, _)| k.scalar())
        .collect();
    for name in names {
        let mut visiting = Vec::new();
        let resolved = resolved_service(root, &name, src, env_file, stack, &mut visiting)?;
        if let Some(services) = services_mut(root) {
            if let Some((_, v)) = services.iter_mut().find(|(k, _)| k.as_str() == Some(&name)) {
                *v = resolved;
            }
        }
    }
    Ok(())
}

fn services_mut(root: &mut Node) -> Option<&mut Vec<(Node, Node)>> {
    let Value::Map(m) = &mut root.value else {
        return None;
    };
    let (_, s) = m.iter_mut().find(|(k, _)| k.as_str() == Some("services"))?;
    match &mut s.value {
        Value::Map(services) => Some(services),
        _ => None,
    }
}

/// The service `name` of `doc` with its `extends` chain applied.
fn resolved_service(
    doc: &Node,
    name: &str,
    src: &mut dyn Source,
    env_file: Option<&str>,
    stack: &mut Vec<String>,
    visiting: &mut Vec<String>,
) -> Result<Node, ComposeError> {
    let service = doc
        .get("services")
        .and_then(|s| s.get(name))
        .cloned()
        .ok_or_else(|| error(doc.pos, format!("extended service {name} not found")))?;
    let Some((file, base_name, pos)) = extends_of(&service) else {
        return Ok(service);
    };
    if visiting.len() > MAX_DEPTH || visiting.iter().any(|v| v == name) {
        return Err(error(pos, format!("extends cycle through service {name}")));
    }
    visiting.push(name.to_string());
    let base = match &file {
        None => resolved_service(doc, &base_name, src, env_file, stack, visiting)?,
        Some(path) => {
            if stack.len() > MAX_DEPTH || stack.iter().filter(|s| *s == path).count() > 1 {
                return Err(error(pos, format!("extends cycle through {path}")));
            }
            let other = src
                .open(path, env_file)?
                .ok_or_else(|| error(pos, format!("extended file {path} not found")))?;
            stack.push(path.clone());
            let mut fresh = Vec::new();
            let r = resolved_service(&other, &base_name, src, env_file, stack, &mut fresh).map_err(
                |e| ComposeError {
                    pos: if e.message.contains("not found") {
                        pos
                    } else {
                        e.pos
                    },
                    message: e.message,
                },
            );
            stack.pop();
            r?
        }
    };
    visiting.pop();
    let mut own = service;
    if let Value::Map(m) = &mut own.value {
        m.retain(|(k, _)| k.as_str() != Some("extends"));
    }
    let mut out = base;
    // The result is the extending service: its own position, the base's keys below it.
    out.pos = own.pos;
    merge(&mut out, own, "");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::compose::{model, parse_file};
    use crate::input::interp::Env;
    use std::collections::HashMap;

    /// In-memory files; index = position in `order` + 1 (0 is the main file).
    struct Mem {
        files: HashMap<String, String>,
        order: Vec<String>,
    }

    impl Source for Mem {
        fn open(&mut self, path: &str, _env: Option<&str>) -> Result<Option<Node>, ComposeError> {
            let Some(text) = self.files.get(path) else {
                return Ok(None);
            };
            let idx = match self.order.iter().position(|p| p == path) {
                Some(i) => i + 1,
                None => {
                    self.order.push(path.to_string());
                    self.order.len()
                }
            };
            let mut n = parse_file(text, idx, &Env::default())?;
            rebase(&mut n, dir_of(path));
            Ok(Some(n))
        }
    }

    fn run(main: &str, others: &[(&str, &str)]) -> Result<(Node, Vec<String>), ComposeError> {
        let mut mem = Mem {
            files: others
                .iter()
                .map(|(p, t)| (p.to_string(), t.to_string()))
                .collect(),
            order: Vec::new(),
        };
        let mut root = parse_file(main, 0, &Env::default()).unwrap();
        expand(&mut root, &mut mem)?;
        Ok((root, mem.order))
    }

    #[test]
    fn extends_in_the_same_and_another_file_keeps_defining_positions() {
        let main = "services:\n  base:\n    image: a:1\n    read_only: true\n  web:\n    extends: base\n    ports: [\"127.0.0.1:80:80\"]\n  job:\n    extends:\n      file: common/base.yml\n      service: hardened\n    image: b:2\n";
        let common = "services:\n  hardened:\n    read_only: true\n    cap_drop: [ALL]\n    build: ./ctx\n    volumes:\n      - ./data:/data:ro\n";
        let (root, order) = run(main, &[("common/base.yml", common)]).unwrap();
        assert_eq!(order, ["common/base.yml"]);
        let c = model(&root);
        let web = c.services.iter().find(|s| s.name == "web").unwrap();
        assert!(web.get("extends").is_none());
        let ro = web.get("read_only").unwrap();
        assert_eq!((ro.pos.file, ro.pos.line), (0, 4));
        assert_eq!(web.get("image").unwrap().as_str(), Some("a:1"));
        let job = c.services.iter().find(|s| s.name == "job").unwrap();
        let cd = job.get("cap_drop").unwrap();
        assert_eq!((cd.pos.file, cd.pos.line), (1, 4));
        assert_eq!(job.get("image").unwrap().as_str(), Some("b:2"));
        assert_eq!(job.get("build").unwrap().as_str(), Some("common/ctx"));
        let vol = &job.get("volumes").unwrap().as_seq()[0];
        assert_eq!(vol.as_str(), Some("common/data:/data:ro"));
        assert_eq!((job.pos.line, job.pos.file), (8, 0));
    }

    #[test]
    fn include_adds_services_with_their_positions() {
        let main = "include:\n  - path: sub/compose.yaml\nservices:\n  app:\n    image: a:1\n";
        let sub = "services:\n  worker:\n    image: w:1\n    privileged: true\n    env_file: ./w.env\nnetworks:\n  back:\n    internal: true\n";
        let (root, _) = run(main, &[("sub/compose.yaml", sub)]).unwrap();
        assert!(root.get("include").is_none());
        let c = model(&root);
        let w = c.services.iter().find(|s| s.name == "worker").unwrap();
        let p = w.get("privileged").unwrap();
        assert_eq!((p.pos.file, p.pos.line), (1, 4));
        assert_eq!(w.get("env_file").unwrap().as_str(), Some("sub/w.env"));
        assert!(c.networks.iter().any(|n| n.name == "back" && n.internal));
    }

    #[test]
    fn what_compose_rejects_is_an_error() {
        let cyc = "services:\n  a:\n    extends: b\n  b:\n    extends: a\n";
        assert!(run(cyc, &[]).unwrap_err().message.contains("cycle"));
        let missing = "services:\n  a:\n    extends: nope\n";
        assert!(run(missing, &[]).unwrap_err().message.contains("not found"));
        let nofile = "include:\n  - gone.yml\nservices: {}\n";
        assert!(run(nofile, &[]).unwrap_err().message.contains("not found"));
        let dup = "include:\n  - o.yml\nservices:\n  a:\n    image: x:1\n";
        let e = run(dup, &[("o.yml", "services:\n  a:\n    image: y:1\n")]).unwrap_err();
        assert!(e.message.contains("conflicts"));
        let selfinc = "include:\n  - o.yml\nservices: {}\n";
        let e = run(selfinc, &[("o.yml", "include:\n  - o.yml\nservices: {}\n")]).unwrap_err();
        assert!(e.message.contains("cycle"), "{e:?}");
        // A tree of includes (each file includes the next one twice) stops at the budget.
        let mut tree: Vec<(String, String)> = (0..12)
            .map(|i| {
                (
                    format!("f{i}.yml"),
                    format!("include: [f{0}.yml, f{0}.yml]\nservices: {{}}\n", i + 1),
                )
            })
            .collect();
        tree.push(("f12.yml".into(), "services: {}\n".into()));
        let refs: Vec<(&str, &str)> = tree.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let e = run("include: [f0.yml]\nservices: {}\n", &refs).unwrap_err();
        assert!(e.message.contains("more than"), "{e:?}");
        let fcycle = "services:\n  a:\n    extends: {file: o.yml, service: b}\n";
        let other = "services:\n  b:\n    extends: {file: o.yml, service: c}\n  c:\n    extends: {file: o.yml, service: b}\n";
        assert!(run(fcycle, &[("o.yml", other)]).is_err());
    }

    #[test]
    fn join_is_lexical() {
        assert_eq!(join("sub", "./ctx"), "sub/ctx");
        assert_eq!(join("sub", "../x"), "x");
        assert_eq!(join("", "../x"), "../x");
        assert_eq!(join("a/b", "."), "a/b");
        assert_eq!(join("sub", "/abs"), "/abs");
        assert_eq!(join("", "."), ".");
    }
}
