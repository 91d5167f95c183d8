//! `sessions_persist = true`: the compose file mounts a named volume at the data path
//! (owned by the container user through the image), sets `CLAWDBOT_SESSIONS_DIR`, and
//! `verify` accepts it; without the setting nothing changes (no volume).

mod init_support;

use std::process::Command;

use init_support::{init, TempDir};

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

fn verify(dir: &TempDir) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["verify", "--fail-on", "warning", "--root"])
        .arg(dir.path())
        .output()
        .expect("run xtask verify");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn sessions_persist_renders_an_owned_named_volume_that_verify_accepts() {
    let dir = project("sessions-persist", "sessions_persist = true\n");
    let run = init(dir.path(), &["--yes"]);
    assert_eq!(run.code, 0, "{}", run.show());
    let compose = dir.read("docker-compose.yml");
    assert!(
        compose.contains("      CLAWDBOT_SESSIONS_DIR: \"/data/sessions\""),
        "{compose}"
    );
    assert!(
        compose.contains("      - \"clawdbot-sessions:/data\""),
        "{compose}"
    );
    assert!(
        compose.contains("\nvolumes:\n  clawdbot-sessions: {}"),
        "{compose}"
    );
    assert!(
        compose.contains("env_file: .env"),
        "keys still come from .env: {compose}"
    );
    let dockerfile = dir.read("Dockerfile");
    assert!(
        dockerfile.contains("COPY --chown=1000:1000 target/docker-context/data /data"),
        "{dockerfile}"
    );
    assert!(dir
        .read(".dockerignore")
        .contains("!target/docker-context/data"));
    let (code, out) = verify(&dir);
    assert_eq!(code, 0, "verify refused the sessions volume:\n{out}");

    // Default: no volume, no data directory, no variable.
    let plain = project("sessions-default", "");
    let run = init(plain.path(), &["--yes"]);
    assert_eq!(run.code, 0, "{}", run.show());
    let compose = plain.read("docker-compose.yml");
    assert!(
        !compose.contains("volumes:") && !compose.contains("SESSIONS"),
        "{compose}"
    );
    assert!(!plain.read("Dockerfile").contains("/data"));
}
