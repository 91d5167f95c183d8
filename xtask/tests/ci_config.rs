//! CI runs the suite the README names, the same way here and on a hosted runner:
//! `.ci/run` is `cargo xtask test --provision` (the README's second quick-start command),
//! and the workflow's test job runs `.ci/run` without pointing the audit at a path that
//! exists only on this machine.

mod support;

use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize)]
struct Workflow {
    jobs: BTreeMap<String, Job>,
}

#[derive(Deserialize)]
struct Job {
    steps: Vec<Step>,
}

#[derive(Deserialize)]
struct Step {
    run: Option<String>,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(support::repo_root().join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_workflow_runs_ci_run_which_runs_the_readme_suite() {
    let readme = read("README.md");
    assert!(readme.contains("cargo xtask test --provision"), "README");
    assert!(readme.contains("cargo xtask demo --provision"), "README");
    let ci_run = read(".ci/run");
    let last = ci_run
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or_default();
    assert_eq!(last.trim(), "cargo xtask test --provision", ".ci/run");

    let text = read(".github/workflows/ci.yml");
    let workflow: Workflow = serde_saphyr::from_str(&text).expect("ci.yml parses");
    let runs = |job: &str| -> Vec<String> {
        workflow.jobs[job]
            .steps
            .iter()
            .filter_map(|s| s.run.clone())
            .collect()
    };
    assert!(
        runs("test").iter().any(|r| r.ends_with("bash .ci/run")),
        "the test job must run .ci/run: {:?}",
        runs("test")
    );
    let gate = runs("deployment-gate").join("\n");
    assert!(gate.contains("cargo xtask init --check"), "{gate}");
    assert!(gate.contains("cargo xtask verify"), "{gate}");
    // Nothing machine-specific: the audit chooses its database itself (ADVISORY_DB, else
    // ../shared/advisory-db when present, else cargo-audit's own).
    let all_runs: Vec<String> = workflow.jobs.keys().flat_map(|j| runs(j)).collect();
    for run in &all_runs {
        assert!(
            !run.contains("ADVISORY_DB") && !run.contains("--db") && !run.contains("advisory-db"),
            "{run}"
        );
    }
}
