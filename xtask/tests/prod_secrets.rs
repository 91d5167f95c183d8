//! `secrets = true`: the compose file passes the token and keys as file-based secrets
//! (no `env_file`, only `*_FILE` variables), `init --env` creates `secrets/` (0700) with
//! 0600 files the container user can read, compose v1 and v2 accept the file, and a real
//! container of our scratch image running as uid 1000 reads its secret (engine test).

mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use support::{
    build_image, check_snapshots, have_engine, have_tool, init, ok_in, run_in, wait_for, TempDir,
};

const SECRET_NAMES: &[&str] = &[
    "clawdbot_gateway_token",
    "anthropic_api_key",
    "openai_api_key",
];

fn secrets_project(tag: &str, profile: &str, extra: &str) -> TempDir {
    let dir = TempDir::new(tag);
    dir.write(
        "Cargo.toml",
        &format!(
            "[package]\nname = \"clawdbot\"\nversion = \"0.1.0\"\n\n[workspace.metadata.deploy]\nprofile = \"{profile}\"\nsecrets = true\n{extra}"
        ),
    );
    dir
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

#[test]
fn secrets_compose_snapshots() {
    let dir = secrets_project("snap-secrets", "local", "");
    let run = init(dir.path(), &["--yes"]);
    assert_eq!(run.code, 0, "{}", run.show());
    check_snapshots(
        &dir,
        "compose-secrets",
        &["docker-compose.yml", ".gitignore"],
    );
    let compose = dir.read("docker-compose.yml");
    assert!(!compose.contains("env_file"), "{compose}");
    for name in SECRET_NAMES {
        let var = name.to_ascii_uppercase();
        assert!(
            compose.contains(&format!("{var}_FILE: /run/secrets/{name}")),
            "{compose}"
        );
        assert!(
            compose.contains(&format!("file: ./secrets/{name}")),
            "{compose}"
        );
        // The plain variable (which would carry the value) never appears as a key.
        assert!(!compose.contains(&format!("{var}:")), "{compose}");
    }
    assert!(dir.read(".gitignore").contains("\n/secrets/\n"));
    // Without the setting, nothing changes for the plain profiles.
    let plain = support::rendered("snap-nosecrets", "local");
    assert!(plain.read("docker-compose.yml").contains("env_file: .env"));
    assert!(!plain.read(".gitignore").contains("secrets"));
}

#[test]
fn secrets_env_creates_private_files_once_and_prints_no_value() {
    let dir = secrets_project("env-secrets", "local", "");
    let run = init(dir.path(), &["--yes", "--env"]);
    assert_eq!(run.code, 0, "{}", run.show());
    assert!(
        !dir.join(".env").exists(),
        "with secrets on, --env must not write a .env"
    );
    let meta = std::fs::metadata(dir.join("secrets")).unwrap();
    assert!(meta.is_dir());
    assert_eq!(meta.permissions().mode() & 0o7777, 0o700, "secrets/ mode");
    let owner = if euid() == 0 { 1000 } else { euid() };
    let mut values = Vec::new();
    for name in SECRET_NAMES {
        let path = dir.join(&format!("secrets/{name}"));
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.is_file());
        assert_eq!(meta.permissions().mode() & 0o7777, 0o600, "{name} mode");
        assert_eq!(meta.uid(), owner, "{name} owner");
        if euid() == 0 {
            assert_eq!(meta.gid(), 1000, "{name} group");
        }
        values.push(std::fs::read_to_string(&path).unwrap());
    }
    let token = &values[0];
    assert_eq!(token.len(), 64, "token length");
    assert!(token.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(values[1], "sk-ant-demo-placeholder");
    assert_eq!(values[2], "sk-demo-placeholder");
    assert!(
        !run.stdout.contains(token.as_str()) && !run.stderr.contains(token.as_str()),
        "the token was printed:\n{}",
        run.show()
    );
    assert!(run
        .stdout
        .contains("secrets/clawdbot_gateway_token (mode 0600"));

    // A second run keeps every file as it is (never read, never replaced).
    std::fs::write(dir.join("secrets/anthropic_api_key"), "sk-ant-user-value").unwrap();
    let again = init(dir.path(), &["--yes", "--env"]);
    assert_eq!(again.code, 0, "{}", again.show());
    assert_eq!(dir.read("secrets/anthropic_api_key"), "sk-ant-user-value");
    assert_eq!(&dir.read("secrets/clawdbot_gateway_token"), token);
    assert!(!again.stdout.contains("sk-ant-user-value"));
    assert!(again.stdout.contains("kept"), "{}", again.show());

    // --dry-run creates nothing.
    let dry = secrets_project("env-secrets-dry", "local", "");
    let run = init(dry.path(), &["--dry-run", "--env"]);
    assert_eq!(run.code, 0, "{}", run.show());
    assert!(!dry.join("secrets").exists(), "{}", run.show());
}

#[test]
fn secrets_refuses_a_file_where_the_directory_goes() {
    let dir = secrets_project("env-secrets-file", "local", "");
    dir.write("secrets", "not a directory");
    let run = init(dir.path(), &["--yes", "--env"]);
    assert_eq!(run.code, 2, "{}", run.show());
    assert!(run
        .stderr
        .contains("secrets/: exists and is not a directory"));
}

fn compose_config(program: &str, prefix: &[&str]) {
    for profile in ["local", "isolated"] {
        let dir = secrets_project(&format!("cfg-secrets-{profile}"), profile, "");
        let run = init(dir.path(), &["--yes", "--env"]);
        assert_eq!(run.code, 0, "{}", run.show());
        let mut args = prefix.to_vec();
        args.extend(["config", "-q"]);
        let (ok, out) = run_in(dir.path(), program, &args);
        assert!(
            ok,
            "{program} rejected the secrets variant ({profile}):\n{out}"
        );
        let mut args = prefix.to_vec();
        args.push("config");
        let out = ok_in(dir.path(), program, &args);
        assert!(out.contains("CLAWDBOT_GATEWAY_TOKEN_FILE"), "{out}");
        assert!(out.contains("secrets/clawdbot_gateway_token"), "{out}");
        assert!(!out.contains("env_file"), "{out}");
    }
}

#[test]
fn secrets_compose_v2_config_accepts_it() {
    if have_tool("docker", &["compose", "version"]) {
        compose_config("docker", &["compose"]);
    }
}

#[test]
fn secrets_compose_v1_config_accepts_it() {
    if have_tool("docker-compose", &["version"]) {
        compose_config("docker-compose", &[]);
    }
}

/// Tears the compose project and the image down, whatever happened.
struct ComposeGuard<'a> {
    dir: &'a TempDir,
    project: String,
    program: &'a str,
    prefix: &'a [&'a str],
    image: String,
}

impl Drop for ComposeGuard<'_> {
    fn drop(&mut self) {
        let mut args = self.prefix.to_vec();
        args.extend(["-p", &self.project, "down", "-v", "--remove-orphans"]);
        let _ = run_in(self.dir.path(), self.program, &args);
        let _ = run_in(self.dir.path(), "docker", &["rmi", "-f", &self.image]);
    }
}

/// A loopback port that is free right now (the kernel picks it).
fn free_port() -> u16 {
    clawdbot_testkit::free_port().expect("no free loopback port")
}

fn container_of(dir: &TempDir, program: &str, prefix: &[&str], project: &str) -> String {
    let mut args = prefix.to_vec();
    args.extend(["-p", project, "ps", "-q", "clawdbot"]);
    ok_in(dir.path(), program, &args).trim().to_owned()
}

fn health(dir: &TempDir, id: &str) -> String {
    run_in(
        dir.path(),
        "docker",
        &["inspect", "--format", "{{.State.Health.Status}}", id],
    )
    .1
    .trim()
    .to_owned()
}

/// The whole path with the real engine and compose: `init --env` as this user, then the
/// service (uid 1000, read-only rootfs, no env_file) starts, reads its token file and
/// becomes healthy; its environment holds only `*_FILE` paths. Then the negative: the
/// same file owned by root with mode 0600 is unreadable in the container and the service
/// refuses to start, which is why init hands the files to uid:gid.
fn e2e(program: &'static str, prefix: &'static [&'static str]) {
    let pid = std::process::id();
    let image = format!("prod-secrets-e2e-{}", program.replace('-', ""));
    // The v1 and v2 runs go in parallel: each publishes its own free loopback ports.
    let gateway_port = free_port();
    let health_port = std::iter::repeat_with(free_port)
        .find(|p| *p != gateway_port)
        .expect("a second free port");
    let dir = secrets_project(
        &format!("e2e-secrets-{program}"),
        "isolated",
        &format!(
            "image_name = \"{image}\"\ngateway_port = {gateway_port}\nhealth_port = {health_port}\n"
        ),
    );
    let run = init(dir.path(), &["--yes", "--env"]);
    assert_eq!(run.code, 0, "{}", run.show());
    build_image(&dir, &format!("{image}:0.1.0"));
    let project = format!("prodsecrets{pid}{}", program.replace('-', ""));
    let guard = ComposeGuard {
        dir: &dir,
        project: project.clone(),
        program,
        prefix,
        image: format!("{image}:0.1.0"),
    };
    let mut args = prefix.to_vec();
    args.extend(["-p", &project, "up", "-d", "--no-build"]);
    ok_in(dir.path(), program, &args);
    let id = container_of(&dir, program, prefix, &project);
    assert!(!id.is_empty(), "no container");
    let healthy = wait_for(60, || health(&dir, &id) == "healthy");
    let logs = run_in(dir.path(), "docker", &["logs", &id]).1;
    assert!(healthy, "the service did not become healthy:\n{logs}");
    assert!(logs.contains("auth=\"token\""), "{logs}");
    let token = dir.read("secrets/clawdbot_gateway_token");
    let env = ok_in(
        dir.path(),
        "docker",
        &["inspect", "--format", "{{json .Config.Env}}", &id],
    );
    assert!(!env.contains(&token), "the token is in the environment");
    assert!(
        env.contains("CLAWDBOT_GATEWAY_TOKEN_FILE=/run/secrets/clawdbot_gateway_token"),
        "{env}"
    );
    assert!(!env.contains("sk-ant-demo-placeholder"), "{env}");
    let user = ok_in(
        dir.path(),
        "docker",
        &["inspect", "--format", "{{.Config.User}}", &id],
    );
    assert_eq!(user.trim(), "1000:1000");
    let (ok, out) = run_in(
        dir.path(),
        "docker",
        &[
            "exec",
            &id,
            "/usr/local/bin/clawdbot",
            "healthcheck",
            "--port",
            &health_port.to_string(),
        ],
    );
    assert!(ok, "healthcheck through exec failed: {out}");

    // Negative: root-owned 0600 (what a plain `echo > file` as root gives) is unreadable
    // for uid 1000 in the container, and the service refuses to start.
    let path = dir.join("secrets/clawdbot_gateway_token");
    std::os::unix::fs::chown(&path, Some(0), Some(0)).unwrap();
    let mut args = prefix.to_vec();
    args.extend(["-p", &project, "up", "-d", "--no-build", "--force-recreate"]);
    ok_in(dir.path(), program, &args);
    let id = container_of(&dir, program, prefix, &project);
    let exited = wait_for(30, || {
        run_in(
            dir.path(),
            "docker",
            &["inspect", "--format", "{{.State.Status}}", &id],
        )
        .1
        .trim()
            != "running"
            || run_in(dir.path(), "docker", &["logs", &id])
                .1
                .contains("Permission denied")
    });
    let logs = run_in(dir.path(), "docker", &["logs", &id]).1;
    assert!(
        exited && logs.contains("Permission denied"),
        "a root-owned 0600 secret should be unreadable for uid 1000:\n{logs}"
    );
    assert!(!logs.contains(&token), "the token leaked into the logs");
    drop(guard);
}

#[test]
fn secrets_readable_by_uid_1000_compose_v2_engine() {
    if euid() != 0 {
        support::skip("this end-to-end test chowns files and must run as root");
        return;
    }
    if !have_engine() || !have_tool("docker", &["compose", "version"]) {
        return;
    }
    e2e("docker", &["compose"]);
}

#[test]
fn secrets_readable_by_uid_1000_compose_v1_engine() {
    if euid() != 0 {
        support::skip("this end-to-end test chowns files and must run as root");
        return;
    }
    if !have_engine() || !have_tool("docker-compose", &["version"]) {
        return;
    }
    e2e("docker-compose", &[]);
}

/// `init --env` as an ordinary user: files are that user's (init cannot chown); when the
/// id differs from the configured uid, init says how to fix it; when it matches, no note.
#[test]
fn secrets_as_an_ordinary_user_say_how_to_fix_ownership() {
    if euid() != 0 {
        support::skip("this test switches users with setpriv and must run as root");
        return;
    }
    for (uid, note) in [(1234u32, true), (1000u32, false)] {
        let dir = secrets_project(&format!("env-secrets-user{uid}"), "local", "");
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(uid)).unwrap();
        std::os::unix::fs::chown(dir.join("Cargo.toml"), Some(uid), Some(uid)).unwrap();
        let out = std::process::Command::new("setpriv")
            .args([
                "--reuid",
                &uid.to_string(),
                "--regid",
                &uid.to_string(),
                "--clear-groups",
                env!("CARGO_BIN_EXE_xtask"),
                "init",
                "--yes",
                "--env",
                "--root",
            ])
            .arg(dir.path())
            .env("HOME", dir.path())
            .stdin(std::process::Stdio::null())
            .output()
            .expect("setpriv");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for name in SECRET_NAMES {
            let meta = std::fs::metadata(dir.join(&format!("secrets/{name}"))).unwrap();
            assert_eq!(
                (meta.uid(), meta.permissions().mode() & 0o777),
                (uid, 0o600)
            );
        }
        let noted = stdout.contains(&format!(
            "note: the container runs as 1000:1000 and cannot read secret files owned by uid {uid} with mode 0600: run `sudo chown 1000:1000"
        ));
        assert_eq!(noted, note, "uid {uid}:\n{stdout}");
    }
}
