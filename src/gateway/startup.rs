//! Startup and shutdown of `clawdbot serve`: flags ([`ServeArgs`]), the checks and the
//! runtime (`run_serve`), then [`serve`] on pre-bound listeners: the shared state, both
//! HTTP ports, and the drain on SIGTERM/SIGINT (signals from `crate::signals`).

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, warn};

use super::admission::{AuthFailures, ConnectionCounter, HttpSlots, PendingPool};
use super::auth::{self, AuthMode};
use super::limits::{
    Limits, DRAIN_POLL, LISTENERS_STOP_WAIT, MAX_BLOCKING_THREADS, RUNTIME_STOP_WAIT,
    SESSIONS_SAVE_WAIT, WORKER_THREADS,
};
use super::transport::outbox::OutboundBudget;
use super::{conns, http, listener, runs, Gateway};
use crate::logging::LogFormat;
use crate::providers::Provider;

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
    /// Browser origin (`scheme://host[:port]`) allowed to open the WebSocket, e.g. a
    /// Control-UI-like page; repeat or comma-separate. Upgrades carrying any other
    /// `Origin` header get HTTP 403. Empty by default: only native clients (which send
    /// no `Origin`) connect.
    #[arg(
        long = "allow-origin",
        env = "CLAWDBOT_ALLOWED_ORIGINS",
        value_delimiter = ',',
        value_name = "ORIGIN"
    )]
    pub allowed_origins: Vec<String>,
    #[command(flatten)]
    pub limits: Limits,
    /// Bounds of the in-memory sessions store (chat transcripts).
    #[command(flatten)]
    pub sessions: crate::sessions::SessionLimits,
}

/// Everything `serve` needs besides the listeners.
#[derive(Debug)]
pub struct GatewayConfig {
    pub limits: Limits,
    pub auth: AuthMode,
    pub provider: Provider,
    pub allowed_origins: Vec<String>,
    pub sessions: crate::sessions::SessionLimits,
    /// More routes for the gateway port (the OpenAI-compatible API), given by the caller.
    pub routes: Option<axum::Router<Arc<Gateway>>>,
}

pub fn run_serve(
    args: ServeArgs,
    routes: Option<axum::Router<Arc<Gateway>>>,
) -> anyhow::Result<ExitCode> {
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
    let mut args = args;
    // As high as the hard limit allows; the limits below shrink to what it gives.
    let open_files = crate::fdlimit::raise(u64::MAX).map_or(u64::MAX, |f| f.soft);
    if let Some(shrunk) = args.limits.fit_open_files(open_files) {
        warn!(
            open_files,
            %shrunk,
            "open-files limit too low for the configured limits; limits reduced (raise `ulimit -n` / compose `ulimits.nofile`)"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .thread_name("clawdbot")
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let allowed_origins = validate_origins(&args.allowed_origins)?;
    register_secrets(&auth, &provider);
    let config = GatewayConfig {
        limits: args.limits,
        auth,
        provider,
        allowed_origins,
        sessions: args.sessions,
        routes,
    };
    let result = runtime.block_on(async move {
        let signal = crate::signals::shutdown_signal()?;
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
    runtime.shutdown_timeout(RUNTIME_STOP_WAIT);
    result.map(|()| ExitCode::SUCCESS)
}

/// Serves the gateway on pre-bound listeners until `shutdown` resolves, then drains:
/// `/ready` answers 503, upgrades are refused, in-flight requests are answered
/// `UNAVAILABLE` and every open WebSocket gets a `shutdown` event and a 1001 close,
/// within the grace period; then the listeners close.
pub async fn serve(
    gateway: TcpListener,
    health: Option<TcpListener>,
    config: GatewayConfig,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let (tx, rx) = watch::channel(false);
    let (closed_tx, closed_rx) = watch::channel(false);
    let gateway_addr = gateway.local_addr()?;
    let health_addr = health.as_ref().map(|h| h.local_addr()).transpose()?;
    let limits = config.limits;
    let gw = Arc::new(Gateway {
        auth_failures: AuthFailures::new(
            limits.auth_failures,
            Duration::from_secs(limits.auth_failure_window_secs),
        ),
        pending: PendingPool::new(limits.max_unauth_connections, limits.max_unauth_per_ip),
        outbound: OutboundBudget::new(limits.max_buffered_bytes_total),
        allowed_origins: config.allowed_origins,
        http_gateway: HttpSlots::default(),
        http_health: HttpSlots::default(),
        limits,
        auth: config.auth,
        provider: config.provider,
        host: hostname(),
        bind: gateway_addr.ip(),
        port: gateway_addr.port(),
        health_port: health_addr.map_or(gateway_addr.port(), |a| a.port()),
        conns: ConnectionCounter::default(),
        metrics: super::metrics::Metrics::default(),
        shutdown: rx.clone(),
        sessions: match config.sessions.sessions_dir.clone() {
            Some(dir) => crate::sessions::Store::open(config.sessions, &dir)?,
            None => crate::sessions::Store::new(config.sessions),
        },
        clients: conns::Conns::default(),
        runs: runs::Runs::default(),
        client_shares: Default::default(),
        started: Instant::now(),
    });

    let mut app = http::gateway_router(gw.clone());
    if let Some(routes) = config.routes {
        app = app.merge(routes.with_state(gw.clone()));
    }
    let mut servers = tokio::task::JoinSet::new();
    servers.spawn(listener::run(
        gateway,
        app,
        gw.clone(),
        listener::Port::Gateway,
        closed_rx.clone(),
    ));
    if let Some(health) = health {
        servers.spawn(listener::run(
            health,
            http::health_router(gw.clone()),
            gw.clone(),
            listener::Port::Health,
            closed_rx.clone(),
        ));
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
    let open = gw.conns.current() + gw.pending.current();
    info!(
        open_connections = open,
        "shutting down: closing connections"
    );
    let _ = tx.send(true);
    // After the signal: a connection registering meanwhile sees it when its loop starts.
    gw.clients.stop_all();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(gw.limits.shutdown_grace_ms);
    while gw.conns.current() + gw.pending.current() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(DRAIN_POLL).await;
    }
    let _ = closed_tx.send(true);
    let _ = tokio::time::timeout(LISTENERS_STOP_WAIT, async {
        while servers.join_next().await.is_some() {}
    })
    .await;
    servers.abort_all();
    let left = gw.conns.current() + gw.pending.current();
    if left > 0 {
        warn!(
            left,
            "shutdown grace period over; dropping remaining connections"
        );
    }
    // Session files are written by their own thread: wait for the last changes.
    let sessions = gw.clone();
    let saved =
        tokio::task::spawn_blocking(move || sessions.sessions.flush(SESSIONS_SAVE_WAIT)).await;
    if !matches!(saved, Ok(true)) {
        warn!(
            "sessions not all saved within {} s",
            SESSIONS_SAVE_WAIT.as_secs()
        );
    }
    info!("stopped");
    Ok(())
}

/// Checks `--allow-origin` values: `scheme://host[:port]`, no path, no wildcard.
fn validate_origins(origins: &[String]) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for o in origins.iter().map(|o| o.trim()).filter(|o| !o.is_empty()) {
        let rest = o
            .strip_prefix("http://")
            .or_else(|| o.strip_prefix("https://"));
        let ok = rest.is_some_and(|r| {
            let r = r.trim_end_matches('/');
            !r.is_empty() && !r.contains(['/', '*', ' ', '?', '#'])
        });
        anyhow::ensure!(
            ok,
            "--allow-origin {o:?} is not an origin (use scheme://host[:port], e.g. http://127.0.0.1:3000)"
        );
        out.push(o.to_string());
    }
    Ok(out)
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
