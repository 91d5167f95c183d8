//! Command line: one subcommand per job. Each subcommand's options live in the module
//! that implements it.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "clawdbot",
    version,
    about = "Hardened AI gateway (OpenClaw gateway protocol v3/v4)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP health endpoints and the authenticated WebSocket gateway.
    Serve(Box<ServeCommand>),
    /// Show version, mode, configured providers (masked), ports, auth and limits. No network.
    Status(crate::status::StatusArgs),
    /// Exit 0 when the local /health answers in time (the image's HEALTHCHECK).
    Healthcheck(crate::healthcheck::HealthcheckArgs),
    /// Inspect the process's own hardening (user, capabilities, rootfs, limits, sockets).
    SelfCheck(crate::selfcheck::SelfCheckArgs),
    /// HTTP CONNECT proxy with a HOST:PORT allowlist, plus TCP port forwards (isolated profile).
    EgressProxy(crate::egress::EgressArgs),
    /// Try to reach HOST:PORT through the CONNECT proxy (or directly); diagnostic.
    #[command(hide = true)]
    EgressCheck(crate::egress::check::EgressCheckArgs),
    /// Print the version.
    Version,
}

/// `serve`: the gateway's options and those of the OpenAI-compatible API (a module
/// the gateway does not import; its routes are handed to the gateway here).
#[derive(Debug, clap::Args)]
pub struct ServeCommand {
    #[command(flatten)]
    pub gateway: crate::gateway::ServeArgs,
    #[command(flatten)]
    pub openai: crate::openai::OpenAiArgs,
}

fn serve(args: ServeCommand) -> anyhow::Result<ExitCode> {
    args.openai.validate()?;
    crate::gateway::run_serve(args.gateway, crate::openai::router(args.openai))
}

pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Serve(args) => serve(*args),
        Command::Status(args) => crate::status::run(args),
        Command::Healthcheck(args) => crate::healthcheck::run(args),
        Command::SelfCheck(args) => crate::selfcheck::run(args),
        Command::EgressProxy(args) => crate::egress::run(args),
        Command::EgressCheck(args) => crate::egress::check::run(args),
        Command::Version => {
            println!("clawdbot {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
