//! Dev-only helpers shared by the workspace's tests (`tests/`, `xtask/tests`,
//! `crates/verify/tests`) and the load tools (`bench/`): one implementation of each
//! so that they cannot drift apart.
//!
//! - [`free_port`]: an ephemeral loopback port;
//! - [`child`]: a child process whose stderr is collected into a log, with one
//!   behaviour on every timeout (stop, reap, drain the log, report status and log) and
//!   one way to stop it (SIGTERM and a grace period when asked, its process group
//!   when asked, then SIGKILL): the tests' servers and the bench's;
//! - [`ws_frame`]: raw client WebSocket frame headers for hostile-client tests.
//!
//! std and libc only, so that it adds nothing to build times.

pub mod child;
pub mod ws_frame;

/// An ephemeral TCP port on 127.0.0.1 that was free a moment ago (the listener that
/// found it is closed before returning, so a racing process may still take it).
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
