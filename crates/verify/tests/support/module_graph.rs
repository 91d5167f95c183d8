//! The module graph of a crate's `src/`, read from its sources, and its circles: an
//! edge `a -> b` for every `crate::b…` or `super::…` path in `a`, and for every use of a
//! child module `b::…` that `a` declares; edges between a module and its own ancestors
//! are left out (a child may use what its parent holds in common, and a parent
//! dispatches to its children). Included by path (`#[path]`) by the crates' layer tests
//! (`crates/verify/tests/layers.rs` and the xtask's `tests/architecture.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use regex::Regex;

pub type Graph = BTreeMap<String, BTreeSet<String>>;

/// Every module file under `src`: module path (`input::yaml::fast`, `""` for the crate
/// root `root_file`, e.g. `lib.rs` or `main.rs`) -> file. A top-level `lib.rs`/`main.rs`
/// other than `root_file` is another crate (a library's binary) and is left out.
pub fn modules(src: &Path, root_file: &str) -> BTreeMap<String, PathBuf> {
    fn walk(dir: &Path, src: &Path, root_file: &str, out: &mut BTreeMap<String, PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read src dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(&path, src, root_file, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(src).expect("under src");
                if rel.components().count() == 1
                    && matches!(rel.to_str(), Some("lib.rs" | "main.rs"))
                {
                    if rel.to_str() == Some(root_file) {
                        out.insert(String::new(), path.clone());
                    }
                    continue;
                }
                let mut parts: Vec<String> = rel
                    .with_extension("")
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                if parts.last().map(String::as_str) == Some("mod") {
                    parts.pop();
                }
                out.insert(parts.join("::"), path);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(src, src, root_file, &mut out);
    out
}

/// The longest known module that `path` (`a::b::item`) starts with.
pub fn resolve(mods: &BTreeMap<String, PathBuf>, path: &str) -> Option<String> {
    let segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    (1..=segs.len())
        .rev()
        .map(|n| segs[..n].join("::"))
        .find(|m| mods.contains_key(m))
}

pub fn is_ancestor(a: &str, b: &str) -> bool {
    a.is_empty() || b.starts_with(&format!("{a}::"))
}

/// The code of a file without its comments and without its trailing `#[cfg(test)]` module.
pub fn code_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("read source");
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn graph(src: &Path, root_file: &str) -> Graph {
    let mods = modules(src, root_file);
    let crate_path = Regex::new(r"\bcrate((?:::\w+)+)").unwrap();
    let crate_group = Regex::new(r"\bcrate::\{([^}]*)\}").unwrap();
    let super_path = Regex::new(r"\bsuper((?:::\w+)+)").unwrap();
    let child_decl = Regex::new(r"(?m)^\s*(?:pub(?:\([a-z]+\))?\s+)?mod (\w+);").unwrap();
    let mut graph = Graph::new();
    for (module, file) in &mods {
        let code = code_of(file);
        let segs: Vec<&str> = module.split("::").filter(|s| !s.is_empty()).collect();
        let parent = segs[..segs.len().saturating_sub(1)].join("::");
        let mut targets = BTreeSet::new();
        for c in crate_path.captures_iter(&code) {
            targets.extend(resolve(&mods, &c[1]));
        }
        for c in crate_group.captures_iter(&code) {
            for item in c[1].split(',') {
                targets.extend(resolve(&mods, item.trim()));
            }
        }
        for c in super_path.captures_iter(&code) {
            targets.extend(resolve(&mods, &format!("{parent}{}", &c[1])));
        }
        for c in child_decl.captures_iter(&code) {
            let child = if module.is_empty() {
                c[1].to_string()
            } else {
                format!("{module}::{}", &c[1])
            };
            let used = Regex::new(&format!(r"(?:^|[^\w:]){}::", &c[1])).unwrap();
            if mods.contains_key(&child) && used.is_match(&code) {
                targets.insert(child);
            }
        }
        targets.retain(|t| t != module && !is_ancestor(t, module) && !is_ancestor(module, t));
        graph.insert(module.clone(), targets);
    }
    graph
}

/// Strongly connected components with more than one member (Tarjan).
pub fn circles(graph: &Graph) -> Vec<Vec<String>> {
    struct State<'g> {
        graph: &'g Graph,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        for w in s.graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if s.stack.contains(&w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                s.out.push(comp);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
}
