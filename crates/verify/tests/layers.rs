//! The verify crate's structure, checked from its sources (docs/architecture.md draws it).
//!
//! - No import circle. The graph has an edge `a -> b` for every `crate::b…` or
//!   `super::…` path in `a`, and for every use of a child module `b::…` that `a`
//!   declares. Edges between a module and its own ancestors are left out (a child may use
//!   what its parent holds in common, and a parent dispatches to its children); any other
//!   circle fails with its members.
//! - Layers: the top-level folders are the stages of the flow, bottom first
//!   ([`LAYERS`]); a module may use only its own folder and lower rows.

#[path = "support/module_graph.rs"]
mod module_graph;

use std::path::{Path, PathBuf};

use module_graph::{circles, graph};

/// The rows of the verify section's layer drawing in docs/architecture.md, bottom first.
/// A new top-level module goes into this table and into the drawing.
const LAYERS: &[&[&str]] = &[
    &["vocab", "hashing", "parallel", "test_support"],
    &["input"],
    &["model"],
    &["rules"],
    &["report"],
    &["runtime"],
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn verify_modules_have_no_import_circle() {
    let graph = graph(&src(), "lib.rs");
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
    let graph = graph(&src(), "lib.rs");
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
    let graph = graph(&dir, "lib.rs");
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
