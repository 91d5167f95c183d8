//! Command-line behaviour of `cargo xtask verify`: exit codes, formats, masking, bad input,
//! compose file merging, `--list-rules`/`--explain`.

mod support;

use std::path::Path;

use support::{fixtures, materialize, verify_json, xtask, TempDir};

const SECRET_TAIL: &str = "Zq7Xw2Lk9Rt4Vb8Nm3Pj6Hs1Df5Gy0Ua";

fn run_in(root: &Path, args: &[&str]) -> (i32, String, String) {
    let root = root.to_string_lossy().to_string();
    let mut all = vec!["verify", "--root", root.as_str()];
    all.extend_from_slice(args);
    let out = xtask(&all);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn exit_codes_follow_fail_on() {
    let clean = materialize(&fixtures().join("contract/clean"), "cli-clean");
    assert_eq!(run_in(clean.path(), &[]).0, 0);
    // guide example: 1 error + 2 warnings.
    let guide = materialize(&fixtures().join("guide-example"), "cli-guide");
    assert_eq!(run_in(guide.path(), &[]).0, 1);
    assert_eq!(run_in(guide.path(), &["--fail-on", "error"]).0, 1);
    // Only warnings: fail at warning, pass at error.
    let warn = materialize(&fixtures().join("rootfs-writable/fires"), "cli-warn");
    assert_eq!(run_in(warn.path(), &["--fail-on", "warning"]).0, 1);
    assert_eq!(run_in(warn.path(), &["--fail-on", "error"]).0, 0);
    assert_eq!(run_in(warn.path(), &["--fail-on", "note"]).0, 1);
    // Usage errors are 2.
    assert_eq!(run_in(clean.path(), &["--format", "xml"]).0, 2);
    assert_eq!(run_in(clean.path(), &["--explain", "no-such-rule"]).0, 2);
}

#[test]
fn human_output_groups_by_file_with_position_line_and_fix_without_color() {
    let guide = materialize(&fixtures().join("guide-example"), "cli-human");
    let (_, out, _) = run_in(guide.path(), &[]);
    assert!(
        !out.contains('\u{1b}'),
        "no color when not a TTY / NO_COLOR"
    );
    assert!(
        out.contains("Dockerfile\n  error[env-in-build-context] Dockerfile:5:1: "),
        "{out}"
    );
    assert!(out.contains("      5 | COPY . ."), "{out}");
    assert!(out.contains("= fix: Add a `.dockerignore`"), "{out}");
    assert!(
        out.contains(
            "docker-compose.yml\n  warning[no-new-privileges-missing] docker-compose.yml:2:3"
        ),
        "{out}"
    );
    let summary = out.lines().find(|l| l.starts_with("checklist ")).unwrap();
    assert!(
        summary.starts_with("checklist 7/10: 1 non-root ✓"),
        "{summary}"
    );
    assert!(summary.contains("4 no-new-privileges ✗"), "{summary}");
}

#[test]
fn secrets_are_masked_in_every_format() {
    let p = materialize(&fixtures().join("secret-literal/fires"), "cli-mask");
    for format in ["human", "json", "sarif", "junit", "github"] {
        let (code, out, err) = run_in(p.path(), &["--format", format]);
        assert_eq!(code, 1, "{format}: {err}");
        assert!(out.contains("secret-literal"), "{format}: {out}");
        assert!(
            !out.contains(SECRET_TAIL),
            "{format} leaks the secret:\n{out}"
        );
        assert!(out.contains("sk-ant-****"), "{format}: {out}");
    }
}

#[test]
fn github_and_junit_formats() {
    let guide = materialize(&fixtures().join("guide-example"), "cli-gh");
    let (_, out, _) = run_in(guide.path(), &["--format", "github"]);
    assert!(
        out.contains("::error file=Dockerfile,line=5,col=1,title=env-in-build-context (error)::"),
        "{out}"
    );
    assert!(
        out.contains(
            "::warning file=docker-compose.yml,line=10,col=5,title=ports-on-internal-network"
        ),
        "{out}"
    );
    let (_, xml, _) = run_in(guide.path(), &["--format", "junit"]);
    assert!(xml.starts_with("<?xml"));
    assert!(xml.contains("<testcase classname=\"verify.checklist-04\" name=\"no-new-privileges-missing\">\n      <failure type=\"warning\""), "{xml}");
    assert!(xml.contains("failures=\"3\""), "{xml}");
}

#[test]
fn bad_input_is_one_line_with_position_and_exit_2() {
    let dir = TempDir::new("cli-bad");
    let d = dir.path();
    std::fs::write(d.join("unknown.df"), "FROM scratch\nFROBNICATE x\n").unwrap();
    std::fs::write(d.join("bad.yml"), "services:\n  a: [\n").unwrap();
    std::fs::write(d.join("binary.df"), b"FROM x\0\n").unwrap();
    std::fs::write(d.join("latin1.df"), b"FROM x\n\xff\n").unwrap();
    std::fs::write(d.join("empty.df"), "").unwrap();
    std::fs::write(d.join("empty.yml"), "").unwrap();
    std::fs::write(d.join("huge.df"), "#".repeat(5 * 1024 * 1024)).unwrap();
    std::fs::write(
        d.join("interp.yml"),
        "services:\n  a:\n    image: \"x:${TAG\"\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(d.join("missing"), d.join("dangling.df")).unwrap();
    std::os::unix::fs::symlink(d.join("loop.df"), d.join("loop.df")).unwrap();
    // A `.yml` file is read as a compose file, anything else as a Dockerfile.
    let cases: &[(&str, &str)] = &[
        (
            "unknown.df",
            "error: unknown.df:2:1: unknown instruction \"FROBNICATE\"",
        ),
        ("bad.yml", "error: bad.yml:2:"),
        ("binary.df", "error: binary.df:1:1: binary file"),
        ("latin1.df", "error: latin1.df:2:1: not valid UTF-8"),
        ("empty.df", "error: empty.df:1:1: no FROM instruction"),
        ("empty.yml", "error: empty.yml:"),
        ("huge.df", "error: huge.df: file is"),
        (
            "interp.yml",
            "error: interp.yml:3:12: invalid interpolation format",
        ),
        (
            "dangling.df",
            "error: dangling.df: broken or looping symlink",
        ),
        ("loop.df", "error: loop.df: broken or looping symlink"),
        ("absent.df", "error: absent.df: no such file"),
    ];
    for (file, want) in cases {
        let flag = if file.ends_with(".yml") {
            "--compose-file"
        } else {
            "--file"
        };
        let path = d.join(file).to_string_lossy().to_string();
        let (code, out, err) = run_in(d, &[flag, &path]);
        assert_eq!(code, 2, "{file}: {err}{out}");
        assert_eq!(err.lines().count(), 1, "{file}: one line: {err}");
        assert!(err.starts_with(want), "{file}: want {want:?}, got {err:?}");
        assert!(!err.contains("panicked"));
    }
}

#[test]
fn compose_files_merge_in_order_and_keep_positions() {
    let p = materialize(&fixtures().join("contract/clean"), "cli-merge");
    std::fs::write(
        p.path().join("hardening-off.yml"),
        "services:\n  clawdbot:\n    read_only: false\n    ports:\n      - \"8081:8081\"\n",
    )
    .unwrap();
    let base = p
        .path()
        .join("docker-compose.yml")
        .to_string_lossy()
        .to_string();
    let over = p
        .path()
        .join("hardening-off.yml")
        .to_string_lossy()
        .to_string();
    let (code, report) = verify_json(
        p.path(),
        &["--compose-file", &base, "--compose-file", &over],
    );
    assert_eq!(code, 1);
    let found: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {}:{}",
                f["rule"].as_str().unwrap(),
                f["location"]["file"].as_str().unwrap(),
                f["location"]["line"]
            )
        })
        .collect();
    assert_eq!(
        found,
        vec![
            "rootfs-writable hardening-off.yml:3",
            "port-not-loopback hardening-off.yml:5"
        ]
    );
    // The override file is picked up by default, like compose does.
    std::fs::rename(
        p.path().join("hardening-off.yml"),
        p.path().join("docker-compose.override.yml"),
    )
    .unwrap();
    let (code, report) = verify_json(p.path(), &[]);
    assert_eq!(code, 1);
    assert_eq!(report["findings"].as_array().unwrap().len(), 2);
}

#[test]
fn list_rules_and_explain_come_from_the_catalog() {
    let out = xtask(&["verify", "--list-rules"]);
    let text = String::from_utf8(out.stdout).unwrap();
    for id in [
        "secret-literal",
        "port-not-loopback",
        "ports-on-internal-network",
        "logging-unbounded",
        "apparmor-unconfined",
    ] {
        assert!(text.lines().any(|l| l.starts_with(id)), "{id} missing");
    }
    let out = xtask(&["verify", "--explain", "port-not-loopback"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("port-not-loopback [error]"));
    assert!(text.contains("checklist: 5"));
    assert!(text.contains("fix: Publish on loopback only"));
}

#[test]
fn env_ignored_by_a_parent_gitignore_counts_inside_a_git_repo() {
    let repo = TempDir::new("cli-git");
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(repo.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    };
    git(&["init", "-q"]);
    std::fs::write(repo.path().join(".gitignore"), "/target\n**/.env\n").unwrap();
    let project = repo.path().join("deploy");
    std::fs::create_dir(&project).unwrap();
    let src = fixtures().join("contract/clean");
    for name in [
        "Dockerfile",
        "docker-compose.yml",
        "dot-dockerignore",
        "dot-env.example",
    ] {
        let target = name
            .strip_prefix("dot-")
            .map(|n| format!(".{n}"))
            .unwrap_or(name.to_string());
        std::fs::copy(src.join(name), project.join(target)).unwrap();
    }
    let (code, report) = verify_json(&project, &[]);
    assert_eq!(
        report["findings"].as_array().unwrap().len(),
        0,
        "{report:#}"
    );
    assert_eq!(code, 0);
    // Once git tracks it, ignoring is not enough.
    std::fs::write(project.join(".env"), "A=1\n").unwrap();
    git(&["add", "-f", "deploy/.env"]);
    let (code, report) = verify_json(&project, &[]);
    assert_eq!(code, 1);
    assert_eq!(report["findings"][0]["rule"], "env-tracked");
}

#[test]
fn values_from_dot_env_decide_rules_but_are_never_printed() {
    let p = materialize(&fixtures().join("contract/clean"), "cli-dotenv");
    std::fs::write(p.path().join(".env"), "HOST_IP=10.11.12.13\n").unwrap();
    let compose = std::fs::read_to_string(p.path().join("docker-compose.yml")).unwrap();
    std::fs::write(
        p.path().join("docker-compose.yml"),
        compose.replace("\"127.0.0.1:18789:18789\"", "\"${HOST_IP}:18789:18789\""),
    )
    .unwrap();
    for format in ["human", "json", "sarif", "junit", "github"] {
        let (code, out, _) = run_in(p.path(), &["--format", format]);
        assert_eq!(code, 1, "{format}");
        assert!(out.contains("port-not-loopback"), "{format}: {out}");
        assert!(out.contains("${HOST_IP}:18789:18789"), "{format}: {out}");
        assert!(
            !out.contains("10.11.12.13"),
            "{format} prints a .env value:\n{out}"
        );
    }
    std::fs::write(p.path().join(".env"), "HOST_IP=127.0.0.1\n").unwrap();
    assert_eq!(run_in(p.path(), &[]).0, 0);
}
