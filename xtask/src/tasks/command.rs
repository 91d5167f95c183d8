//! The one way the xtask runs an external program: a [`Command`] value. Its `Display`
//! is the line a plan prints (and `--dry-run` shows); running it starts exactly that
//! program with exactly those arguments, environment and directory. Every run is
//! rooted at the workspace (the command's own `current_dir`, else
//! [`workspace::root`]), whatever directory `cargo xtask` was started in.
//!
//! Ways to run: [`Command::stream`] (a long step), [`Command::run`] (inherited output,
//! must succeed), [`Command::capture`] (output captured, must succeed),
//! [`Command::read`] (its stdout), [`Command::output`] (captured, any status),
//! [`Command::status`] and [`Command::succeeds`] (status only) and [`Command::to_std`] (a background child the
//! caller spawns). The runner's log shows every command a step runs (`trace`), and
//! `tests/architecture.rs` fails when another module starts a process itself.

use std::ffi::{OsStr, OsString};
use std::fmt::{self, Display};
use std::path::PathBuf;
use std::process::{Output, Stdio};

use anyhow::{bail, Context, Result};

use crate::workspace;

/// This binary's path, read once at start ([`remember_exe`]): a step such as `cargo
/// test` rebuilds `target/debug/xtask` in place, after which the running process's
/// `/proc/self/exe` reads `… (deleted)`; the path itself then holds the new binary.
static XTASK_EXE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Remembers this binary's path; `main` calls it before any step runs.
pub fn remember_exe() {
    if let Ok(exe) = std::env::current_exe() {
        let _ = XTASK_EXE.set(exe);
    }
}

fn xtask_exe() -> Result<PathBuf> {
    match XTASK_EXE.get() {
        Some(exe) => Ok(exe.clone()),
        None => {
            std::env::current_exe().map_err(|e| anyhow::anyhow!("locating the xtask binary: {e}"))
        }
    }
}

/// The program of a [`Command`]: named in the plan as a user would type it, resolved to
/// the exact executable when it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Program {
    /// The cargo that runs us ([`workspace::cargo`]), shown as `cargo`.
    Cargo,
    /// This xtask binary, shown as `cargo xtask`.
    Xtask,
    /// A program found on `PATH`, shown and run by this name.
    Named(String),
    /// An executable at a path (a binary we built, a virtualenv's tool), shown as that path.
    Path(PathBuf),
}

/// One external command, built once: its `Display` is the line a plan prints, and every
/// way of running it starts exactly that program with those arguments and environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    program: Program,
    args: Vec<OsString>,
    env: Vec<(String, String)>,
    /// Variables whose values are secrets: passed like `env`, shown as `NAME=***`.
    secret_env: Vec<(String, String)>,
    /// Start from an empty environment (shown as `env -i`).
    env_clear: bool,
    dir: Option<PathBuf>,
    /// How to install the program when it is not on `PATH` (checked before running).
    install_hint: Option<String>,
}

impl Command {
    fn new(program: Program, args: &[&str]) -> Command {
        Command {
            program,
            args: args.iter().map(OsString::from).collect(),
            env: Vec::new(),
            secret_env: Vec::new(),
            env_clear: false,
            dir: None,
            install_hint: None,
        }
    }

    /// `cargo <args>` with the cargo that runs us.
    pub fn cargo(args: &[&str]) -> Command {
        Command::new(Program::Cargo, args)
    }

    /// `cargo xtask <args>`, run as this very binary.
    pub fn xtask(args: &[&str]) -> Command {
        Command::new(Program::Xtask, args)
    }

    /// A program on `PATH`.
    pub fn program(name: &str, args: &[&str]) -> Command {
        Command::new(Program::Named(name.to_owned()), args)
    }

    /// The executable at `path` (not looked up on `PATH`).
    pub fn exe(path: impl Into<PathBuf>, args: &[&str]) -> Command {
        Command::new(Program::Path(path.into()), args)
    }

    /// A program on `PATH` and its arguments as one list (e.g. a compose argv); `None`
    /// when the list is empty.
    pub fn from_argv(argv: &[String]) -> Option<Command> {
        let (program, args) = argv.split_first()?;
        Some(Command::program(program, &[]).args(args))
    }

    /// Appends one argument (a path or a computed value).
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Command {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Appends arguments.
    pub fn args<I, S>(mut self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable (shown as `NAME=value` before the program).
    pub fn env(mut self, name: &str, value: &str) -> Command {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets a variable whose value is a secret (a token): passed to the program, never
    /// shown (`NAME=***` in plans, traces and errors).
    pub fn secret_env(mut self, name: &str, value: &str) -> Command {
        self.secret_env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Starts the program with only the variables set by [`env`](Self::env).
    pub fn env_clear(mut self) -> Command {
        self.env_clear = true;
        self
    }

    /// The working directory (not shown: plans run in the workspace root, the default).
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Command {
        self.dir = Some(dir.into());
        self
    }

    /// When the program is not on `PATH`, fail with "`<name>` is not installed (<hint>)".
    pub fn install_hint(mut self, hint: &str) -> Command {
        self.install_hint = Some(hint.to_owned());
        self
    }

    /// The program's name as shown (`cargo`, `cargo xtask`, `docker`, a path).
    pub fn program_name(&self) -> String {
        match &self.program {
            Program::Cargo => "cargo".into(),
            Program::Xtask => "cargo xtask".into(),
            Program::Named(name) => name.clone(),
            Program::Path(path) => path.display().to_string(),
        }
    }

    /// The process to start: the resolved program, the arguments, the environment and
    /// the directory (the workspace root unless set). Spawning it is the caller's job
    /// (a background child); everything else runs through the methods below.
    pub fn to_std(&self) -> Result<std::process::Command> {
        let program = match &self.program {
            Program::Cargo => PathBuf::from(workspace::cargo()),
            Program::Xtask => xtask_exe()?,
            Program::Path(path) => path.clone(),
            Program::Named(name) => {
                if let Some(hint) = &self.install_hint {
                    if workspace::find_on_path(name).is_none() {
                        bail!("{name} is not installed ({hint})");
                    }
                }
                PathBuf::from(name)
            }
        };
        let mut cmd = std::process::Command::new(program);
        cmd.args(&self.args);
        if self.env_clear {
            cmd.env_clear();
        }
        cmd.envs(self.env.iter().chain(&self.secret_env).map(|(k, v)| (k, v)));
        cmd.current_dir(self.dir.clone().unwrap_or_else(workspace::root));
        super::trace(self);
        Ok(cmd)
    }

    /// Runs it to the end with no input and stdout and stderr captured; any exit status.
    pub fn output(&self) -> Result<Output> {
        let mut cmd = self.to_std()?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.output().with_context(|| format!("running `{self}`"))
    }

    /// Runs it with its output captured. On failure the error names the exact command
    /// and carries the last lines of its output; on success returns the output.
    pub fn capture(&self) -> Result<Output> {
        let out = self.output()?;
        if !out.status.success() {
            bail!("`{self}` failed ({}):\n{}", out.status, tail(&out, 40));
        }
        Ok(out)
    }

    /// Its standard output (UTF-8, one trailing newline removed); fails like [`capture`](Self::capture).
    pub fn read(&self) -> Result<String> {
        let out = self.capture()?;
        let mut text = String::from_utf8(out.stdout)
            .with_context(|| format!("`{self}` printed something that is not UTF-8"))?;
        if text.ends_with('\n') {
            text.pop();
            if text.ends_with('\r') {
                text.pop();
            }
        }
        Ok(text)
    }

    /// Runs it with no input and its output discarded; its exit status, whatever it is.
    pub fn status(&self) -> Result<std::process::ExitStatus> {
        let mut cmd = self.to_std()?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd.status().with_context(|| format!("running `{self}`"))
    }

    /// Runs it with the terminal's stdin, stdout and stderr and returns its exit status
    /// (a passthrough such as `cargo xtask openclaw`, whose exit code is the program's).
    pub fn interactive(&self) -> Result<std::process::ExitStatus> {
        let mut cmd = self.to_std()?;
        cmd.status()
            .with_context(|| format!("`{self}` could not start"))
    }

    /// True when it ran and exited 0 (its output is discarded): for probes such as
    /// "is this tool installed".
    pub fn succeeds(&self) -> bool {
        self.status().is_ok_and(|s| s.success())
    }

    /// Runs it with the terminal's output and no input; a non-zero exit is an error
    /// naming the command.
    pub fn run(&self) -> Result<()> {
        let mut cmd = self.to_std()?;
        cmd.stdin(Stdio::null());
        let status = cmd.status().with_context(|| format!("running `{self}`"))?;
        if !status.success() {
            bail!("`{self}` failed ({status})");
        }
        Ok(())
    }

    /// Runs it as a long step: on a terminal its output is captured (shown on failure)
    /// under the spinner; otherwise (CI) it streams to the log as it runs.
    pub fn stream(&self) -> Result<()> {
        if super::fancy_output() {
            self.capture().map(|_| ())
        } else {
            self.run()
        }
    }
}

impl Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.env_clear {
            f.write_str("env -i ")?;
        }
        for (k, v) in &self.env {
            write!(f, "{k}={} ", shell_quote(v))?;
        }
        for (k, _) in &self.secret_env {
            write!(f, "{k}=*** ")?;
        }
        f.write_str(&match &self.program {
            Program::Cargo | Program::Xtask => self.program_name(),
            _ => shell_quote(&self.program_name()),
        })?;
        for a in &self.args {
            write!(f, " {}", shell_quote(&a.to_string_lossy()))?;
        }
        Ok(())
    }
}

/// `s` as one shell word: unchanged when it holds only safe characters, else in single
/// quotes.
fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%{}".contains(c));
    if safe {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The last `n` lines of a command's stdout and stderr.
pub fn tail(out: &Output, n: usize) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    tail_text(&text, n)
}

/// The last `n` lines of `text`.
pub fn tail_text(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_in_the_workspace_root_unless_told_otherwise() {
        let pwd = Command::program("pwd", &[]).read().unwrap();
        assert_eq!(PathBuf::from(pwd), workspace::root());
        let dir = std::env::temp_dir().canonicalize().unwrap();
        let pwd = Command::program("pwd", &[])
            .current_dir(&dir)
            .read()
            .unwrap();
        assert_eq!(PathBuf::from(pwd), dir);
    }

    #[test]
    fn a_secret_reaches_the_program_but_is_never_shown() {
        let script = "printf %s \"$T\"; exit 3";
        let c = Command::program("sh", &["-c", script])
            .secret_env("T", "s3cret-value")
            .env("A", "b");
        assert_eq!(c.to_string(), format!("A=b T=*** sh -c '{script}'"));
        let out = c.output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "s3cret-value");
        assert_eq!(out.status.code(), Some(3));
        // A failure names the command with the secret masked (the output is the program's).
        let err = format!("{:#}", c.capture().unwrap_err());
        assert!(err.starts_with("`A=b T=*** sh -c"), "{err}");
        assert!(!c.succeeds());
    }

    #[test]
    fn env_clear_passes_only_the_given_variables() {
        let c = Command::program("/usr/bin/env", &[])
            .env_clear()
            .env("ONLY", "this");
        assert_eq!(c.to_string(), "env -i ONLY=this /usr/bin/env");
        assert_eq!(c.read().unwrap(), "ONLY=this");
        assert!(Command::program("true", &[]).succeeds());
        assert!(Command::exe("/nonexistent/clawdbot-tool", &[])
            .output()
            .is_err());
    }
}
