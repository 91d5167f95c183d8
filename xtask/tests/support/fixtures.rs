//! Verify fixtures materialised into temporary directories, and `cargo xtask verify` on
//! them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::TempDir;

pub fn fixtures() -> PathBuf {
    // The rule fixtures live beside the verify engine they specify.
    super::repo_root().join("crates/verify/tests/fixtures")
}

/// Copies a fixture project (renaming `dot-X` to `.X`) into a fresh temp dir; runs
/// `git init` + `git add -f` for the paths listed in a `GIT_TRACK` file.
/// Copies a file, or a directory with everything below it (e.g. a fixture's `k8s/`),
/// renaming `dot-NAME` entries to `.NAME`.
fn copy_tree(src: &Path, dst: &Path) {
    if src.is_dir() {
        std::fs::create_dir_all(dst).unwrap();
        for entry in std::fs::read_dir(src).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            // `dot-NAME` is `.NAME` at every level (a build context's own `.dockerignore`).
            let target = match name.strip_prefix("dot-") {
                Some(rest) => format!(".{rest}"),
                None => name,
            };
            copy_tree(&path, &dst.join(target));
        }
    } else {
        std::fs::copy(src, dst).unwrap();
    }
}

pub fn materialize(src: &Path, tag: &str) -> TempDir {
    let dir = TempDir::new(tag);
    let mut track = None;
    for entry in std::fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name == "GIT_TRACK" {
            track = Some(std::fs::read_to_string(&path).unwrap());
            continue;
        }
        let target = match name.strip_prefix("dot-") {
            Some(rest) => format!(".{rest}"),
            None => name,
        };
        copy_tree(&path, &dir.path().join(target));
    }
    if let Some(list) = track {
        let git = |args: &[&str]| {
            let st = Command::new("git")
                .args(args)
                .current_dir(dir.path())
                .output()
                .unwrap();
            assert!(
                st.status.success(),
                "git {args:?}: {}",
                String::from_utf8_lossy(&st.stderr)
            );
        };
        git(&["init", "-q"]);
        for p in list.lines().filter(|l| !l.trim().is_empty()) {
            git(&["add", "-f", "--", p.trim()]);
        }
    }
    dir
}

pub fn xtask(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// Runs `verify --format json --root DIR extra...`; returns exit code and parsed report.
pub fn verify_json(root: &Path, extra: &[&str]) -> (i32, serde_json::Value) {
    let root = root.to_string_lossy().to_string();
    let mut args = vec!["verify", "--format", "json", "--root", root.as_str()];
    args.extend_from_slice(extra);
    let out = xtask(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "verify output is not JSON ({e}); stderr: {}\nstdout: {stdout}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), v)
}

/// The report's findings as the fixtures' `EXPECTED` files write them, sorted:
/// `rule file:line:column`, or `rule severity file:line:column` with `severity`.
pub fn finding_lines(report: &serde_json::Value, severity: bool) -> Vec<String> {
    let mut got: Vec<String> = report["findings"]
        .as_array()
        .expect("the report has findings")
        .iter()
        .map(|f| {
            let l = &f["location"];
            let rule = f["rule"].as_str().unwrap_or_default();
            let sev = match f["severity"].as_str() {
                Some(s) if severity => format!(" {s}"),
                _ => String::new(),
            };
            let file = l["file"].as_str().unwrap_or_default();
            format!("{rule}{sev} {file}:{}:{}", l["line"], l["column"])
        })
        .collect();
    got.sort();
    got
}

/// The lines of a fixture's `EXPECTED` file, blank lines and `#` comments left out.
pub fn expected_lines(fixture: &Path) -> Vec<String> {
    let path = fixture.join("EXPECTED");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}
