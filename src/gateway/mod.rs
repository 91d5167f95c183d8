//! `clawdbot serve`: HTTP health endpoints and the authenticated WebSocket gateway
//! (OpenClaw gateway protocol v3/v4, see `docs/protocol.md`).
//!
//! Modules: `auth` (token), `limits` (all limits and their mechanisms), `http`
//! (`/health`, `/ready`), `ws` (one connection), `outbox` (bounded send queue),
//! `methods/` (request handlers, the method table), `scopes` (operator scopes),
//! `conns` (authenticated connections, event fan-out), `runs` (chat runs as tasks).

pub mod auth;
pub mod conns;
pub mod http;
pub mod limits;
pub mod methods;
pub mod outbox;
pub mod runs;
pub mod scopes;
pub mod ws;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::logging::LogFormat;
use crate::providers::Provider;
use auth::AuthMode;
use limits::{AuthFailures, ConnectionCounter, Limits};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to bind (the image passes 0.0.0.0; the port mapping restricts exposure).
    #[arg(long, default_value = crate::defaults::BIND)]
    pub bind: String,
    /// Port of the WebSocket gateway (also serves /health and /ready). 0 picks a free port.
    #[arg(long, default_value_t = crate::defaults::GATEWAY_PORT)]
    pub port: u16,
    /// Port of the plain HTTP health endpoints. 0 picks a free port.
    #[arg(long, default_value_t = crate::defaults::HEALTH_PORT)]
    pub health_port: u16,
    /// Run without a gateway token. Only allowed when binding a loopback address.
    #[arg(long)]
    pub insecure_no_auth: bool,
    /// Log format on stderr.
    #[arg(long, value_enum, env = "CLAWDBOT_LOG_FORMAT", default_value = "human")]
    pub log_format: LogFormat,
    #[command(flatten)]
    pub limits: Limits,
    /// Bounds of the in-memory sessions store (chat transcripts).
    #[command(flatten)]
    pub sessions: crate::sessions::SessionLimits,
}

/// Shared state of a running gateway.
#[derive(Debug)]
pub struct Gateway {
    pub limits: Limits,
    pub auth: AuthMode,
    pub provider: Provider,
    pub host: String,
    pub bind: IpAddr,
    pub port: u16,
    pub health_port: u16,
    pub conns: ConnectionCounter,
    pub auth_failures: AuthFailures,
    pub metrics: crate::metrics::Metrics,
    pub shutdown: watch::Receiver<bool>,
    /// Sessions and their transcripts (in memory, bounded).
    pub sessions: crate::sessions::Store,
    /// Authenticated connections, for events.
    pub clients: conns::Conns,
    /// Chat runs in progress.
    pub runs: runs::Runs,
    started: Instant,
}

impl Gateway {
    pub fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }
    pub fn uptime_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }
    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }
}

/// Everything `serve` needs besides the listeners.
#[derive(Debug)]
pub struct GatewayConfig {
    pub limits: Limits,
    pub auth: AuthMode,
    pub provider: Provider,
    pub sessions: crate::sessions::SessionLimits,
}

pub fn run_serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    crate::logging::init(args.log_format);
    let bind: IpAddr = crate::config::parse_bind(&args.bind)?;
    args.limits.validate()?;
    args.sessions.validate()?;
    let token = auth::load_token()?;
    if token.is_some() && args.insecure_no_auth {
        warn!("--insecure-no-auth ignored: a gateway token is configured and required");
    }
    let auth = AuthMode::from_startup(token, args.insecure_no_auth, bind)?;
    if matches!(auth, AuthMode::Disabled) {
        warn!(%bind, "authentication DISABLED (--insecure-no-auth on loopback): do not expose this port");
    }
    let provider = Provider::from_env().context("choosing the model provider")?;
    raise_fd_limit(args.limits.max_connections);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(4)
        .thread_name("clawdbot")
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    register_secrets(&auth, &provider);
    let config = GatewayConfig {
        limits: args.limits,
        auth,
        provider,
        sessions: args.sessions,
    };
    let result = runtime.block_on(async move {
        let signal = shutdown_signal()?;
        let gateway_addr = SocketAddr::new(bind, args.port);
        let gateway = TcpListener::bind(gateway_addr)
            .await
            .with_context(|| format!("binding the gateway port {gateway_addr} (is it in use? pick another with --port)"))?;
        let health = if args.health_port != 0 && args.health_port == args.port {
            None
        } else {
            let addr = SocketAddr::new(bind, args.health_port);
            Some(TcpListener::bind(addr).await.with_context(|| {
                format!("binding the health port {addr} (is it in use? pick another with --health-port)")
            })?)
        };
        serve(gateway, health, config, signal).await
    });
    runtime.shutdown_timeout(Duration::from_millis(500));
    result.map(|()| ExitCode::SUCCESS)
}

/// Installs the SIGTERM/SIGINT handlers now (so a signal arriving right after startup
/// is not lost) and returns a future resolving on the first of them.
pub fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => info!(signal = "SIGINT", "shutdown requested"),
            _ = term.recv() => info!(signal = "SIGTERM", "shutdown requested"),
        }
    })
}

/// Serves the gateway on pre-bound listeners until `shutdown` resolves, then closes
/// every open WebSocket with 1001 (going away) and returns within the grace period.
pub async fn serve(
    gateway: TcpListener,
    health: Option<TcpListener>,
    config: GatewayConfig,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let (tx, rx) = watch::channel(false);
    let gateway_addr = gateway.local_addr()?;
    let health_addr = health.as_ref().map(|h| h.local_addr()).transpose()?;
    let limits = config.limits;
    let gw = Arc::new(Gateway {
        auth_failures: AuthFailures::new(
            limits.auth_failures,
            Duration::from_secs(limits.auth_failure_window_secs),
        ),
        limits,
        auth: config.auth,
        provider: config.provider,
        host: hostname(),
        bind: gateway_addr.ip(),
        port: gateway_addr.port(),
        health_port: health_addr.map_or(gateway_addr.port(), |a| a.port()),
        conns: ConnectionCounter::default(),
        metrics: crate::metrics::Metrics::default(),
        shutdown: rx.clone(),
        sessions: match config.sessions.sessions_dir.clone() {
            Some(dir) => crate::sessions::Store::open(config.sessions, &dir)?,
            None => crate::sessions::Store::new(config.sessions),
        },
        clients: conns::Conns::default(),
        runs: runs::Runs::default(),
        started: Instant::now(),
    });

    let mut servers = tokio::task::JoinSet::new();
    let app = http::gateway_router(gw.clone()).into_make_service_with_connect_info::<SocketAddr>();
    // No Nagle delay: a response and the event right behind it (`chat.send`'s `res`,
    // then the run's first `chat` delta) must not wait for the client's delayed ACK.
    let gateway = axum::serve::ListenerExt::tap_io(gateway, |tcp: &mut tokio::net::TcpStream| {
        let _ = tcp.set_nodelay(true);
    });
    let server = axum::serve(gateway, app).with_graceful_shutdown(stopped(rx.clone()));
    servers.spawn(async move { server.await });
    if let Some(health) = health {
        let app = http::health_router(gw.clone()).into_make_service();
        let server = axum::serve(health, app).with_graceful_shutdown(stopped(rx.clone()));
        servers.spawn(async move { server.await });
    }
    info!(
        gateway = %gateway_addr,
        health = %health_addr.unwrap_or(gateway_addr),
        auth = gw.auth.label(),
        mode = %mode_label(&gw.provider),
        version = gw.version(),
        "clawdbot gateway listening"
    );

    shutdown.await;
    let open = gw.conns.current();
    info!(
        open_connections = open,
        "shutting down: closing connections"
    );
    let _ = tx.send(true);
    let deadline = tokio::time::Instant::now() + Duration::from_millis(gw.limits.shutdown_grace_ms);
    while gw.conns.current() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = tokio::time::timeout_at(deadline, async {
        while servers.join_next().await.is_some() {}
    })
    .await;
    servers.abort_all();
    let left = gw.conns.current();
    if left > 0 {
        warn!(
            left,
            "shutdown grace period over; dropping remaining connections"
        );
    }
    info!("stopped");
    Ok(())
}

/// Makes the log ring (`logs.tail`) mask the gateway token and the provider keys.
fn register_secrets(auth: &AuthMode, provider: &Provider) {
    if let AuthMode::Token(t) = auth {
        crate::logring::register_secret(t.expose());
    }
    for key in provider.keys() {
        crate::logring::register_secret(key.expose());
    }
}

/// `demo` or `live`, as serialized in `status` and `config.get`.
pub fn mode_label(provider: &Provider) -> String {
    serde_json::to_value(provider.mode())
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// The host name reported in `hello-ok.server.host` and presence.
fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates on success.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc == 0 {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        if let Ok(name) = std::str::from_utf8(&buf[..end]) {
            if !name.is_empty() {
                return name.to_string();
            }
        }
    }
    "clawdbot".to_string()
}

/// Raises the soft open-files limit towards the hard limit so that `--max-connections`
/// sockets fit; warns when even the hard limit is too low.
fn raise_fd_limit(max_connections: usize) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid, initialised struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return;
        }
        if lim.rlim_cur < lim.rlim_max {
            let mut raised = lim;
            raised.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim = raised;
            }
        }
    }
    let needed = max_connections as libc::rlim_t + 64;
    if lim.rlim_cur < needed {
        warn!(
            open_files = lim.rlim_cur,
            needed, "open-files limit is below --max-connections; raise `ulimit -n`"
        );
    }
}
