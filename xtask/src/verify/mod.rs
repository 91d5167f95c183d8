//! `cargo xtask verify` (not implemented yet).

pub mod finding;
pub mod runtime;

#[allow(unused_imports)]
pub use finding::{Finding, Location, Severity};

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("cargo xtask verify: not implemented yet")
}
