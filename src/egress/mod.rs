//! `clawdbot egress-proxy`: an HTTP CONNECT proxy with a `HOST:PORT` allowlist, the only
//! way out for the gateway in the `isolated` profile, plus plain TCP port forwards that
//! publish the gateway's loopback ports from the egress service.
//!
//! Modules: `allow` (destinations, allowlist), `connect` (one proxy client), `pipe`
//! (relay with idle timeout), `forward` (port forwards), `check` (`egress-check`, a
//! diagnostic client for the end-to-end test: a scratch image has no curl).

pub mod allow;
pub mod check;
mod connect;
pub mod forward;
pub mod pipe;

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::{info, warn};

use crate::logging::LogFormat;
use allow::{Allowlist, Destination};
use forward::{ForwardLimits, ForwardSpec};

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
    /// Concurrent CONNECT tunnels; further clients get 503.
    #[arg(long, env = "CLAWDBOT_EGRESS_MAX_TUNNELS", default_value_t = 64)]
    pub max_tunnels: usize,
    /// Concurrent connections per forward; further connections are closed.
    #[arg(long, env = "CLAWDBOT_EGRESS_MAX_FORWARDS", default_value_t = 1024)]
    pub max_forward_connections: usize,
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
    anyhow::ensure!(args.max_tunnels > 0, "--max-tunnels must be greater than 0");
    anyhow::ensure!(
        args.max_forward_connections > 0,
        "--max-forward-connections must be greater than 0"
    );
    anyhow::ensure!(
        args.connect_timeout_ms > 0 && args.idle_timeout_ms > 0,
        "--connect-timeout-ms and --idle-timeout-ms must be greater than 0"
    );
    let allow = allowlist(&args.allow)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("clawdbot-egress")
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(async move {
        let signal = crate::gateway::shutdown_signal()?;
        let addr = SocketAddr::new(bind, args.port);
        let listener = TcpListener::bind(addr).await.with_context(|| {
            format!("binding the proxy port {addr} (is it in use? pick another with --port)")
        })?;
        let limits = ForwardLimits {
            max_connections: args.max_forward_connections,
            connect_timeout: Duration::from_millis(args.connect_timeout_ms),
            idle_timeout: Duration::from_millis(args.idle_timeout_ms),
        };
        let mut tasks = tokio::task::JoinSet::new();
        for spec in &args.forward {
            let addr = SocketAddr::new(bind, spec.listen_port);
            let l = TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the forward port {addr} (is it in use?)"))?;
            info!(listen = %l.local_addr()?, target = %spec.target, "forwarding");
            tasks.spawn(forward::run(l, spec.target.clone(), limits.clone()));
        }
        let proxy = Arc::new(Proxy {
            allow,
            tunnels: Arc::new(Semaphore::new(args.max_tunnels)),
            max_tunnels: args.max_tunnels,
            connect_timeout: limits.connect_timeout,
            idle_timeout: limits.idle_timeout,
        });
        info!(
            proxy = %listener.local_addr()?,
            allow = %proxy.allow,
            max_tunnels = proxy.max_tunnels,
            version = env!("CARGO_PKG_VERSION"),
            "clawdbot egress proxy listening"
        );
        let accept = async move {
            loop {
                match listener.accept().await {
                    Ok((client, _)) => {
                        let _ = client.set_nodelay(true);
                        tokio::spawn(connect::handle(client, proxy.clone()));
                    }
                    Err(e) => {
                        warn!(error = %e, "proxy: accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
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
    runtime.shutdown_timeout(Duration::from_millis(500));
    result.map(|()| ExitCode::SUCCESS)
}
