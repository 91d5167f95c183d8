//! The verify crate's structure, checked from its sources (docs/architecture.md draws it).
//!
//! - No import circle. The graph has an edge `a -> b` for every `crate::b…` or
//!   `super::…` path in `a`, and for every use of a child module `b::…` that `a`
//!   declares. Edges between a module and its own ancestors are left out (a child may use
//!   what its parent holds in common, and a parent dispatches to its children); any other
//!   circle fails with its members.
//! - Layers: the top-level folders are the stages of the flow, bottom first
//!   ([`LAYERS`]); a module may use only its own folder and lower rows.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use regex::Regex;

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The rows of the verify section's layer drawing in docs/architecture.md, bottom first.
/// A new top-level module goes into this table and into the drawing.
const LAYERS: &[&[&str]] = &[
    &["vocab", "test_support"],
    &["input"],
    &["model"],
    &["rules"],
    &["report"],
    &["runtime"],
];

/// Every module file under `src`: module path (`input::yaml::fast`, `""` for lib.rs) ->
/// file. `main.rs` is a separate crate (the binary) and is left out.
fn modules(src: &Path) -> BTreeMap<String, PathBuf> {
    fn walk(dir: &Path, src: &Path, out: &mut BTreeMap<String, PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read src dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(&path, src, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path
                    .strip_prefix(src)
                    .expect("under src")
                    .with_extension("");
                let mut parts: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                if parts == ["main"] {
                    continue;
                }
                if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
                    parts.pop();
                }
                out.insert(parts.join("::"), path);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(src, src, &mut out);
    out
}

/// The longest known module that `path` (`a::b::item`) starts with.
fn resolve(mods: &BTreeMap<String, PathBuf>, path: &str) -> Option<String> {
    let segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    (1..=segs.len())
        .rev()
        .map(|n| segs[..n].join("::"))
        .find(|m| mods.contains_key(m))
}

fn is_ancestor(a: &str, b: &str) -> bool {
    a.is_empty() || b.starts_with(&format!("{a}::"))
}

/// The code of a file without its comments and without its trailing `#[cfg(test)]` module.
fn code_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("read source");
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

fn graph(src: &Path) -> Graph {
    let mods = modules(src);
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
fn circles(graph: &Graph) -> Vec<Vec<String>> {
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

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn verify_modules_have_no_import_circle() {
    let graph = graph(&src());
    assert!(graph.len() > 40, "too few modules found: {graph:?}");
    // The graph really is read: known edges are present.
    assert!(graph["input::project"].contains("input::compose::expand"));
    assert!(graph["input::yaml::fast"].contains("input::yaml::tree"));
    assert!(graph["rules::user_root"].contains("model::posture"));
    let found = circles(&graph);
    assert!(
        found.is_empty(),
        "import circles between verify modules (break them by moving the shared item down a layer):\n{}",
        found.iter().map(|c| c.join(" <-> ")).collect::<Vec<_>>().join("\n")
    );
}

fn layer_of(module: &str) -> Option<usize> {
    let top = module.split("::").next().unwrap_or("");
    LAYERS.iter().position(|row| row.contains(&top))
}

#[test]
fn stages_use_only_lower_layers() {
    let graph = graph(&src());
    assert!(graph["runtime::checks"].contains("rules"));
    let mut wrong = Vec::new();
    for (from, targets) in &graph {
        if from.is_empty() {
            continue; // lib.rs runs the pipeline: it uses every stage
        }
        let Some(lf) = layer_of(from) else {
            wrong.push(format!(
                "{from}: not in LAYERS (add it here and to docs/architecture.md)"
            ));
            continue;
        };
        for to in targets {
            if from.split("::").next() == to.split("::").next() {
                continue;
            }
            match layer_of(to) {
                Some(lt) if lt < lf => {}
                _ => wrong.push(format!("{from} -> {to}: not a lower layer")),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the verify layers of docs/architecture.md do not hold:\n{}",
        wrong.join("\n")
    );
}

/// The detector finds circles, including the two this layout broke (a parser and its
/// fast path over shared types; the loader and the settings over their error).
#[test]
fn the_detector_finds_a_circle() {
    let dir = std::env::temp_dir().join(format!("verify-module-graph-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("input/yaml")).unwrap();
    let files = [
        ("lib.rs", "pub mod input;\n"),
        ("input/mod.rs", "pub mod project;\npub mod settings;\npub mod yaml;\n"),
        ("input/project.rs", "pub struct InputError;\nuse crate::input::settings::S;\n"),
        ("input/settings.rs", "use crate::input::project::InputError;\n"),
        ("input/yaml/mod.rs", "pub mod fast;\npub struct Node;\n"),
        (
            "input/yaml/fast.rs",
            "use crate::input::yaml::Node;\n#[cfg(test)]\nmod tests { use crate::input::project; }\n",
        ),
    ];
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let graph = graph(&dir);
    let found = circles(&graph);
    let _ = std::fs::remove_dir_all(&dir);
    // fast -> yaml is a child using its parent: not a circle; the other pair is.
    assert_eq!(
        found,
        vec![vec![
            "input::project".to_string(),
            "input::settings".to_string()
        ]]
    );
}
