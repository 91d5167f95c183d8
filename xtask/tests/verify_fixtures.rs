//! The xtask front end over the verify fixtures (`crates/verify/tests/fixtures`): the
//! contract-shaped and freshly rendered projects verify clean, the guide's own example
//! gets exactly its true findings. Each rule's catches/catches-not projects run in the
//! verify crate itself (`crates/verify/tests/rule_specs.rs`).
//!
//! Fixture files named `dot-NAME` are materialised as `.NAME` (so fixture `.gitignore`
//! and `.env` files do not affect this repository's git). A `GIT_TRACK` file lists paths
//! to `git add` in a fresh repository (for `env-tracked`); otherwise the copy is not a
//! git work tree.

mod support;

use std::path::Path;

use support::{expected_lines, finding_lines, fixtures, materialize, verify_json, xtask, TempDir};

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
