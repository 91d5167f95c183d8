//! `clawdbot egress-proxy`: an HTTP CONNECT proxy with a `HOST:PORT` allowlist, the only
//! way out for the gateway in the `isolated` profile, plus plain TCP port forwards that
//! publish the gateway's loopback ports from the egress service.
//!
//! Modules: `allow` (destinations, allowlist), `bounds` (every fixed bound), `connect`
//! (one proxy client), `pending` (the budget of connections that have not spoken yet,
//! on the shared `crate::evict_pool`), `pipe` (relay with idle timeout), `forward`
//! (port forwards), `stats` (counters, `/metrics`, rate-limited refusal lines), `check`
//! (`egress-check`, a diagnostic client for the end-to-end test: a scratch image has no
//! curl). Signals come from `crate::signals`, as for the gateway.

pub mod allow;
pub mod bounds;
pub mod check;
mod connect;
pub mod forward;
pub mod pending;
pub mod pipe;
pub mod stats;

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::{info, warn};

use crate::logging::LogFormat;
use allow::{Allowlist, Destination};
use bounds::{ACCEPT_ERROR_PAUSE, MAX_PENDING, MAX_SLOTS, TIMEOUT_RANGE_MS};
use forward::{ForwardLimits, ForwardSpec};
use pending::Pending;
use stats::{Snapshot, Stats};

#[derive(Debug, clap::Args)]
pub struct EgressArgs {
    /// Address to bind the proxy and the forwards (the container passes 0.0.0.0).
    #[arg(long, default_value = crate::defaults::BIND)]
    pub bind: String,
    /// Port of the CONNECT proxy. 0 picks a free port.
    #[arg(long, default_value_t = crate::defaults::EGRESS_PROXY_PORT)]
    pub port: u16,
    /// Allowed destination HOST:PORT (repeatable; exact match). Default: the provider API
    /// hosts on 443 (and the hosts of ANTHROPIC_BASE_URL and OPENAI_BASE_URL when set).
    #[arg(long = "allow", env = "CLAWDBOT_EGRESS_ALLOW", value_delimiter = ',')]
    pub allow: Vec<String>,
    /// Forward LISTEN_PORT=HOST:PORT (repeatable): accept on the bind address, relay to
    /// HOST:PORT. Used to publish the gateway's ports from the egress service.
    #[arg(
        long = "forward",
        env = "CLAWDBOT_EGRESS_FORWARD",
        value_delimiter = ','
    )]
    pub forward: Vec<ForwardSpec>,
    /// Concurrent CONNECT tunnels (1..65536); further clients get 503.
    #[arg(long, env = "CLAWDBOT_EGRESS_MAX_TUNNELS", default_value_t = 64)]
    pub max_tunnels: usize,
    /// Concurrent connections per forward (1..65536); further connections are closed.
    #[arg(long, env = "CLAWDBOT_EGRESS_MAX_FORWARDS", default_value_t = 1024)]
    pub max_forward_connections: usize,
    /// Connections per listener that have not sent their request head (proxy port) or
    /// first byte (forwards) yet (1..4096). They hold no tunnel or forward slot; when
    /// the budget is full the oldest is closed to make room.
    #[arg(long, env = "CLAWDBOT_EGRESS_MAX_PENDING", default_value_t = 32)]
    pub max_pending: usize,
    /// Time a proxy client has to send its complete request head, in ms (then 408).
    #[arg(long, env = "CLAWDBOT_EGRESS_HEAD_TIMEOUT_MS", default_value_t = 5_000)]
    pub head_timeout_ms: u64,
    /// Time a forwarded client has to send its first byte, in ms (then it is closed);
    /// also how long a client may stay open and silent once the target has closed.
    #[arg(
        long,
        env = "CLAWDBOT_EGRESS_FIRST_BYTE_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub first_byte_timeout_ms: u64,
    /// Time allowed to connect to an upstream, in milliseconds (then 502).
    #[arg(
        long,
        env = "CLAWDBOT_EGRESS_CONNECT_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub connect_timeout_ms: u64,
    /// A tunnel or forward with no traffic either way for this long is closed, in ms.
    #[arg(
        long,
        env = "CLAWDBOT_EGRESS_IDLE_TIMEOUT_MS",
        default_value_t = 300_000
    )]
    pub idle_timeout_ms: u64,
    /// Log format on stderr.
    #[arg(long, value_enum, env = "CLAWDBOT_LOG_FORMAT", default_value = "human")]
    pub log_format: LogFormat,
}

/// Shared state of the running proxy.
#[derive(Debug)]
pub(crate) struct Proxy {
    allow: Allowlist,
    tunnels: Arc<Semaphore>,
    max_tunnels: usize,
    connect_timeout: Duration,
    idle_timeout: Duration,
    head_timeout: Duration,
    /// Once the upstream has closed, how long a silent client may keep its tunnel.
    linger: Duration,
    pending: Arc<Pending>,
    forward_pending: Vec<Arc<Pending>>,
    stats: Arc<Stats>,
    open_files_limit: u64,
    started: Instant,
}

impl Proxy {
    /// The `/metrics` text.
    fn metrics(&self) -> String {
        self.stats.render(&Snapshot {
            max_tunnels: self.max_tunnels,
            pending_proxy: self.pending.len(),
            pending_forwards: self.forward_pending.iter().map(|p| p.len()).sum(),
            max_pending: self.pending.max(),
            open_files_limit: self.open_files_limit,
            uptime_seconds: self.started.elapsed().as_secs(),
        })
    }
}

/// Checks every limit's range (exit 2 with the flag's name otherwise).
fn validate(args: &EgressArgs) -> anyhow::Result<()> {
    for (flag, v) in [
        ("--max-tunnels", args.max_tunnels),
        ("--max-forward-connections", args.max_forward_connections),
    ] {
        anyhow::ensure!(
            (1..=MAX_SLOTS).contains(&v),
            "{flag} must be 1..{MAX_SLOTS} (got {v})"
        );
    }
    anyhow::ensure!(
        (1..=MAX_PENDING).contains(&args.max_pending),
        "--max-pending must be 1..{MAX_PENDING} (got {})",
        args.max_pending
    );
    for (flag, v) in [
        ("--connect-timeout-ms", args.connect_timeout_ms),
        ("--idle-timeout-ms", args.idle_timeout_ms),
        ("--head-timeout-ms", args.head_timeout_ms),
        ("--first-byte-timeout-ms", args.first_byte_timeout_ms),
    ] {
        anyhow::ensure!(
            TIMEOUT_RANGE_MS.contains(&v),
            "{flag} must be {}..{} ms (got {v})",
            TIMEOUT_RANGE_MS.start(),
            TIMEOUT_RANGE_MS.end()
        );
    }
    Ok(())
}

/// Sockets the budgets allow at once: pending places, both ends of every tunnel and
/// forwarded connection, the listeners.
fn socket_budget(args: &EgressArgs) -> u64 {
    let forwards = args.forward.len() as u64;
    let listeners = 1 + forwards;
    listeners * args.max_pending as u64
        + 2 * args.max_tunnels as u64
        + 2 * forwards * args.max_forward_connections as u64
        + listeners
}

/// The allowlist: `--allow`/`CLAWDBOT_EGRESS_ALLOW`, or the provider defaults.
pub fn allowlist(args: &[String]) -> anyhow::Result<Allowlist> {
    let mut entries = Vec::new();
    let given: Vec<&String> = args.iter().filter(|a| !a.trim().is_empty()).collect();
    if given.is_empty() {
        for d in crate::defaults::EGRESS_DEFAULT_ALLOW {
            entries.push(Destination::parse(d).map_err(anyhow::Error::msg)?);
        }
        entries.extend(base_url_destinations());
    } else {
        for a in given {
            entries.push(Destination::parse(a).map_err(|e| {
                anyhow::anyhow!("--allow {e} (use HOST:PORT, e.g. api.anthropic.com:443)")
            })?);
        }
    }
    Ok(Allowlist::new(entries))
}

/// `host:port` of each https provider base URL that is set (`ANTHROPIC_BASE_URL`,
/// `OPENAI_BASE_URL`).
fn base_url_destinations() -> Vec<Destination> {
    crate::providers::BASE_URL_VARS
        .iter()
        .filter_map(|var| {
            let url = crate::config::read_setting(var)?;
            let url = reqwest::Url::parse(&url).ok()?;
            if url.scheme() != "https" {
                return None;
            }
            let host = url.host_str()?;
            Destination::parse(&format!("{host}:{}", url.port_or_known_default()?)).ok()
        })
        .collect()
}

pub fn run(args: EgressArgs) -> anyhow::Result<ExitCode> {
    crate::logging::init(args.log_format);
    let bind: IpAddr = crate::config::parse_bind(&args.bind)?;
    validate(&args)?;
    let allow = allowlist(&args.allow)?;
    let files = crate::fdlimit::raise(socket_budget(&args));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(bounds::WORKER_THREADS)
        .thread_name("clawdbot-egress")
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(async move {
        let signal = crate::signals::shutdown_signal()?;
        let addr = SocketAddr::new(bind, args.port);
        let listener = TcpListener::bind(addr).await.with_context(|| {
            format!("binding the proxy port {addr} (is it in use? pick another with --port)")
        })?;
        let limits = ForwardLimits {
            max_connections: args.max_forward_connections,
            connect_timeout: Duration::from_millis(args.connect_timeout_ms),
            idle_timeout: Duration::from_millis(args.idle_timeout_ms),
            first_byte_timeout: Duration::from_millis(args.first_byte_timeout_ms),
        };
        let stats = Arc::new(Stats::default());
        let mut tasks = tokio::task::JoinSet::new();
        let mut forward_pending = Vec::new();
        for spec in &args.forward {
            let addr = SocketAddr::new(bind, spec.listen_port);
            let l = TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the forward port {addr} (is it in use?)"))?;
            info!(listen = %l.local_addr()?, target = %spec.target, "forwarding");
            let pending = Pending::new(args.max_pending);
            forward_pending.push(pending.clone());
            tasks.spawn(forward::run(
                l,
                spec.target.clone(),
                limits.clone(),
                stats.clone(),
                pending,
            ));
        }
        let summary = stats.clone();
        tasks.spawn(async move { summary.summarize().await });
        let proxy = Arc::new(Proxy {
            allow,
            tunnels: Arc::new(Semaphore::new(args.max_tunnels)),
            max_tunnels: args.max_tunnels,
            connect_timeout: limits.connect_timeout,
            idle_timeout: limits.idle_timeout,
            head_timeout: Duration::from_millis(args.head_timeout_ms),
            linger: limits.first_byte_timeout,
            pending: Pending::new(args.max_pending),
            forward_pending,
            stats,
            open_files_limit: files.map_or(0, |f| f.soft),
            started: Instant::now(),
        });
        match files {
            Some(f) if !f.fits() => warn!(
                open_files = f.soft,
                hard_limit = f.hard,
                needed = f.needed,
                "open-files limit is below what the budgets allow; raise the hard limit (compose `ulimits: nofile`) or lower --max-forward-connections/--max-tunnels/--max-pending"
            ),
            None => warn!("could not read the open-files limit"),
            Some(_) => {}
        }
        info!(
            proxy = %listener.local_addr()?,
            allow = %proxy.allow,
            max_tunnels = proxy.max_tunnels,
            max_pending = proxy.pending.max(),
            open_files = proxy.open_files_limit,
            version = env!("CARGO_PKG_VERSION"),
            "clawdbot egress proxy listening"
        );
        let accept = async move {
            loop {
                match listener.accept().await {
                    Ok((client, _)) => {
                        let _ = client.set_nodelay(true);
                        let (slot, evicted_other) = proxy.pending.admit();
                        if evicted_other && proxy.stats.refuse(stats::Refusal::PendingEvicted) {
                            warn!(
                                max_pending = proxy.pending.max(),
                                "proxy: pending budget full, closed the oldest connection without a request head"
                            );
                        }
                        tokio::spawn(connect::handle(client, slot, proxy.clone()));
                    }
                    Err(e) => {
                        if proxy.stats.refuse(stats::Refusal::AcceptFailed) {
                            warn!(error = %e, "proxy: accept failed");
                        }
                        tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    }
                }
            }
        };
        tokio::select! {
            _ = signal => {}
            _ = accept => {}
        }
        tasks.abort_all();
        info!("stopped");
        anyhow::Ok(())
    });
    runtime.shutdown_timeout(bounds::RUNTIME_STOP_WAIT);
    result.map(|()| ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::Args as _;

    /// The flag table in docs/init.md states every limit's default: keep it true.
    #[test]
    fn the_docs_flag_table_matches_the_defaults() {
        let cmd = super::EgressArgs::augment_args(clap::Command::new("egress-proxy"));
        let doc = include_str!("../../docs/init.md");
        let mut checked = 0;
        for arg in cmd.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if !(long.starts_with("max-") || long.ends_with("-timeout-ms")) {
                continue;
            }
            let default = arg.get_default_values()[0].to_string_lossy();
            let row = doc
                .lines()
                .find(|l| l.starts_with(&format!("| `--{long}` |")))
                .unwrap_or_else(|| panic!("docs/init.md has no row for --{long}"));
            let cell = row.split('|').nth(2).unwrap_or("").trim();
            assert_eq!(cell, default, "docs/init.md: default of --{long}");
            checked += 1;
        }
        assert_eq!(checked, 7);
    }
}
