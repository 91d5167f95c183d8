//! Helpers shared by the `init_*` integration tests: a temporary project root, running
//! the real `xtask` binary against it, and loud skips for missing external tools.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The names of the generated files, in the order init handles them.
pub const FILES: &[&str] = &[
    "Dockerfile",
    "docker-compose.yml",
    ".env.example",
    ".gitignore",
    ".dockerignore",
];

/// A minimal manifest for a temporary root: package version and the deploy profile.
pub fn manifest(profile: &str) -> String {
    format!(
        "[package]\nname = \"clawdbot\"\nversion = \"0.1.0\"\n\n[workspace.metadata.deploy]\nprofile = \"{profile}\"\n"
    )
}

/// A directory removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("xtask-init-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir.canonicalize().expect("canonical temp dir"))
    }

    /// A temporary project root holding `manifest(profile)` as its Cargo.toml.
    pub fn project(tag: &str, profile: &str) -> TempDir {
        let dir = TempDir::new(tag);
        dir.write("Cargo.toml", &manifest(profile));
        dir
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    pub fn write(&self, name: &str, text: &str) {
        std::fs::write(self.join(name), text).expect("write test file");
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.join(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
    }

    pub fn bytes(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.join(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The result of one run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn show(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// `xtask init --root <root> <args>` with stdin from /dev/null (no terminal).
pub fn init(root: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("init")
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run xtask");
    Run::from(out)
}

/// A project rendered with `init --yes` (every file present and fresh).
pub fn rendered(tag: &str, profile: &str) -> TempDir {
    let dir = TempDir::project(tag, profile);
    let run = init(dir.path(), &["--yes"]);
    assert_eq!(run.code, 0, "{}", run.show());
    dir
}

/// True under CI (where a missing tool is a failure instead of a skip).
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// Skips loudly, or fails under CI (where every check must run).
pub fn skip(why: &str) {
    if in_ci() {
        panic!("required under CI: {why}");
    }
    eprintln!("\n*** SKIPPED: {why} (this check runs, and must pass, under CI) ***\n");
}

/// Whether `program` runs with `args`; when it does not, skip loudly (or fail under CI).
pub fn have_tool(program: &str, args: &[&str]) -> bool {
    let ok = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        skip(&format!("`{program} {}` does not run here", args.join(" ")));
    }
    ok
}

/// True when a Docker engine answers `docker info`; otherwise a loud skip (a failure
/// under CI).
pub fn have_engine() -> bool {
    have_tool("docker", &["info", "--format", "{{.ServerVersion}}"])
}

/// Runs `program args` in `dir`; (success, stdout+stderr).
pub fn run_in(dir: &Path, program: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}
