//! `cargo xtask init` on a temporary project root, through the real binary.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use super::TempDir;

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

/// `xtask <args>` with the `env` variables set and stdin from /dev/null (no terminal).
pub fn xtask_env(args: &[&str], env: &[(&str, &Path)]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run xtask");
    Run::from(out)
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

impl TempDir {
    /// A temporary project root holding `manifest(profile)` as its Cargo.toml.
    pub fn project(tag: &str, profile: &str) -> TempDir {
        let dir = TempDir::new(tag);
        dir.write("Cargo.toml", &manifest(profile));
        dir
    }
}
