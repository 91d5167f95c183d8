//! Shared by the service's engine tests: whether the Docker engine answers (a loud skip
//! without one, a failure under `CI`), running `docker`, the hardened run options, and
//! the read-only mounts that put the test build of `clawdbot` into an empty image
//! (nothing is pulled).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `docker run` options of the hardened deployment: uid 1000, read-only root, no
/// capabilities, no-new-privileges, memory, CPU and pids limits.
pub const HARDENED: &[&str] = &[
    "--user",
    "1000:1000",
    "--read-only",
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges:true",
    "--memory",
    "256m",
    "--cpus",
    "1.5",
    "--pids-limit",
    "64",
];

/// Runs `docker` with `args`.
pub fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("run docker")
}

/// Runs `docker` with `args`, which must succeed; returns its trimmed stdout.
pub fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(
        out.status.success(),
        "docker {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// True when the engine answers. Without one: a loud SKIPPED line naming `test`, or a
/// panic when `CI` is set (the end-to-end tests must run there).
pub fn engine_available(test: &str) -> bool {
    let ok = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            !clawdbot_facts::ci::in_ci(),
            "CI is set but the Docker engine is not reachable: {test} must run (start dockerd or run `cargo xtask test --provision`)"
        );
        eprintln!(
            "\n*** SKIPPED {test}: no Docker engine reachable (start dockerd to run it) ***\n"
        );
    }
    ok
}

/// `-v src:dst:ro` for the binary, its shared libraries (from `ldd`) and an `/etc/passwd`
/// written into `dir`.
pub fn mounts(dir: &Path) -> Vec<String> {
    let bin = env!("CARGO_BIN_EXE_clawdbot");
    let passwd = dir.join("passwd");
    std::fs::write(
        &passwd,
        "root:x:0:0:root:/:/sbin/nologin\nclawdbot:x:1000:1000::/:/sbin/nologin\n",
    )
    .unwrap();
    let mut v = vec![
        format!("{bin}:/usr/local/bin/clawdbot:ro"),
        format!("{}:/etc/passwd:ro", passwd.display()),
    ];
    let ldd = Command::new("ldd").arg(bin).output().expect("run ldd");
    for token in String::from_utf8_lossy(&ldd.stdout).split_whitespace() {
        if token.starts_with('/') {
            let real: PathBuf = std::fs::canonicalize(token).unwrap();
            v.push(format!("{}:{token}:ro", real.display()));
        }
    }
    v
}
