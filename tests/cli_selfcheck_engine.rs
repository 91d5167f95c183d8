//! End-to-end: `clawdbot self-check` inside containers started on the real Docker engine
//! (needs a running engine: without one these tests are skipped with a loud message,
//! except under `CI`, where they fail). The test binary is mounted read-only into an empty image (imported from
//! an empty tar, nothing is pulled) together with the shared libraries it links.

mod engine_support;

use engine_support::{engine_available, mounts, HARDENED};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// An empty image, removed again on drop.
struct EmptyImage(String);

impl EmptyImage {
    fn new() -> Self {
        let tag = format!("clawdbot-selfcheck-test:{}", uuid::Uuid::new_v4().simple());
        let tar = std::env::temp_dir().join(format!("{}.tar", uuid::Uuid::new_v4()));
        // An empty tar archive is two 512-byte zero blocks.
        std::fs::write(&tar, vec![0u8; 1024]).unwrap();
        let out = Command::new("docker")
            .args(["import", tar.to_str().unwrap(), &tag])
            .output()
            .unwrap();
        let _ = std::fs::remove_file(&tar);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        EmptyImage(tag)
    }
}

impl Drop for EmptyImage {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rmi", "-f", &self.0]).output();
    }
}

fn run(image: &EmptyImage, dir: &Path, opts: &[&str]) -> Output {
    let mut cmd = Command::new("docker");
    cmd.args(["run", "--rm", "--network", "none"]);
    for m in mounts(dir) {
        cmd.args(["-v", &m]);
    }
    cmd.args(opts)
        .args(["--entrypoint", "/usr/local/bin/clawdbot", &image.0])
        .args(["self-check", "--json"]);
    cmd.output().expect("docker run")
}

fn tmpdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("clawdbot-engine-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn failed(v: &serde_json::Value) -> Vec<String> {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn engine_hardened_container_passes_self_check() {
    if !engine_available("cli_selfcheck_engine") {
        return;
    }
    let image = EmptyImage::new();
    let dir = tmpdir();
    let out = run(&image, &dir, HARDENED);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(
        v["user"],
        serde_json::json!({"uid":1000,"gid":1000,"name":"clawdbot"})
    );
    assert_eq!(v["capabilities"]["effective_hex"], "0000000000000000");
    assert_eq!(v["capabilities"]["bounding"], serde_json::json!([]));
    assert_eq!(v["no_new_privs"], true);
    assert_eq!(v["seccomp"], "filter");
    assert_eq!(v["rootfs_writable"], false);
    assert_eq!(v["etc_writable"], false);
    assert_eq!(v["cgroup"]["memory_max_bytes"], 256u64 << 20);
    assert_eq!(v["cgroup"]["cpu_max"], 1.5);
    assert_eq!(v["cgroup"]["pids_max"], 64);
    assert_eq!(v["docker_socket"], false);
    assert_eq!(v["env_files"], serde_json::json!([]));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn engine_weakened_container_fails_the_right_checks() {
    if !engine_available("cli_selfcheck_engine") {
        return;
    }
    let image = EmptyImage::new();
    let dir = tmpdir();
    // A fake engine socket (a listening Unix socket) and a stray .env file.
    let sock = dir.join("docker.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let env = dir.join("env");
    std::fs::write(&env, "ANTHROPIC_API_KEY=sk-ant-demo-placeholder\n").unwrap();
    let sock_mount = format!("{}:/var/run/docker.sock", sock.display());
    let env_mount = format!("{}:/.env:ro", env.display());
    let out = run(
        &image,
        &dir,
        &["--user", "0:0", "-v", &sock_mount, "-v", &env_mount],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["user"]["uid"], 0);
    assert_eq!(v["user"]["name"], "root");
    assert!(v["capabilities"]["effective"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("CAP_CHOWN")));
    assert_eq!(v["rootfs_writable"], true);
    assert_eq!(v["docker_socket"], true);
    assert_eq!(v["env_files"], serde_json::json!(["/.env"]));
    // Every check fails, in report order, but these two: the engine's default seccomp
    // profile applies, and there is no sessions directory to scan.
    use clawdbot::defaults::SelfCheckId;
    let passing = [SelfCheckId::Seccomp, SelfCheckId::NoSecretsInSessions];
    let want: Vec<&str> = SelfCheckId::ALL
        .iter()
        .filter(|id| !passing.contains(id))
        .map(|id| id.as_str())
        .collect();
    assert_eq!(failed(&v), want);
    let _ = std::fs::remove_dir_all(&dir);
}
