//! The release workflow (`.github/workflows/release.yml`) runs `cargo xtask dist` on a
//! `v*` tag and attaches exactly what dist writes; this test parses the workflow, runs the
//! same dist steps here and checks the artifacts it would attach.
//!
//! The dist run is the full one (two builds of each binary, `cargo audit bin`, the
//! reproducibility comparison) when `CLAWDBOT_DIST_FULL=1`; otherwise it is `cargo xtask
//! dist --no-rebuild` (the binaries, packaging, audit and `--version` checks; the compile
//! reuses the binary `cargo xtask build` made, plus one build of clawdbot-verify).
//! Without cargo-auditable or cargo-audit it skips loudly (fails under CI).

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde::Deserialize;

#[derive(Deserialize)]
struct Workflow {
    on: On,
    jobs: BTreeMap<String, Job>,
}

#[derive(Deserialize)]
struct On {
    push: Push,
}

#[derive(Deserialize)]
struct Push {
    tags: Vec<String>,
}

#[derive(Deserialize)]
struct Job {
    steps: Vec<Step>,
}

#[derive(Deserialize)]
struct Step {
    run: Option<String>,
}

fn workflow_runs() -> (Workflow, Vec<String>) {
    let path = support::repo_root().join(".github/workflows/release.yml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let workflow: Workflow = serde_saphyr::from_str(&text).expect("release.yml parses");
    let runs = workflow.jobs["dist"]
        .steps
        .iter()
        .filter_map(|s| s.run.clone())
        .collect();
    (workflow, runs)
}

/// The `cargo xtask dist` invocation of the workflow, as arguments after `cargo xtask`.
fn dist_args(runs: &[String]) -> Vec<String> {
    let dist: Vec<&String> = runs
        .iter()
        .filter(|r| r.starts_with("cargo xtask dist"))
        .collect();
    assert_eq!(dist.len(), 1, "one `cargo xtask dist` step: {runs:?}");
    dist[0]
        .split_whitespace()
        .skip(2)
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_workflow_releases_tags_with_what_dist_writes() {
    let (workflow, runs) = workflow_runs();
    assert_eq!(workflow.on.push.tags, ["v*"]);
    assert_eq!(dist_args(&runs), ["dist"]);
    let all = runs.join("\n");
    for needed in [
        "cargo install cargo-auditable cargo-audit --locked",
        support::MUSL_TARGET,
        "musl-tools",
        "gh release create",
        "target/dist/*.tar.gz",
        "target/dist/*.cdx.json",
        "target/dist/SHA256SUMS",
    ] {
        assert!(
            all.contains(needed),
            "the release workflow lacks {needed:?}:\n{all}"
        );
    }
    // The plan of the same invocation has every build and check the issue names.
    let out = support::xtask(&["dist", "--dry-run"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan = String::from_utf8_lossy(&out.stdout);
    let build = |package: &str| {
        format!(
            "cargo auditable build --release --locked --package {package} --target {}\n",
            support::MUSL_TARGET
        )
    };
    for step in [
        &build("clawdbot"),
        &build("clawdbot-verify"),
        "SOURCE_DATE_EPOCH=",
        "--remap-path-prefix=",
        "cargo audit ",
        " bin ",
        "second build from scratch, compared byte for byte",
        "CARGO_TARGET_DIR=",
        "--version from each tarball",
    ] {
        assert!(
            plan.contains(step),
            "{step:?} missing from the dist plan:\n{plan}"
        );
    }
}

#[test]
fn dist_as_the_workflow_runs_it_produces_checked_artifacts() {
    if !support::have_tool("cargo", &["auditable", "--version"])
        || !support::have_tool("cargo", &["audit", "--version"])
    {
        return;
    }
    let (_, runs) = workflow_runs();
    let mut args = dist_args(&runs);
    let full = std::env::var("CLAWDBOT_DIST_FULL").is_ok_and(|v| v == "1");
    if !full {
        args.push("--no-rebuild".into());
    }
    let root = support::repo_root();
    let out_dir = support::TempDir::new("dist-out");
    args.extend(["--out".into(), out_dir.path().display().to_string()]);
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(&args)
        .current_dir(&root)
        .env("NO_COLOR", "1")
        .output()
        .expect("cargo xtask dist");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "cargo xtask {}:\n{log}",
        args.join(" ")
    );
    assert!(log.contains("checksums match"), "{log}");
    assert!(log.contains("clawdbot --version → clawdbot "), "{log}");
    assert!(
        log.contains("clawdbot-verify --version → clawdbot-verify "),
        "{log}"
    );
    if full {
        assert!(log.contains("the second build is the same"), "{log}");
    }
    // What the workflow attaches: two tarballs, two SBOMs, the sums; `sha256sum -c`
    // (what the README tells users to run) accepts them.
    let mut names: Vec<String> = std::fs::read_dir(out_dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 5, "{names:?}");
    assert!(
        names
            .iter()
            .filter(|n| n.ends_with(&format!("-{}.tar.gz", support::MUSL_TARGET)))
            .count()
            == 2,
        "{names:?}"
    );
    assert!(
        names.iter().filter(|n| n.ends_with(".cdx.json")).count() == 2,
        "{names:?}"
    );
    if support::have_tool("sha256sum", &["--version"]) {
        let check = Command::new("sha256sum")
            .args(["-c", "SHA256SUMS"])
            .current_dir(out_dir.path())
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{}",
            String::from_utf8_lossy(&check.stdout)
        );
    }
    let sbom: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(sbom_of(out_dir.path(), "clawdbot-verify")).unwrap(),
    )
    .unwrap();
    assert_eq!(sbom["metadata"]["component"]["name"], "clawdbot-verify");
}

fn sbom_of(dir: &Path, bin: &str) -> std::path::PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with(&format!("{bin}-"))
                && name.ends_with(".cdx.json")
                && !name[bin.len() + 1..].starts_with("verify")
        })
        .unwrap_or_else(|| panic!("no SBOM of {bin} in {}", dir.display()))
}
