//! Every rule fires on each of its `fixtures/<rule-id>/fires*/` projects and no rule fires
//! on any `clean*` project; the guide's own example gets exactly its true findings.
//!
//! Fixture files named `dot-NAME` are materialised as `.NAME` (so fixture `.gitignore`
//! and `.env` files do not affect this repository's git). A `GIT_TRACK` file lists paths
//! to `git add` in a fresh repository (for `env-tracked`); otherwise the copy is not a
//! git work tree.

mod support;

use std::path::Path;

use support::{expected_lines, finding_lines, fixtures, materialize, verify_json, xtask, TempDir};

fn rules_of(v: &serde_json::Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["suppressed"] == false)
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect()
}

fn catalog_ids() -> Vec<String> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["verify", "--list-rules"])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        // Rules static verify checks (scope `static` or `static + runtime`).
        .filter(|l| l.contains("  static"))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect()
}

#[test]
fn every_rule_fires_on_its_fixtures_and_never_on_clean_ones() {
    let root = fixtures();
    let ids = catalog_ids();
    let mut clean_seen = 0;
    let mut problems = Vec::new();
    for id in &ids {
        let dir = root.join(id);
        assert!(
            dir.is_dir(),
            "rule {id} has no fixture directory {}",
            dir.display()
        );
        let mut fires_seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let project = materialize(&path, &format!("{id}-{name}"));
            // `--fail-on note`: note-level rules must fail their fixtures too.
            let (code, report) = verify_json(project.path(), &["--fail-on", "note"]);
            let rules = rules_of(&report);
            if name.starts_with("fires") {
                fires_seen += 1;
                if !rules.contains(id) || code != 1 {
                    problems.push(format!(
                        "{id}/{name}: rule did not fire (exit {code}); got {rules:?}"
                    ));
                }
            } else {
                clean_seen += 1;
                if !rules.is_empty() || code != 0 {
                    problems.push(format!("{id}/{name}: clean fixture has findings {rules:?} (exit {code})\n{report:#}"));
                }
            }
        }
        assert!(fires_seen > 0, "rule {id} has no fires fixture");
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(clean_seen >= ids.len());
}

/// The shape of `cargo xtask init`'s output (FROM scratch, USER 1000:1000, limits,
/// read-only, cap_drop ALL, no-new-privileges, loopback ports, tmpfs, healthcheck,
/// bounded logging, user-defined network) verifies clean.
#[test]
fn contract_shaped_project_has_zero_findings() {
    // Written by hand in the shape of the image/compose contract; what `init` renders is
    // checked fresh from the templates by `rendered_projects_have_zero_findings`.
    let mut seen = 0;
    for entry in std::fs::read_dir(fixtures().join("contract")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let project = materialize(&path, &format!("contract-{name}"));
        let (code, report) = verify_json(project.path(), &[]);
        assert_eq!(
            report["findings"].as_array().unwrap().len(),
            0,
            "contract/{name}: {report:#}"
        );
        assert_eq!(code, 0, "contract/{name}");
        assert!(report["checklist"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["pass"] == true));
        seen += 1;
    }
    assert!(seen >= 1);
}

/// What `cargo xtask init` renders today, for both network profiles with and without
/// file-based secrets, verifies clean even at `--fail-on note` (rendered fresh, so this
/// cannot go stale when the templates change).
#[test]
fn rendered_projects_have_zero_findings() {
    for profile in ["local", "isolated"] {
        for secrets in [false, true] {
            let tag = format!("rendered-{profile}-{secrets}");
            let dir = TempDir::new(&tag);
            std::fs::write(
                dir.path().join("Cargo.toml"),
                format!(
                    "[package]\nname = \"clawdbot\"\nversion = \"0.1.0\"\n\n[workspace.metadata.deploy]\nprofile = \"{profile}\"\nsecrets = {secrets}\n"
                ),
            )
            .unwrap();
            let root = dir.path().to_string_lossy().to_string();
            let init = xtask(&["init", "--yes", "--root", &root]);
            assert!(
                init.status.success(),
                "{tag}: init failed: {}",
                String::from_utf8_lossy(&init.stderr)
            );
            let (code, report) = verify_json(dir.path(), &["--fail-on", "note"]);
            assert_eq!(
                report["findings"].as_array().unwrap().len(),
                0,
                "{tag}: {report:#}"
            );
            assert_eq!(code, 0, "{tag}");
        }
    }
}

#[test]
fn guide_example_gets_exactly_its_true_findings() {
    let src = fixtures().join("guide-example");
    let project = materialize(&src, "guide-example");
    let (code, report) = verify_json(project.path(), &[]);
    let got = finding_lines(&report, false);
    let want = expected_lines(&src);
    assert_eq!(got, want);
    assert_eq!(code, 1);
    let failing: Vec<u64> = report["checklist"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["pass"] == false)
        .map(|c| c["item"].as_u64().unwrap())
        .collect();
    assert_eq!(failing, vec![4, 7, 10]);
}

#[test]
fn suppressed_findings_stay_in_json_marked_and_do_not_fail() {
    let project = materialize(&fixtures().join("suppression-invalid/clean"), "suppressed");
    let (code, report) = verify_json(project.path(), &[]);
    let f = &report["findings"][0];
    assert_eq!(f["rule"], "privileged");
    assert_eq!(f["suppressed"], true);
    assert_eq!(
        f["suppression_reason"],
        "needed for the fixture's legacy driver"
    );
    assert_eq!(code, 0);
    assert!(Path::new(project.path())
        .join("docker-compose.yml")
        .exists());
}
