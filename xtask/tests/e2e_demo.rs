//! End-to-end tests against a real Docker engine: the demo passes with compose v2 and with
//! compose v1, and a service that never becomes healthy makes the demo fail with the
//! container's logs shown while still removing everything it created.
//!
//! Without an engine these tests print a loud SKIPPED and return, unless `CI` is set: then
//! they fail. They run one after another in a single test (the demo publishes fixed ports),
//! and take a file lock so other demo-running tests on this machine wait their turn.

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::have_engine;

fn root() -> PathBuf {
    support::repo_root()
}

struct Run {
    ok: bool,
    output: String,
    project: String,
}

fn demo(compose: &str, extra: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("demo")
        .args(extra)
        .env("CLAWDBOT_COMPOSE", compose)
        .env_remove("CLAWDBOT_GATEWAY_TOKEN")
        .current_dir(root())
        .output()
        .expect("running cargo xtask demo");
    let (ok, output) = support::outcome(&out);
    let project = support::demo_project(&output);
    assert!(
        project.starts_with("clawdbot-demo-") || project.contains("-demo-"),
        "{project}"
    );
    Run {
        ok,
        output,
        project,
    }
}

fn docker_lines(args: &[&str]) -> Vec<String> {
    let out = Command::new("docker").args(args).output().expect("docker");
    assert!(out.status.success(), "docker {args:?} failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// Nothing of the project is left: containers, networks, volumes, temp dir.
fn assert_no_leftovers(project: &str) {
    let label = format!("label=com.docker.compose.project={project}");
    for kind in [
        &["ps", "-a", "-q", "--filter", &label][..],
        &["network", "ls", "-q", "--filter", &label][..],
        &["volume", "ls", "-q", "--filter", &label][..],
    ] {
        let left = docker_lines(kind);
        assert!(left.is_empty(), "docker {kind:?} still lists {left:?}");
    }
    let by_name = docker_lines(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(
        !by_name.iter().any(|n| n.contains(project)),
        "containers named after {project} remain: {by_name:?}"
    );
    let dir = std::env::temp_dir().join(project);
    assert!(!dir.exists(), "temp dir {} remains", dir.display());
}

#[test]
fn e2e_demo_passes_with_compose_v2_and_v1_and_an_unhealthy_service_fails_cleanly() {
    if !have_engine() {
        return;
    }
    let _lock = support::demo_lock();

    for compose in ["v2", "v1"] {
        let run = demo(compose, &[]);
        assert!(
            run.ok,
            "demo with compose {compose} failed:\n{}",
            run.output
        );
        assert!(run.output.contains("all steps passed"), "{}", run.output);
        let flavour = if compose == "v2" {
            "compose v2 (docker compose)"
        } else {
            "compose v1 (docker-compose)"
        };
        assert!(run.output.contains(flavour), "{}", run.output);
        assert_listed_by_the_dry_run(&run.output);
        for step in [
            "quick test: status",
            "wait until healthy",
            "probes from the host",
            "verify --runtime",
            "cleanup: compose down",
        ] {
            assert!(run.output.contains(step), "{step} missing:\n{}", run.output);
        }
        assert_no_leftovers(&run.project);
    }

    let run = demo("v2", &["--break-healthcheck", "--timeout", "60"]);
    assert!(
        !run.ok,
        "the demo passed with a broken health check:\n{}",
        run.output
    );
    assert!(
        run.output.contains("wait until healthy") && run.output.contains("FAILED"),
        "{}",
        run.output
    );
    assert!(
        run.output.contains("container logs"),
        "the container's logs are not shown:\n{}",
        run.output
    );
    assert!(
        run.output.contains("unhealthy"),
        "the failure does not say unhealthy:\n{}",
        run.output
    );
    assert!(
        run.output.contains("cleanup: compose down"),
        "{}",
        run.output
    );
    // The failure path (the service's logs) ran only declared commands too.
    assert_listed_by_the_dry_run(&run.output);
    assert_no_leftovers(&run.project);
}

/// Every command a real run started is one its dry run lists: the runner marks any
/// other in its list of commands run beyond the plan lines, and that list holds the
/// health probes (`docker inspect` of the container) the dry run shows as probes.
fn assert_listed_by_the_dry_run(output: &str) {
    assert!(
        !output.contains("(not in --dry-run)"),
        "the demo ran commands its --dry-run does not list:\n{output}"
    );
    let beyond = output
        .split("commands the steps ran beyond their plan lines:")
        .nth(1)
        .unwrap_or_else(|| panic!("no list of probe commands:\n{output}"));
    assert!(beyond.contains("$ docker inspect --format"), "{output}");
}

#[test]
fn demo_dry_run_prints_the_plan_and_runs_nothing() {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["demo", "--dry-run"])
        .current_dir(root())
        .output()
        .expect("running cargo xtask demo --dry-run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("(10 steps)"), "{text}");
    assert!(text.contains("dry run: nothing was run"), "{text}");
    assert!(text.contains("down -v --remove-orphans"), "{text}");
    // The probes a step runs besides its plan line are listed too.
    for probe in [
        " ps -q clawdbot  (as needed)",
        "$ docker inspect --format '{{.State.Status}}|{{if .State.Health}}{{.State.Health.Status}}{{end}}' <container>  (as needed)",
        " logs --no-color --tail 100 clawdbot  (as needed)",
        "$ rustup target list --installed  (as needed)",
        "$ docker image rm <old-image-id>  (as needed)",
    ] {
        assert!(text.contains(probe), "{probe} missing:\n{text}");
    }
    let project = text
        .split("(project ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .expect("project name");
    assert!(!std::env::temp_dir().join(project).exists());
}
