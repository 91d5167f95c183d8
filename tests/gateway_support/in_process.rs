//! `clawdbot::gateway::serve` in the test process, for tests where the binary adds
//! nothing (method behaviour over real loopback sockets): no process start, no log
//! scraping. What only the binary does (flag and env parsing, token and provider
//! loading, the tracing layers behind `logs.tail`, signals) stays with [`super::Server`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::thread::JoinHandle;

use clap::Parser;
use clawdbot::config::Secret;
use clawdbot::gateway::auth::AuthMode;
use clawdbot::gateway::{serve, GatewayConfig, ServeArgs};
use clawdbot::providers::{demo, Provider};
use tokio::sync::oneshot;

/// A gateway served by a runtime on its own thread; stopped (drained) on drop.
pub struct InProcess {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Parser)]
struct Flags {
    #[command(flatten)]
    serve: ServeArgs,
}

impl InProcess {
    /// Serves on ephemeral loopback ports with the test token, the demo provider and
    /// the `serve` flags `extra`; returns it with its (gateway, health) addresses.
    pub fn start(extra: &[&str]) -> (InProcess, SocketAddr, SocketAddr) {
        Self::start_marked(extra, || {})
    }

    /// Like [`InProcess::start`]; `mark` runs first on every thread of the gateway's
    /// runtime (e.g. so that a test's allocator can tell the gateway's allocations).
    pub fn start_marked(extra: &[&str], mark: fn()) -> (InProcess, SocketAddr, SocketAddr) {
        let argv = [
            "serve",
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--health-port",
            "0",
        ];
        let flags = Flags::try_parse_from(argv.iter().chain(extra)).expect("serve flags");
        let mut args = flags.serve;
        args.limits.validate().expect("limits");
        args.sessions.validate().expect("session limits");
        assert!(args.allowed_origins.is_empty(), "origins: use the binary");
        if let Some(files) = clawdbot::fdlimit::raise(u64::MAX) {
            args.limits.fit_open_files(files.soft);
        }
        let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let auth = AuthMode::from_startup(Some(Secret::new(super::TOKEN)), false, loopback)
            .expect("the test token");
        let config = GatewayConfig {
            limits: args.limits,
            auth,
            provider: Provider::demo_paced(demo::DEFAULT_CHUNK_DELAY),
            allowed_origins: Vec::new(),
            sessions: args.sessions,
            routes: None,
        };
        let bind = || {
            let l = std::net::TcpListener::bind((loopback, 0)).expect("a loopback port");
            l.set_nonblocking(true).expect("non-blocking listener");
            l
        };
        let (gateway, health) = (bind(), bind());
        let addrs = (gateway.local_addr().unwrap(), health.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            mark();
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .on_thread_start(mark)
                .enable_all()
                .build()
                .expect("a runtime");
            rt.block_on(async move {
                let gateway = tokio::net::TcpListener::from_std(gateway).unwrap();
                let health = tokio::net::TcpListener::from_std(health).unwrap();
                let shutdown = async move {
                    let _ = stopped.await;
                };
                serve(gateway, Some(health), config, shutdown)
                    .await
                    .expect("serve");
            });
        });
        let server = InProcess {
            stop: Some(stop),
            thread: Some(thread),
        };
        (server, addrs.0, addrs.1)
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
