//! The engine's layout as the sources show it: docs/architecture.md's verify section names
//! every source file and every rule module written over the posture model, and the
//! posture adapters read the models (compose, Kubernetes, `docker inspect`, Dockerfiles),
//! never the rules that judge what they build; rule ids are `RuleId` values outside the
//! catalog.

use clawdbot_verify::vocab::catalog::RuleId;
use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn architecture_names_every_engine_file() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(here.join("../../docs/architecture.md")).unwrap();
    let start = doc
        .find("## Verify engine (`crates/verify/`")
        .expect("docs/architecture.md has the verify engine section");
    let section = &doc[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |e| e + 3)];
    let mut files = Vec::new();
    sources(&here.join("src"), &mut files);
    sources(&here.join("tests"), &mut files);
    assert!(files.len() > 40, "{}", files.len());
    let missing: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .filter(|name| name != "lib.rs" && !section.contains(name.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/architecture.md's verify section does not mention {missing:?}"
    );
    // Every rule written over the posture model is in the one list (`rules::RULES`)
    // static and runtime verify run; a one-rule project check (a module of its own, not
    // a `*_rules` group) is registered there too.
    let rules_mod = std::fs::read_to_string(here.join("src/rules/mod.rs")).unwrap();
    for p in std::fs::read_dir(here.join("src/rules")).unwrap() {
        let name = p.unwrap().file_name().to_string_lossy().into_owned();
        let module = name.trim_end_matches(".rs");
        if !module.ends_with("_rules") && !["mod", "spec"].contains(&module) {
            assert!(
                rules_mod.contains(&format!("workload!({module}"))
                    || rules_mod.contains(&format!("Check::Project({module}::check)")),
                "{module} is not registered in rules::RULES"
            );
        }
    }
}

/// `model/posture/` sits below `rules/`: its code (its test modules aside, which run the rules
/// over both adapters) neither imports nor calls anything of `rules`.
#[test]
fn posture_adapters_do_not_use_rules() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&here.join("src/model/posture"), &mut files);
    files.push(here.join("src/runtime/posture.rs"));
    assert!(files.len() >= 3, "{files:?}");
    let mut found = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
        for (n, line) in code.lines().enumerate() {
            let line = line.trim_start();
            let uses = line.starts_with("use ") && line.contains("rules");
            if !line.starts_with("//") && (uses || line.contains("rules::")) {
                found.push(format!("{}:{}: {line}", path.display(), n + 1));
            }
        }
    }
    assert!(found.is_empty(), "posture/ uses rules: {found:#?}");
}

/// Rule ids are written as `RuleId` values: no id appears as a string literal in the
/// engine's code outside the catalog and the test modules. (`privileged` is left out: it
/// is also the compose and Kubernetes key of the same name.)
#[test]
fn no_rule_id_literal_outside_the_catalog() {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    assert!(files.len() > 20, "{}", files.len());
    let mut found = Vec::new();
    for path in files {
        if path.ends_with("catalog.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // Production code ends where the file's test module starts.
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
        for id in RuleId::ALL.iter().filter(|id| **id != RuleId::Privileged) {
            if code.contains(&format!("\"{id}\"")) {
                found.push(format!("{}: \"{id}\"", path.display()));
            }
        }
    }
    assert!(found.is_empty(), "rule id literals: {found:#?}");
}
