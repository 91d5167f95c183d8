//! docs/architecture.md's verify section stays drawn from the code: it names every
//! source file of the engine and every rule module written over the posture model.

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
    // Every rule written over the posture model is in the one list static and
    // runtime verify run.
    let rules_mod = std::fs::read_to_string(here.join("src/rules/mod.rs")).unwrap();
    for p in std::fs::read_dir(here.join("src/rules")).unwrap() {
        let name = p.unwrap().file_name().to_string_lossy().into_owned();
        let module = name.trim_end_matches(".rs");
        if !module.ends_with("_rules") && module != "mod" {
            assert!(
                rules_mod.contains(&format!("{module}::judge(w)")),
                "{module} is not in rules::judge_workload"
            );
        }
    }
}
