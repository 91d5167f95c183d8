//! `openai_api = true`: `init` renders `CLAWDBOT_OPENAI_API: "true"` into the service's
//! environment (compose and Swarm) and `verify` accepts the result; by default the
//! variable is absent (the API stays off).

mod support;

use support::{init, TempDir};

fn project(tag: &str, extra: &str) -> TempDir {
    let dir = TempDir::new(tag);
    dir.write(
        "Cargo.toml",
        &format!(
            "[package]\nname = \"clawdbot\"\nversion = \"0.1.0\"\n\n[workspace.metadata.deploy]\nprofile = \"local\"\n{extra}"
        ),
    );
    dir
}

#[test]
fn openai_api_setting_renders_the_environment_switch() {
    let on = project("openai-api-on", "openai_api = true\n");
    let run = init(on.path(), &["--yes"]);
    assert_eq!(run.code, 0, "{}", run.show());
    let compose = on.read("docker-compose.yml");
    assert!(
        compose.contains("    environment:\n")
            && compose.contains("      CLAWDBOT_OPENAI_API: \"true\"\n"),
        "{compose}"
    );
    assert!(compose.contains("env_file: .env"), "{compose}");
    let verify = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["verify", "--fail-on", "warning", "--root"])
        .arg(on.path())
        .output()
        .expect("run xtask verify");
    assert!(
        verify.status.success(),
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );

    let swarm = project("openai-api-swarm", "openai_api = true\n");
    let run = init(swarm.path(), &["--yes", "--target", "swarm"]);
    assert_eq!(run.code, 0, "{}", run.show());
    let stack = swarm.read("docker-stack.yml");
    assert!(
        stack.contains("      CLAWDBOT_OPENAI_API: \"true\"\n"),
        "{stack}"
    );

    let off = project("openai-api-off", "");
    let run = init(off.path(), &["--yes"]);
    assert_eq!(run.code, 0, "{}", run.show());
    assert!(!off
        .read("docker-compose.yml")
        .contains("CLAWDBOT_OPENAI_API"));

    let bad = project("openai-api-bad", "openai_api = \"yes\"\n");
    let run = init(bad.path(), &["--yes"]);
    assert_ne!(run.code, 0, "{}", run.show());
    assert!(run.show().contains("openai_api"), "{}", run.show());
}
