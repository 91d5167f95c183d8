//! SIGTERM/SIGINT for the long-running commands (`serve`, `egress-proxy`): the first
//! starts the drain, a second exits at once.

use std::future::Future;

use anyhow::Context;
use tracing::{info, warn};

/// Installs the SIGTERM/SIGINT handlers now (so a signal arriving right after startup
/// is not lost) and returns a future resolving on the first of them. A second signal
/// during the drain exits at once (status 128 + signal number).
pub fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => info!(signal = "SIGINT", "shutdown requested"),
            _ = term.recv() => info!(signal = "SIGTERM", "shutdown requested"),
        }
        tokio::spawn(async move {
            let code = tokio::select! {
                _ = int.recv() => 128 + libc::SIGINT,
                _ = term.recv() => 128 + libc::SIGTERM,
            };
            warn!("second signal: exiting without waiting for the drain");
            std::process::exit(code);
        });
    })
}
