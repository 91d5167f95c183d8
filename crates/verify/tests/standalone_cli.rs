//! The standalone `clawdbot-verify` binary: the command lines the README and the
//! pre-commit hook document parse as verify arguments, and the binary reports what the
//! library finds (same SARIF, exit codes 0/1/2) on a project outside this workspace, and
//! its allocator options are set before mimalloc starts.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use clap::Parser;
use clawdbot_verify::input::project::Selection;
use clawdbot_verify::report::{Format, Report};
use clawdbot_verify::{verify_files, Args, RuleId, Severity};

/// The binary's command line: the library's `Args`, as `src/main.rs` flattens them.
#[derive(Debug, Parser)]
#[command(name = "clawdbot-verify")]
struct Cli {
    #[command(flatten)]
    args: Args,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `clawdbot-verify ...` command line in `text` (comments and `--git` installs aside).
fn command_lines(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter_map(|l| {
            let at = l.find("clawdbot-verify ")?;
            let cmd = l[at..].split(" #").next()?.trim();
            // `entry: clawdbot-verify ...` in YAML; skip prose and `cargo install ... clawdbot-verify`.
            let before = l[..at].trim();
            let is_command = before.is_empty()
                || before.ends_with("run:")
                || before.ends_with("entry:")
                || before == "-";
            is_command.then(|| cmd.split_whitespace().map(String::from).collect())
        })
        .collect()
}

#[test]
fn documented_command_lines_parse() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let hooks = std::fs::read_to_string(repo().join(".pre-commit-hooks.yaml")).unwrap();
    let mut lines = command_lines(&readme);
    let hook_lines = command_lines(&hooks);
    assert_eq!(hook_lines.len(), 1, "{hook_lines:?}");
    lines.extend(hook_lines);
    assert!(lines.len() >= 6, "{lines:?}");
    for argv in &lines {
        if let Err(e) = Cli::try_parse_from(argv) {
            panic!("{argv:?} does not parse: {e}");
        }
    }
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_clawdbot-verify"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// A project directory removed on drop.
struct Project(PathBuf);

impl Project {
    fn new(tag: &str, files: &[(&str, &str)]) -> Project {
        let dir =
            std::env::temp_dir().join(format!("clawdbot-verify-cli-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (name, text) in files {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        Project(dir)
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const WEAK_COMPOSE: &str = "services:\n  app:\n    image: nginx:1.27\n    privileged: true\n    ports:\n      - \"8080:80\"\n";

#[test]
fn binary_reports_what_the_library_finds() {
    let p = Project::new("weak", &[("compose.yaml", WEAK_COMPOSE)]);
    let root = p.0.to_str().unwrap();
    let out = run(&["--root", root, "--format", "sarif"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let findings = verify_files(&Selection {
        root: p.0.clone(),
        dockerfile: None,
        compose_files: vec![],
        swarm: false,
        k8s: None,
    })
    .unwrap();
    let rules: Vec<RuleId> = findings.iter().map(|f| f.rule).collect();
    assert!(rules.contains(&RuleId::Privileged), "{rules:?}");
    assert!(rules.contains(&RuleId::PortNotLoopback), "{rules:?}");
    let expected = Report {
        findings: &findings,
        fail_on: Severity::Warning,
        color: false,
    }
    .render(Format::Sarif);
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);

    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["ruleId"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"privileged") && ids.contains(&"port-not-loopback"));
}

#[test]
fn exit_codes_clean_and_usage_errors() {
    let hardened = "services:\n  app:\n    image: nginx:1.27@sha256:0000000000000000000000000000000000000000000000000000000000000000\n";
    let p = Project::new("clean", &[("compose.yaml", hardened)]);
    let root = p.0.to_str().unwrap();
    // Findings below --fail-on do not fail the run.
    let out = run(&["--root", root, "--fail-on", "error", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let errors = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .count();
    assert_eq!(out.status.code(), Some(if errors > 0 { 1 } else { 0 }));

    let bad = Project::new("bad", &[("compose.yaml", "services: [\n")]);
    let out = run(&["--root", bad.0.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: compose.yaml:"));

    let out = run(&["--explain", "no-such-rule"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown rule \"no-such-rule\" (see `clawdbot-verify --list-rules`)"),
        "{err}"
    );

    let out = run(&["--explain", "port-not-loopback"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("port-not-loopback [error]"));
    assert_eq!(run(&["--version"]).status.code(), Some(0));
    // Runtime-only flags keep their constraints (`--project` requires `--runtime`).
    assert_eq!(run(&["--project", "x"]).status.code(), Some(2));
}

/// The settings input (`[workspace.metadata.deploy]` of `<root>/Cargo.toml`): a bad
/// `image_name` stops the run with exit 2 at its file:line; a good one makes the root
/// Dockerfile count for the service that runs that image.
#[test]
fn settings_image_name_is_read_and_checked() {
    let dockerfile = "FROM scratch\nCOPY app /app\nUSER 1000:1000\nHEALTHCHECK CMD [\"/app\", \"health\"]\nENTRYPOINT [\"/app\"]\n";
    let compose = "services:\n  gw:\n    image: gw:1.0.0\n";
    let settings = |name: &str| {
        format!("[workspace]\n\n[workspace.metadata.deploy]\nimage_name = \"{name}\"\n")
    };
    let bad_settings = settings("Gate Way");
    let bad = Project::new(
        "bad-settings",
        &[
            ("Cargo.toml", &bad_settings),
            ("Dockerfile", dockerfile),
            ("compose.yaml", compose),
        ],
    );
    let out = run(&["--root", bad.0.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: Cargo.toml:4:14: "), "{err}");
    assert!(err.contains("image_name"), "{err}");

    let rules = |p: &Project| -> Vec<String> {
        let out = run(&["--root", p.0.to_str().unwrap(), "--format", "json"]);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["rule"].as_str().unwrap().to_string())
            .collect()
    };
    let good_settings = settings("gw");
    let named = Project::new(
        "named-settings",
        &[
            ("Cargo.toml", &good_settings),
            ("Dockerfile", dockerfile),
            ("compose.yaml", compose),
        ],
    );
    let got = rules(&named);
    for unknown in ["user-unknown", "healthcheck-unknown"] {
        assert!(!got.iter().any(|r| r == unknown), "{got:?}");
    }
    // Without the settings the same image is pulled: both are unknown.
    let pulled = Project::new(
        "no-settings",
        &[("Dockerfile", dockerfile), ("compose.yaml", compose)],
    );
    let got = rules(&pulled);
    for unknown in ["user-unknown", "healthcheck-unknown"] {
        assert!(got.iter().any(|r| r == unknown), "{got:?}");
    }
}

/// `src/main.rs` turns mimalloc's eager arena commit off (peak memory) in an
/// `.init_array.00100` constructor, which must run before mimalloc's own constructor
/// reads its options from the environment. With `MIMALLOC_VERBOSE=1` mimalloc prints its
/// options as it starts: the environment's `MIMALLOC_ARENA_EAGER_COMMIT=1` must not be
/// what it shows. (The bench runs the same check on the shipped static musl binary.)
#[cfg(all(feature = "mimalloc", target_os = "linux"))]
#[test]
fn allocator_option_is_set_before_mimalloc_starts() {
    let out = Command::new(env!("CARGO_BIN_EXE_clawdbot-verify"))
        .arg("--version")
        .env("MIMALLOC_VERBOSE", "1")
        .env("MIMALLOC_ARENA_EAGER_COMMIT", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("clawdbot-verify "));
    let err = String::from_utf8_lossy(&out.stderr);
    let shown: Vec<&str> = err
        .lines()
        .filter_map(|l| l.trim().strip_prefix("option 'arena_eager_commit':"))
        .map(str::trim)
        .collect();
    assert_eq!(shown, ["0"], "{err}");
}
