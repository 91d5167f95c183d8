//! The few engine calls runtime verify makes, each through `xshell::cmd!` (the docker
//! CLI honours `DOCKER_HOST` and contexts by itself).

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use super::inspect::{self, Container, Network};
use super::selfcheck::ExecOutput;
use crate::defaults;

fn first_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .to_string()
}

/// Runs a docker command and returns stdout, or one line naming what failed.
fn docker(what: &str, c: xshell::Cmd<'_>) -> Result<String> {
    let out = c
        .quiet()
        .ignore_status()
        .output()
        .with_context(|| format!("running docker to {what} (is the docker CLI installed?)"))?;
    if !out.status.success() {
        bail!(
            "docker could not {what}: {} (is the engine running and DOCKER_HOST right?)",
            first_line(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Every container of a compose project (running or not; one-off `run` containers
/// excluded), inspected.
pub fn project_containers(sh: &Shell, project: &str) -> Result<Vec<Container>> {
    let filter = format!("label=com.docker.compose.project={project}");
    let format = "{{.ID}}";
    let ids = docker(
        "list the project's containers",
        cmd!(
            sh,
            "docker ps -a --no-trunc --filter {filter} --format {format}"
        ),
    )?;
    let ids: Vec<&str> = ids.split_whitespace().collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let json = docker(
        "inspect the containers",
        cmd!(sh, "docker inspect {ids...}"),
    )?;
    let mut containers = inspect::parse_containers(&json)?;
    containers.retain(|c| c.label("com.docker.compose.oneoff") != Some("True"));
    containers.sort_by(|a, b| a.name().cmp(b.name()));
    Ok(containers)
}

/// The networks the containers are attached to, by name. A network that cannot be
/// inspected (removed meanwhile) is left out and counts as not internal.
pub fn networks(sh: &Shell, containers: &[Container]) -> Result<BTreeMap<String, Network>> {
    let mut names: Vec<String> = containers
        .iter()
        .flat_map(Container::network_names)
        .collect();
    names.sort();
    names.dedup();
    let mut out = BTreeMap::new();
    for name in names {
        let res = cmd!(sh, "docker network inspect {name}")
            .quiet()
            .ignore_status()
            .output()
            .context("running docker network inspect")?;
        if res.status.success() {
            for net in inspect::parse_networks(&String::from_utf8_lossy(&res.stdout))? {
                out.insert(name.clone(), net);
            }
        }
    }
    Ok(out)
}

/// `docker exec <container> <argv...>`, its status and output kept whatever they are.
pub fn exec(sh: &Shell, container: &str, argv: &[&str]) -> ExecOutput {
    match cmd!(sh, "docker exec {container} {argv...}")
        .quiet()
        .ignore_status()
        .output()
    {
        Ok(out) => ExecOutput {
            status: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        },
        Err(e) => ExecOutput {
            status: None,
            stdout: String::new(),
            stderr: e.to_string(),
        },
    }
}

/// `docker exec <container> /usr/local/bin/clawdbot self-check --json`; exit 1 (a check
/// failed) still carries the report on stdout.
pub fn self_check(sh: &Shell, container: &str) -> ExecOutput {
    exec(
        sh,
        container,
        &[defaults::IMAGE_BINARY, "self-check", "--json"],
    )
}
