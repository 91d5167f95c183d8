//! `cargo xtask verify --runtime` through the CLI: every `--format` goes through the
//! same reporters as static verify, with the same exit codes and checklist summary.
//! Needs a Docker engine (a loud skip without one; a failure under CI).

mod support;
use support::{have_engine, xtask, TempDir};

/// A project name no stack uses: runtime verify reports `runtime-no-containers` (exit 1).
#[test]
fn runtime_verify_of_an_absent_project_in_every_format() {
    if !have_engine() {
        return;
    }
    let dir = TempDir::new("rt-cli");
    let root = dir.path().to_string_lossy().to_string();
    let project = format!("xtaskrtcli{}", std::process::id());
    let run = |format: &str| {
        let out = xtask(&[
            "verify",
            "--runtime",
            "--project",
            &project,
            "--root",
            &root,
            "--format",
            format,
        ]);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, human, err) = run("human");
    assert_eq!(code, Some(1), "{human}{err}");
    assert!(human.contains("runtime-no-containers"), "{human}");
    assert!(
        human.contains("checklist "),
        "same summary line as static: {human}"
    );

    let (code, json, _) = run("json");
    assert_eq!(code, Some(1));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["findings"][0]["rule"], "runtime-no-containers");

    let (code, sarif, _) = run("sarif");
    assert_eq!(code, Some(1));
    let v: serde_json::Value = serde_json::from_str(&sarif).unwrap();
    let run0 = &v["runs"][0];
    let rules = run0["tool"]["driver"]["rules"].as_array().unwrap();
    let idx = run0["results"][0]["ruleIndex"].as_u64().unwrap() as usize;
    assert_eq!(rules[idx]["id"], "runtime-no-containers");
    assert!(
        run0["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
            .get("uriBaseId")
            .is_none()
    );

    let (code, junit, _) = run("junit");
    assert_eq!(code, Some(1));
    assert!(junit.contains("runtime-no-containers") && junit.contains("<testsuite"));

    let (code, gh, _) = run("github");
    assert_eq!(code, Some(1));
    assert!(
        gh.lines()
            .any(|l| l.starts_with("::error") && l.contains("runtime-no-containers")),
        "{gh}"
    );
}

/// An engine that cannot be reached is unreadable input: exit 2, one error line.
#[test]
fn unreachable_engine_is_exit_2() {
    let dir = TempDir::new("rt-cli-2");
    let root = dir.path().to_string_lossy().to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["verify", "--runtime", "--project", "x", "--root", &root])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
