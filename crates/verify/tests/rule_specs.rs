//! Every rule's spec over its fixture projects (hadolint's `ruleCatches` /
//! `ruleCatchesNot`, written as directories): the rule fires on each
//! `tests/fixtures/<rule-id>/fires*/` project and no rule fires on any other project of
//! that directory (`clean*`). Each rule module holds its small inline cases beside it;
//! these are the cases that need a whole project (ignore files, git state, several
//! compose files, build contexts). The engine runs in-process, as the library.
//!
//! A project with an `EXPECTED` file (`rule file:line:column` per line) must get exactly
//! those findings (e.g. a fault in a YAML anchor reported once).
//!
//! Fixture files named `dot-NAME` are materialised as `.NAME`, and a `GIT_TRACK` file
//! lists paths to `git add` in a fresh repository (see `test_support::materialize`).

#[path = "../src/test_support.rs"]
mod test_support;

use std::path::{Path, PathBuf};

use clawdbot_verify::input::project::Selection;
use clawdbot_verify::vocab::catalog::{Scope, RULES};
use clawdbot_verify::{verify_files, RuleId};
use test_support::{materialize, TempDir};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The rules of every unsuppressed finding on the fixture project `src`.
fn rules_on(src: &Path, tag: &str) -> Result<Vec<RuleId>, String> {
    Ok(findings_on(src, tag)?
        .into_iter()
        .map(|(rule, _)| rule)
        .collect())
}

/// Every unsuppressed finding on the fixture project `src`: its rule and
/// `rule file:line:column` (the form of a fixture's `EXPECTED` file).
fn findings_on(src: &Path, tag: &str) -> Result<Vec<(RuleId, String)>, String> {
    let dir = TempDir::new(tag).map_err(|e| e.to_string())?;
    materialize(src, dir.path()).map_err(|e| format!("materialise: {e}"))?;
    let sel = Selection::of_root(dir.path().to_path_buf());
    let findings = verify_files(&sel).map_err(|e| format!("input error: {e}"))?;
    Ok(findings
        .iter()
        .filter(|f| f.suppressed.is_none())
        .map(|f| (f.rule, format!("{} {}", f.rule, f.location)))
        .collect())
}

/// The lines of a fixture's `EXPECTED` file (blank lines and `#` comments left out),
/// sorted; `None` without one.
fn expected(src: &Path) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(src.join("EXPECTED")).ok()?;
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    lines.sort();
    Some(lines)
}

#[test]
fn every_rule_fires_on_its_fixtures_and_never_on_clean_ones() {
    let root = fixtures();
    let ids: Vec<RuleId> = RULES
        .iter()
        .filter(|r| r.scope != Scope::Runtime)
        .map(|r| r.id)
        .collect();
    assert!(ids.len() > 20, "{ids:?}");
    let (mut fires_total, mut clean_total) = (0, 0);
    let mut problems = Vec::new();
    for id in &ids {
        let dir = root.join(id.as_str());
        assert!(
            dir.is_dir(),
            "rule {id} has no fixture directory {}",
            dir.display()
        );
        let mut fires_seen = 0;
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("read fixture dir")
            .map(|e| e.expect("dir entry").path())
            .collect();
        entries.sort();
        for path in entries {
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            if !path.is_dir() {
                continue;
            }
            let found = match findings_on(&path, &format!("{id}-{name}")) {
                Ok(found) => found,
                Err(e) => {
                    problems.push(format!("{id}/{name}: {e}"));
                    continue;
                }
            };
            let rules: Vec<RuleId> = found.iter().map(|(rule, _)| *rule).collect();
            if let Some(want) = expected(&path) {
                let mut got: Vec<String> = found.into_iter().map(|(_, line)| line).collect();
                got.sort();
                if got != want {
                    problems.push(format!("{id}/{name}: EXPECTED {want:#?}, got {got:#?}"));
                }
            }
            if name.starts_with("fires") {
                fires_seen += 1;
                if !rules.contains(id) {
                    problems.push(format!("{id}/{name}: rule did not fire; got {rules:?}"));
                }
            } else {
                clean_total += 1;
                if !rules.is_empty() {
                    problems.push(format!("{id}/{name}: clean fixture has findings {rules:?}"));
                }
            }
        }
        if fires_seen == 0 {
            problems.push(format!("rule {id} has no fires* fixture"));
        }
        fires_total += fires_seen;
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(clean_total >= ids.len() && fires_total >= ids.len());
}

/// The spec runner can fail: a rule's `fires` project with the offending line removed
/// is no longer caught (so a rule that stopped firing would be reported above).
#[test]
fn a_fires_fixture_without_its_fault_is_not_caught() {
    let src = fixtures().join("privileged/fires");
    let before = rules_on(&src, "spec-before").expect("verify");
    assert!(before.contains(&RuleId::Privileged), "{before:?}");
    let compose = std::fs::read_dir(&src)
        .expect("read")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .expect("the fixture has a compose file");
    let text = std::fs::read_to_string(&compose).expect("read compose");
    assert!(text.contains("privileged: true"), "{text}");
    let fixed = TempDir::new("spec-fixed").expect("temp dir");
    materialize(&src, fixed.path()).expect("materialise");
    std::fs::write(
        fixed.path().join(compose.file_name().expect("name")),
        text.replace("privileged: true", "privileged: false"),
    )
    .expect("write");
    let after = rules_on(fixed.path(), "spec-after").expect("verify");
    assert!(!after.contains(&RuleId::Privileged), "{after:?}");
}
