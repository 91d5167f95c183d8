//! `clawdbot selfcheck` (skeleton; implementation in progress).

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct SelfCheckArgs {}

pub fn run(_args: SelfCheckArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
