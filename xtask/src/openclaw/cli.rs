//! `cargo xtask openclaw <args>`: the bundled `openclaw` CLI, run inside the running
//! hardened container with `docker exec … node ENTRY <args>`. The image has no shell and
//! no package manager, so this is how to operate it: `devices list`, `devices approve
//! <requestId>`, `security audit`, `status`, `logs`. The CLI runs as the container's user,
//! reaches its gateway over the container's own loopback, and reads the token from the
//! same secret file as the gateway: nothing is passed on the command line.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};

use crate::defaults::openclaw as facts;
use crate::tasks::Command;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The container to run in (name or id). Default: the one running compose service
    /// `openclaw` (label com.docker.compose.service).
    #[arg(long, value_name = "NAME")]
    pub container: Option<String>,
    /// Arguments of the `openclaw` CLI, e.g. `devices list` or `security audit --json`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub args: Vec<String>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let container = match args.container {
        Some(c) => c,
        None => running_container()?,
    };
    let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let cmd = exec_command(&container, &args.args, tty);
    let status = cmd.interactive()?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::from(1),
    })
}

/// `docker exec [-it] <container> node ENTRY <args>`.
pub(crate) fn exec_command(container: &str, args: &[String], tty: bool) -> Command {
    let mut argv: Vec<&str> = vec!["exec"];
    if tty {
        argv.push("-it");
    }
    argv.extend([container, facts::NODE_BIN, facts::ENTRY]);
    argv.extend(args.iter().map(String::as_str));
    Command::program("docker", &argv)
        .install_hint("install the Docker engine: `cargo xtask demo --provision`")
}

/// The one running container of the compose service `openclaw`.
fn running_container() -> Result<String> {
    let filter = format!("label=com.docker.compose.service={}", facts::SERVICE_NAME);
    let out = Command::program(
        "docker",
        &[
            "ps",
            "--filter",
            &filter,
            "--filter",
            "status=running",
            "--format",
            "{{.Names}}",
        ],
    )
    .capture()
    .context("listing the running OpenClaw containers")?;
    let names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    match names.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!(
            "no running container of the compose service `{}` (start it: `docker compose up -d`; or name one with --container)",
            facts::SERVICE_NAME
        ),
        many => bail!(
            "{} running containers of the service `{}` ({}): name one with --container",
            many.len(),
            facts::SERVICE_NAME,
            many.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_the_bundled_entry_with_node_in_the_container() {
        let args = vec![
            "devices".to_owned(),
            "approve".to_owned(),
            "req-1".to_owned(),
        ];
        let line = exec_command("oc-1", &args, false).to_string();
        assert_eq!(
            line,
            format!(
                "docker exec oc-1 {} {} devices approve req-1",
                facts::NODE_BIN,
                facts::ENTRY
            )
        );
        assert!(exec_command("oc-1", &args, true)
            .to_string()
            .starts_with("docker exec -it oc-1 "));
    }
}
