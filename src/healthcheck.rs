//! `clawdbot healthcheck` (skeleton; implementation in progress).

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct HealthcheckArgs {}

pub fn run(_args: HealthcheckArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
