//! The workspace's structure, checked from its sources (docs/architecture.md describes
//! it). One function reads a crate's module graph ([`crate_graph`]); the checks below
//! apply it per crate: the xtask and the service (`src/`).
//!
//! - No import circle in any crate. The graph: an edge `a -> b` for every `crate::b…` or `super::…`
//!   path, and for every use of a child module `b::…` that `a` declares. Edges between a
//!   module and its own ancestors are not counted (a child may use what its parent module
//!   holds in common, and the parent dispatches to its children); any other circle fails
//!   with its members.
//! - Layers: the top-level modules of a crate (and the children of the gateway) use
//!   only modules of a lower row of their `LAYERS` table, which is the drawing of
//!   docs/architecture.md.
//! - One place for the workspace facts: the musl triple is typed, and the root is
//!   computed from `CARGO_MANIFEST_DIR`, only in `src/workspace.rs` (the tests' support
//!   module includes that file). `src/verify/` is left out: it becomes its own crate.
//! - One way to run a program: only the task runner's `src/tasks/command.rs` starts
//!   processes; any other file of `src/` that uses `xshell` (`cmd!`, `Shell::new`) or
//!   `std::process::Command` fails, so `--dry-run`, the plan lines and the log's `$` lines
//!   cannot miss a command.

mod support;

use std::path::{Path, PathBuf};

use regex::Regex;

/// The module graph and its circles: one implementation, shared with the verify
/// crate's layer test.
#[path = "../../crates/verify/tests/support/module_graph.rs"]
mod module_graph;

use module_graph::{circles, Graph};

/// A crate's module graph from its source folder and root file (`main.rs`, `lib.rs`).
fn graph_of(src: &Path) -> Graph {
    let root = if src.join("lib.rs").exists() {
        "lib.rs"
    } else {
        "main.rs"
    };
    module_graph::graph(src, root)
}

/// The module graph of one crate of the workspace, from its source folder (`xtask/src`).
fn crate_graph(src: &str) -> Graph {
    graph_of(&support::repo_root().join(src))
}

/// Fails with the members of every import circle in `graph`.
fn assert_no_circle(what: &str, graph: &Graph) {
    let found = circles(graph);
    assert!(
        found.is_empty(),
        "import circles between {what} modules (break them by moving the shared item down a layer):\n{}",
        found
            .iter()
            .map(|c| c.join(" <-> "))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn xtask_modules_have_no_import_circle() {
    let graph = crate_graph("xtask/src");
    assert!(graph.len() > 20, "too few modules found: {graph:?}");
    // The graph really is read: known edges are present.
    assert!(graph["build"].contains("workspace"), "{:?}", graph["build"]);
    assert!(graph["init::render"].contains("init::files"));
    assert_no_circle("xtask", &graph);
}

#[test]
fn service_modules_have_no_import_circle() {
    let graph = crate_graph("src");
    assert!(graph.len() > 40, "too few modules found: {graph:?}");
    assert!(graph["gateway::runs"].contains("gateway::events"));
    assert!(graph["egress"].contains("signals"));
    assert_no_circle("service", &graph);
}

/// The rows of the xtask's layer drawing in docs/architecture.md, bottom first: a
/// top-level module may use only modules of a lower row. A new top-level module goes
/// into this table and into the drawing.
const XTASK_LAYERS: &[&[&str]] = &[
    &["settings", "workspace", "tempdir"],
    &["verify"],
    &["tasks"],
    &["engine"],
    &["image", "provision", "sbom"],
    &["init"],
    &["openclaw"],
    &["build", "test", "audit"],
    &["demo", "dist"],
    &["bench"],
];

/// The rows of the service's drawing (`src/`), bottom first.
const SERVICE_LAYERS: &[&[&str]] = &[
    &["lock"],
    &[
        "config",
        "protocol",
        "fdlimit",
        "signals",
        "evict_pool",
        "prometheus",
    ],
    &["logring"],
    &["logging"],
    &["providers"],
    &["sessions"],
    &["gateway", "egress"],
    &["openai"],
    &["selfcheck", "healthcheck"],
    &["status"],
    &["cli"],
];

/// The rows of the gateway's drawing (`src/gateway/`), bottom first. `gateway` itself
/// (mod.rs) holds the state every layer shares and is left out.
const GATEWAY_LAYERS: &[&[&str]] = &[
    &["limits", "auth", "scopes"],
    &["admission", "transport", "store_error"],
    &["conns"],
    &["events", "quota"],
    &["runs"],
    &["methods"],
    &["metrics"],
    &["ws"],
    &["http", "listener"],
    &["startup"],
];

/// The first segment of `module` below `scope` (`""`: the crate root), if under it.
fn top_in<'m>(module: &'m str, scope: &str) -> Option<&'m str> {
    let rest = if scope.is_empty() {
        module
    } else {
        module.strip_prefix(scope)?.strip_prefix("::")?
    };
    rest.split("::").next().filter(|s| !s.is_empty())
}

/// Every edge between two different modules directly under `scope` that does not go
/// to a lower row of `layers`, and every such module missing from `layers`.
fn layer_violations(graph: &Graph, scope: &str, layers: &[&[&str]]) -> Vec<String> {
    let row = |top: &str| layers.iter().position(|r| r.contains(&top));
    let mut wrong = Vec::new();
    for (from, targets) in graph {
        let Some(top_from) = top_in(from, scope) else {
            continue; // the scope itself (main.rs, lib.rs, a mod.rs) or outside it
        };
        let Some(lf) = row(top_from) else {
            wrong.push(format!(
                "{from}: not in LAYERS (add it here and to docs/architecture.md)"
            ));
            continue;
        };
        for to in targets {
            let Some(top_to) = top_in(to, scope) else {
                continue;
            };
            if top_to == top_from {
                continue;
            }
            match row(top_to) {
                Some(lt) if lt < lf => {}
                _ => wrong.push(format!("{from} -> {to}: not a lower layer")),
            }
        }
    }
    wrong
}

fn assert_layers(graph: &Graph, scope: &str, layers: &[&[&str]]) {
    let wrong = layer_violations(graph, scope, layers);
    assert!(
        wrong.is_empty(),
        "the layers of docs/architecture.md do not hold:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn top_level_modules_use_only_lower_layers() {
    let graph = crate_graph("xtask/src");
    assert!(graph["demo"].contains("build") && graph["build"].contains("tasks"));
    assert_layers(&graph, "", XTASK_LAYERS);
}

#[test]
fn service_modules_use_only_lower_layers() {
    let graph = crate_graph("src");
    assert!(
        graph["cli"].contains("gateway")
            && graph["gateway::ws::handshake"].contains("gateway::methods")
    );
    assert_layers(&graph, "", SERVICE_LAYERS);
    assert_layers(&graph, "gateway", GATEWAY_LAYERS);
}

#[test]
fn an_upward_use_breaks_the_layers() {
    let mut graph = crate_graph("src");
    let runs = graph.get_mut("gateway::runs").expect("the run engine");
    runs.insert("gateway::methods".to_string());
    assert_eq!(
        layer_violations(&graph, "gateway", GATEWAY_LAYERS),
        vec!["gateway::runs -> gateway::methods: not a lower layer".to_string()]
    );
}

/// docs/architecture.md's service section, from its heading to the next one.
fn service_section() -> String {
    let doc = std::fs::read_to_string(support::repo_root().join("docs/architecture.md"))
        .expect("read docs/architecture.md");
    let start = doc
        .find("## Service (`src/`)")
        .expect("docs/architecture.md has the service section");
    let section = &doc[start..];
    let end = section[3..].find("\n## ").map_or(section.len(), |e| e + 3);
    section[..end].to_string()
}

#[test]
fn the_service_section_names_every_file_and_layer() {
    let section = service_section();
    let src = support::repo_root().join("src");
    let mut missing = Vec::new();
    for (module, file) in module_graph::modules(&src, "lib.rs") {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        // A folder's mod.rs is named by its folder (`gateway/`).
        let named = if name == "mod.rs" {
            let dir = module.rsplit("::").next().unwrap_or("");
            section.contains(&format!("{dir}/"))
        } else {
            section.contains(&name)
        };
        if !named && name != "lib.rs" {
            missing.push(file.display().to_string());
        }
    }
    for row in SERVICE_LAYERS.iter().chain(GATEWAY_LAYERS) {
        for module in *row {
            if !section.contains(&format!("{module}.rs"))
                && !section.contains(&format!("{module}/"))
            {
                missing.push(format!("layer module {module}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/architecture.md's service section does not name: {missing:?}"
    );
}

#[test]
fn the_detector_finds_a_circle() {
    let dir = std::env::temp_dir().join(format!("xtask-module-graph-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("init")).unwrap();
    std::fs::write(dir.join("main.rs"), "mod a;\nmod b;\nmod init;\n").unwrap();
    std::fs::write(dir.join("a.rs"), "use crate::b::thing;\n").unwrap();
    std::fs::write(dir.join("b.rs"), "pub fn f() { crate::a::g() }\n").unwrap();
    std::fs::write(
        dir.join("init/mod.rs"),
        "mod x;\nmod y;\nfn f() { x::g() }\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("init/x.rs"),
        "use super::y::Z;\nuse super::Shared;\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("init/y.rs"),
        "use super::x::W;\n#[cfg(test)]\nmod tests { use crate::a; }\n",
    )
    .unwrap();
    let found = circles(&graph_of(&dir));
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        found,
        vec![
            vec!["a".to_string(), "b".to_string()],
            vec!["init::x".to_string(), "init::y".to_string()]
        ]
    );
}

/// Every `.rs` file under `dir`, except those under `skip`.
fn rust_files(dir: &Path, skip: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("dir entry").path();
        if path.starts_with(skip) {
            continue;
        }
        if path.is_dir() {
            rust_files(&path, skip, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn workspace_facts_are_written_in_one_place() {
    let xtask = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&xtask.join("src"), &xtask.join("src/verify"), &mut files);
    rust_files(
        &xtask.join("tests"),
        &xtask.join("tests/fixtures"),
        &mut files,
    );
    assert!(files.len() > 40, "{files:?}");
    let this = xtask.join("tests/architecture.rs");
    let workspace = xtask.join("src/workspace.rs");
    let triple = ["x86_64", "unknown-linux-musl"].join("-");
    let root_from_manifest =
        Regex::new(r#"CARGO_MANIFEST_DIR"\)\)?\s*(\.parent\(\)|\.join\("\.\."\))"#).unwrap();
    let mut found = Vec::new();
    for file in files.iter().filter(|f| **f != this && **f != workspace) {
        let text = std::fs::read_to_string(file).expect("read source");
        if text.contains(&triple) {
            found.push(format!(
                "{}: the musl triple (use workspace::MUSL_TARGET)",
                file.display()
            ));
        }
        if root_from_manifest.is_match(&text) {
            found.push(format!(
                "{}: computes the workspace root (use workspace::root())",
                file.display()
            ));
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
    // The checks can fire: the one place has both.
    let text = std::fs::read_to_string(&workspace).unwrap();
    assert!(text.contains(&triple) && root_from_manifest.is_match(&text));
    assert_eq!(support::MUSL_TARGET, triple);
    let root = support::repo_root();
    assert!(root.is_absolute() && root.join("xtask/Cargo.toml").is_file());
    assert!(root.join("Cargo.toml").is_file());
}

/// The ways of starting a process other than the runner's `Command` found in `code`.
fn raw_process_calls(code: &str) -> Vec<&'static str> {
    let patterns: [(&str, &str); 4] = [
        (r"\bcmd!\s*\(", "xshell's cmd!"),
        (r"\bShell::new\b", "xshell's Shell::new"),
        (r"\bxshell::", "xshell"),
        (
            r"\bprocess::(Command\b|\{[^}]*\bCommand\b)",
            "std::process::Command",
        ),
    ];
    patterns
        .into_iter()
        .filter(|(re, _)| Regex::new(re).unwrap().is_match(code))
        .map(|(_, what)| what)
        .collect()
}

#[test]
fn external_programs_run_only_through_the_runner() {
    let xtask = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&xtask.join("src"), &xtask.join("src/verify"), &mut files);
    let runner = xtask.join("src/tasks/command.rs");
    assert!(files.contains(&runner), "{files:?}");
    let mut found = Vec::new();
    for file in files.iter().filter(|f| **f != runner) {
        // Tests included: a test module starts its programs the same way.
        let text = std::fs::read_to_string(file).expect("read source");
        let code: String = text
            .lines()
            .map(|l| l.split("//").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        for what in raw_process_calls(&code) {
            found.push(format!(
                "{}: {what} (run programs with tasks::Command)",
                file.display()
            ));
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
    // The check can fire: each way is recognised, and the runner itself uses one.
    for sample in [
        "let out = cmd!(sh, \"docker ps\").read()?;",
        "let sh = Shell::new()?;",
        "use xshell::Cmd;",
        "let c = std::process::Command::new(\"ls\");",
        "use std::process::{Child, Command, Stdio};",
    ] {
        assert_eq!(raw_process_calls(sample).len(), 1, "{sample}");
    }
    assert!(raw_process_calls("use std::process::{Child, Stdio};").is_empty());
    let runner_code = std::fs::read_to_string(&runner).unwrap();
    assert!(!raw_process_calls(&runner_code).is_empty());
}

/// The fixed bounds written outside their module in `code` (a source file's text before
/// its `#[cfg(test)]` module): a numeric or `Duration` constant, or a `Duration` built
/// from a literal.
fn stray_bounds(code: &str) -> Vec<String> {
    let constant = Regex::new(
        r"\bconst [A-Z0-9_]+\s*:\s*(usize|u64|u32|u16|u8|i64|i32|f64|libc::c_int|(std::time::)?Duration)\b",
    )
    .unwrap();
    let duration = Regex::new(r"Duration::from_(secs|millis|micros|nanos)\(\s*[0-9]").unwrap();
    let code = code.split("#[cfg(test)]").next().unwrap_or("");
    code.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .filter(|(_, l)| constant.is_match(l) || duration.is_match(l))
        .map(|(i, l)| format!("{}: {}", i + 1, l.trim()))
        .collect()
}

/// docs/architecture.md: every fixed bound of the gateway is a named constant in
/// `src/gateway/limits.rs`, the egress proxy's in `src/egress/bounds.rs`, the
/// OpenAI-compatible API's in `src/openai/limits.rs` (the configurable ones are flags).
#[test]
fn fixed_bounds_live_in_their_limits_module() {
    let src = support::repo_root().join("src");
    let mut found = Vec::new();
    let mut checked = 0;
    for (dir, home) in [
        ("gateway", "limits.rs"),
        ("egress", "bounds.rs"),
        ("openai", "limits.rs"),
    ] {
        let mut files = Vec::new();
        rust_files(&src.join(dir), Path::new("/nonexistent"), &mut files);
        let home = src.join(dir).join(home);
        assert!(files.contains(&home), "{}", home.display());
        for file in files.iter().filter(|f| **f != home) {
            checked += 1;
            let text = std::fs::read_to_string(file).expect("read source");
            for line in stray_bounds(&text) {
                found.push(format!(
                    "{}:{line} (move it to {})",
                    file.display(),
                    home.display()
                ));
            }
        }
        // The homes hold bounds of both kinds the check looks for.
        let text = std::fs::read_to_string(&home).unwrap();
        assert!(!stray_bounds(&text).is_empty(), "{}", home.display());
    }
    assert!(checked > 40, "{checked} files");
    assert!(found.is_empty(), "{}", found.join("\n"));
    // The check can fire, and leaves tests and comments alone.
    assert_eq!(
        stray_bounds("const MAX_BATCH: usize = 64;\nlet t = Duration::from_secs(2);").len(),
        2
    );
    assert!(stray_bounds(
        "// Duration::from_secs(2)\nconst NAME: &str = \"x\";\n#[cfg(test)]\nconst N: usize = 1;"
    )
    .is_empty());
}
