//! The container engine: is a Docker daemon reachable (respecting `DOCKER_HOST`), and which
//! compose is there (the v2 plugin preferred, `docker-compose` v1 as a fallback).
//!
//! Every caller builds its compose command lines through [`Engine::compose`], so the choice
//! between `docker compose` and `docker-compose` is made in one place. `CLAWDBOT_COMPOSE=v1|v2`
//! forces one (the test suite runs the demo with each).

use std::fmt;
use std::path::{Path, PathBuf};

use crate::tasks::Command;
use crate::workspace::on_path;
use anyhow::{bail, Context, Result};

/// Environment variable that forces a compose flavour (`v1` or `v2`).
pub const COMPOSE_ENV: &str = "CLAWDBOT_COMPOSE";

/// Which compose implementation runs the compose command lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compose {
    /// The `docker compose` CLI plugin.
    V2,
    /// The standalone Python `docker-compose` 1.x.
    V1,
}

impl Compose {
    /// Program and leading arguments: `docker compose` or `docker-compose`.
    pub fn argv0(self) -> &'static [&'static str] {
        match self {
            Compose::V2 => &["docker", "compose"],
            Compose::V1 => &["docker-compose"],
        }
    }

    /// The flavour `CLAWDBOT_COMPOSE` forces, if any (an invalid value is an error).
    pub fn forced() -> Result<Option<Compose>> {
        match std::env::var(COMPOSE_ENV) {
            Ok(v) => Compose::parse_forced(&v),
            Err(_) => Ok(None),
        }
    }

    fn parse_forced(value: &str) -> Result<Option<Compose>> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(None),
            "v2" | "2" => Ok(Some(Compose::V2)),
            "v1" | "1" => Ok(Some(Compose::V1)),
            other => bail!(
                "{COMPOSE_ENV}={other:?} is not one of v1, v2 (unset it to pick automatically)"
            ),
        }
    }
}

impl fmt::Display for Compose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compose::V2 => "compose v2 (docker compose)",
            Compose::V1 => "compose v1 (docker-compose)",
        })
    }
}

/// A reachable engine and the compose that drives it.
#[derive(Debug, Clone)]
pub struct Engine {
    pub server_version: String,
    pub compose: Compose,
    pub compose_version: String,
}

/// A compose invocation context: which files, which project name, and which project
/// directory (relative paths and the interpolation `.env` resolve against it).
#[derive(Debug, Clone)]
pub struct ComposeProject {
    pub name: String,
    pub project_dir: PathBuf,
    pub env_file: PathBuf,
    pub files: Vec<PathBuf>,
}

impl ComposeProject {
    /// Global arguments placed before the compose subcommand.
    pub fn global_args(&self) -> Vec<String> {
        let mut args = vec![
            "--project-name".to_string(),
            self.name.clone(),
            "--project-directory".to_string(),
            self.project_dir.display().to_string(),
            "--env-file".to_string(),
            self.env_file.display().to_string(),
        ];
        for f in &self.files {
            args.push("-f".into());
            args.push(f.display().to_string());
        }
        args
    }
}

impl Engine {
    /// Detects the daemon and a compose, or explains in one message what is missing and
    /// the exact command that installs it.
    pub fn detect() -> Result<Engine> {
        let forced = Compose::forced()?;
        if !on_path("docker") {
            bail!(
                "the docker CLI is not installed ({})",
                install_hint(Missing::Docker)
            );
        }
        let server = server_version_command()
            .output()
            .context("running docker version")?;
        let server_version = String::from_utf8_lossy(&server.stdout).trim().to_string();
        if !server.status.success() || server_version.is_empty() {
            let host = std::env::var("DOCKER_HOST")
                .unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
            let why = String::from_utf8_lossy(&server.stderr);
            let why = why.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            bail!(
                "no Docker daemon answers at {host}: {why} ({})",
                install_hint(Missing::Daemon)
            );
        }
        let v2 = || compose_version(Compose::V2);
        let v1 = || compose_version(Compose::V1);
        let (compose, compose_version) = match forced {
            Some(Compose::V2) => match v2() {
                Some(v) => (Compose::V2, v),
                None => bail!(
                    "{COMPOSE_ENV}=v2 but `docker compose version` fails ({})",
                    install_hint(Missing::ComposeV2)
                ),
            },
            Some(Compose::V1) => match v1() {
                Some(v) => (Compose::V1, v),
                None => bail!(
                    "{COMPOSE_ENV}=v1 but `docker-compose version` fails ({})",
                    install_hint(Missing::ComposeV1)
                ),
            },
            None => match v2() {
                Some(v) => (Compose::V2, v),
                None => match v1() {
                    Some(v) => (Compose::V1, v),
                    None => bail!(
                        "neither `docker compose` (v2) nor `docker-compose` (v1) is installed ({})",
                        install_hint(Missing::ComposeV1)
                    ),
                },
            },
        };
        Ok(Engine {
            server_version,
            compose,
            compose_version,
        })
    }

    /// The engine a plan assumes when none answers yet (before provisioning, or a dry
    /// run elsewhere): the compose `CLAWDBOT_COMPOSE` forces, else v2 (what
    /// provisioning installs).
    pub fn assumed() -> Engine {
        Engine {
            server_version: String::new(),
            compose: Compose::forced().ok().flatten().unwrap_or(Compose::V2),
            compose_version: String::new(),
        }
    }

    /// One line describing the engine, for notes.
    pub fn describe(&self) -> String {
        format!(
            "docker engine {}, {} {}",
            self.server_version, self.compose, self.compose_version
        )
    }

    /// Full argv of a compose command: `docker compose <globals> <args>`.
    pub fn compose_argv(&self, project: &ComposeProject, args: &[&str]) -> Vec<String> {
        let mut argv: Vec<String> = self.compose.argv0().iter().map(|s| s.to_string()).collect();
        argv.extend(project.global_args());
        argv.extend(args.iter().map(|s| s.to_string()));
        argv
    }

    /// A ready-to-run compose command, run in the project directory so nothing is read
    /// from the caller's.
    pub fn compose(&self, project: &ComposeProject, args: &[&str]) -> Command {
        Command::from_argv(&self.compose_argv(project, args))
            .expect("argv0 is never empty")
            .current_dir(&project.project_dir)
    }
}

/// `docker version --format '{{.Server.Version}}'`: whether a daemon answers, and its
/// version (the command `detect` runs and plans print).
pub fn server_version_command() -> Command {
    Command::program("docker", &["version", "--format", "{{.Server.Version}}"])
}

impl Compose {
    /// `<compose> --project-directory DIR --env-file ENV -f FILE… <args>` run in `dir`: a
    /// compose command outside a named project (the suite's `compose config`).
    pub fn command_in(
        self,
        dir: &Path,
        env_file: &Path,
        files: &[&Path],
        args: &[&str],
    ) -> Command {
        let (program, rest) = self.argv0().split_first().expect("argv0 is never empty");
        let mut command = Command::program(program, rest)
            .arg("--project-directory")
            .arg(dir)
            .arg("--env-file")
            .arg(env_file);
        for file in files {
            command = command.arg("-f").arg(file);
        }
        command.args(args).current_dir(dir)
    }

    /// `<compose> version --short` (the command `detect` runs and plans print).
    pub fn version_command(self) -> Command {
        let argv: Vec<String> = self
            .argv0()
            .iter()
            .chain(&["version", "--short"])
            .map(|s| s.to_string())
            .collect();
        Command::from_argv(&argv).expect("argv0 is never empty")
    }
}

fn compose_version(compose: Compose) -> Option<String> {
    if compose == Compose::V1 && !on_path("docker-compose") {
        return None;
    }
    let out = compose.version_command().output().ok()?;
    let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !v.is_empty()).then_some(v)
}

/// What an install hint is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    Docker,
    Daemon,
    ComposeV2,
    ComposeV1,
}

/// True on Debian, Ubuntu and their derivatives (from `/etc/os-release`).
pub fn is_debian_like() -> bool {
    debian_like_in(Path::new("/etc/os-release"))
}

fn debian_like_in(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    text.lines().any(|l| {
        let (k, v) = l.split_once('=').unwrap_or(("", ""));
        (k == "ID" || k == "ID_LIKE")
            && v.trim_matches('"')
                .split_whitespace()
                .any(|id| id == "debian" || id == "ubuntu")
    })
}

/// The exact command that fixes `what` on this platform.
pub fn install_hint(what: Missing) -> String {
    let provision = "or run `cargo xtask demo --provision` as root";
    if !is_debian_like() {
        return match what {
            Missing::Daemon => {
                "start the Docker daemon, see https://docs.docker.com/engine/install/".into()
            }
            _ => "install Docker Engine and Compose, see https://docs.docker.com/engine/install/"
                .into(),
        };
    }
    match what {
        Missing::Docker => format!("install it: `sudo apt-get update && sudo apt-get install -y docker.io docker-compose`, {provision}"),
        Missing::Daemon => format!("start it: `sudo systemctl start docker` (or without systemd `sudo setsid dockerd >/var/log/dockerd.log 2>&1 &`), or check DOCKER_HOST; {provision}"),
        Missing::ComposeV1 => format!("install it: `sudo apt-get install -y docker-compose`, {provision}"),
        Missing::ComposeV2 => format!("install the compose plugin: `sudo apt-get install -y docker-compose-plugin` (Docker's apt repository) or `docker-compose-v2` (Ubuntu), {provision}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forced_compose_parses_and_rejects_nonsense() {
        assert_eq!(Compose::parse_forced("v1").unwrap(), Some(Compose::V1));
        assert_eq!(Compose::parse_forced("V2").unwrap(), Some(Compose::V2));
        assert_eq!(Compose::parse_forced("").unwrap(), None);
        let err = Compose::parse_forced("v3").unwrap_err().to_string();
        assert!(err.contains("CLAWDBOT_COMPOSE"), "{err}");
    }

    #[test]
    fn compose_argv_puts_globals_before_the_subcommand() {
        let engine = Engine {
            server_version: "20.10".into(),
            compose: Compose::V1,
            compose_version: "1.29.2".into(),
        };
        let project = ComposeProject {
            name: "demo-x".into(),
            project_dir: "/tmp/p".into(),
            env_file: "/tmp/p/.env".into(),
            files: vec!["/r/docker-compose.yml".into(), "/tmp/p/o.yml".into()],
        };
        let argv = engine.compose_argv(&project, &["up", "-d"]);
        assert_eq!(
            argv.join(" "),
            "docker-compose --project-name demo-x --project-directory /tmp/p --env-file /tmp/p/.env \
             -f /r/docker-compose.yml -f /tmp/p/o.yml up -d"
        );
        let v2 = Engine {
            compose: Compose::V2,
            ..engine
        };
        assert_eq!(
            v2.compose_argv(&project, &["ps"])[..2],
            ["docker", "compose"]
        );
    }

    #[test]
    fn os_release_detection() {
        let dir = std::env::temp_dir().join(format!("xtask-osr-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("os-release");
        std::fs::write(
            &f,
            "NAME=\"Linux Mint\"\nID=linuxmint\nID_LIKE=\"ubuntu debian\"\n",
        )
        .unwrap();
        assert!(debian_like_in(&f));
        std::fs::write(&f, "ID=fedora\n").unwrap();
        assert!(!debian_like_in(&f));
        assert!(!debian_like_in(&dir.join("missing")));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn detects_the_engine_on_this_machine_when_present() {
        if !on_path("docker") {
            let err = Engine::detect().unwrap_err().to_string();
            assert!(err.contains("docker"), "{err}");
            return;
        }
        match Engine::detect() {
            Ok(e) => assert!(!e.server_version.is_empty() && !e.compose_version.is_empty()),
            Err(e) => assert!(e.to_string().contains("install") || e.to_string().contains("start")),
        }
    }
}
