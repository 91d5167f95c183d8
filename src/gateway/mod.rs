//! `clawdbot serve`: HTTP health endpoints and the authenticated WebSocket gateway.
//! (Skeleton; implementation in progress.)

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to bind (the image passes 0.0.0.0; the port mapping restricts exposure).
    #[arg(long, default_value = crate::defaults::BIND)]
    pub bind: String,
}

pub fn run_serve(_args: ServeArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
