//! `ws-load`: a bounded load generator for the clawdbot gateway's WebSocket protocol.
//!
//! The load modes open authenticated connections (the OpenClaw handshake: wait for the
//! `connect.challenge` event, send `connect`, expect an ok `res`); the hostile modes
//! (`stall`, `churn`, `silent`, `idle-health`, see `hostile`) play unauthenticated or
//! silent clients; `hostile-auth` (see `hostile_auth`) plays clients that hold the token. Every mode targets a loopback address, runs for a bounded time and
//! prints one JSON object on stdout.

mod chat;
mod client;
mod hold;
mod hostile;
mod hostile_auth;
mod latency;
mod openai;
mod rss;
mod slow;
mod stats;
mod stub;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use serde_json::Value;

/// Hard bounds so no invocation can run away.
const MAX_CONNECTIONS: usize = 20_000;
const MAX_SECONDS: f64 = 120.0;

#[derive(Debug, Parser)]
#[command(
    name = "ws-load",
    version,
    about = "Load generator for the clawdbot gateway (loopback only)"
)]
struct Cli {
    /// Gateway address (must be a loopback address unless --allow-container-ip is given).
    #[arg(long, default_value = "127.0.0.1:18789", global = true)]
    addr: SocketAddr,
    /// URL path of the WebSocket endpoint.
    #[arg(long, default_value = "/", global = true)]
    path: String,
    /// Gateway token (else read from CLAWDBOT_GATEWAY_TOKEN).
    #[arg(
        long,
        env = "CLAWDBOT_GATEWAY_TOKEN",
        hide_env_values = true,
        global = true
    )]
    token: Option<String>,
    /// Allow a private (container bridge) address the caller created itself.
    #[arg(long, global = true)]
    allow_container_ip: bool,
    /// Number of 127.0.0.x source addresses to spread connections over (ephemeral ports).
    #[arg(long, default_value_t = 1, global = true)]
    sources: u8,
    /// Server process id whose VmRSS is sampled (from /proc/<pid>/status).
    #[arg(long, global = true)]
    pid: Option<u32>,
    /// `client.id` sent in `connect` (an OpenClaw gateway accepts only its known ids,
    /// e.g. `openclaw-probe`).
    #[arg(long, default_value = "bench", global = true)]
    client_id: String,
    /// `client.mode` sent in `connect`.
    #[arg(long, default_value = "probe", global = true)]
    client_mode: String,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Closed-loop `health` requests over N connections: throughput, p50/p99 latency.
    Latency {
        /// Connection counts to measure, one after another.
        #[arg(long, value_delimiter = ',', default_value = "1,100,1000")]
        conns: Vec<usize>,
        /// Seconds of measurement per connection count.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Requests per second per connection (paced); without it, a closed loop.
        #[arg(long)]
        rate: Option<f64>,
    },
    /// Open and hold as many authenticated connections as possible, up to --max.
    Hold {
        #[arg(long, default_value_t = 10_000)]
        max: usize,
        /// Handshakes in flight at once.
        #[arg(long, default_value_t = 200)]
        parallel: usize,
        /// Stop opening when the server's RSS exceeds this many bytes (needs --pid).
        #[arg(long)]
        rss_limit: Option<u64>,
        /// Seconds to keep everything open once the target is reached.
        #[arg(long, default_value_t = 3.0)]
        hold_seconds: f64,
        /// Overall time bound.
        #[arg(long, default_value_t = 90.0)]
        seconds: f64,
    },
    /// Time to the first streamed chunk straight from the upstream stub and through the
    /// gateway (`chat.send`), and server RSS with many streams active.
    Chat {
        /// Address of the running `upstream-stub` (the gateway's provider points at it).
        #[arg(long)]
        upstream: SocketAddr,
        /// Sequential samples of each first-chunk latency.
        #[arg(long, default_value_t = 200)]
        samples: usize,
        /// Concurrent stream counts to sample memory at (the stub must hold them).
        #[arg(long, value_delimiter = ',', default_value = "100,1000")]
        streams: Vec<usize>,
        /// Connections the concurrent streams are spread over.
        #[arg(long, default_value_t = 10)]
        stream_conns: usize,
        /// Overall bound of each concurrent run.
        #[arg(long, default_value_t = 60.0)]
        seconds: f64,
    },
    /// Time to the first streamed chunk straight from the upstream stub, through the
    /// WebSocket and through the OpenAI-compatible HTTP SSE API (`serve --openai-api`),
    /// and server RSS per open SSE stream.
    Openai {
        /// Address of the running `upstream-stub` (the gateway's provider points at it).
        #[arg(long)]
        upstream: SocketAddr,
        /// Sequential samples of each first-chunk latency.
        #[arg(long, default_value_t = 200)]
        samples: usize,
        /// Concurrent SSE stream counts to sample memory at (the stub must hold them).
        #[arg(long, value_delimiter = ',', default_value = "1000")]
        streams: Vec<usize>,
        /// Overall bound of each concurrent run.
        #[arg(long, default_value_t = 60.0)]
        seconds: f64,
    },
    /// Poll until the gateway completes a handshake and answers `health` ok; print the
    /// time waited (from this process's start).
    Ready {
        /// Overall bound.
        #[arg(long, default_value_t = 90.0)]
        seconds: f64,
    },
    /// A loopback Anthropic Messages stub streaming a fixed answer (prints its address).
    UpstreamStub {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Pause after the first delta of requests marked `[hold]`.
        #[arg(long, default_value_t = 0)]
        hold_ms: u64,
        /// Time bound of the stub.
        #[arg(long, default_value_t = 120.0)]
        seconds: f64,
    },
    /// Clients that send requests but never read; sample server RSS meanwhile.
    SlowReader {
        #[arg(long, default_value_t = 4)]
        clients: usize,
        #[arg(long, default_value_t = 8.0)]
        seconds: f64,
    },
    /// Unauthenticated sockets that start one large frame, send all but its last byte and
    /// stall; samples the server's RSS (needs --pid for memory figures).
    Stall {
        #[arg(long, default_value_t = 400)]
        sockets: usize,
        /// Announced frame length in bytes.
        #[arg(long, default_value_t = 1024 * 1024)]
        frame_bytes: u64,
        /// Seconds to stay stalled once every socket has sent.
        #[arg(long, default_value_t = 3.0)]
        hold_seconds: f64,
    },
    /// Unauthenticated sockets (from 127.0.0.2 onwards, --sources of them) that upgrade,
    /// never send `connect` and reconnect when closed, while a real client connects
    /// from 127.0.0.1 every --probe-interval-ms.
    Churn {
        #[arg(long, default_value_t = 1100)]
        sockets: usize,
        /// Seconds of probing (after every churning socket has tried once).
        #[arg(long, default_value_t = 20.0)]
        seconds: f64,
        #[arg(long, default_value_t = 250)]
        probe_interval_ms: u64,
        /// A probe that has not completed its handshake in this time failed.
        #[arg(long, default_value_t = 5000)]
        probe_timeout_ms: u64,
    },
    /// Raw TCP sockets to --addr (and --also) that never send a byte (with --drip, half
    /// of them send an endless header one byte per second): time until the server closes each.
    Silent {
        #[arg(long, default_value_t = 50)]
        sockets: usize,
        /// Give up waiting after this many seconds.
        #[arg(long, default_value_t = 45.0)]
        seconds: f64,
        #[arg(long)]
        drip: bool,
        /// More targets (loopback), sockets spread round robin.
        #[arg(long, value_delimiter = ',')]
        also: Vec<SocketAddr>,
    },
    /// Authenticated clients that misbehave (the gateway's provider must be the
    /// `upstream-stub`): non-reading sockets during a long reply, long replies in tiny
    /// deltas with other clients' latency meanwhile, and a store full of large sessions.
    HostileAuth {
        /// The gateway's health port (`/ready`, `/health`).
        #[arg(long)]
        health: SocketAddr,
        #[arg(long, default_value_t = 80)]
        readers: usize,
        #[arg(long, default_value_t = 1024 * 1024)]
        reply_bytes: usize,
        #[arg(long, default_value_t = 13)]
        delta_bytes: usize,
        #[arg(long, default_value_t = 4)]
        runs: usize,
        #[arg(long, default_value_t = 256)]
        sessions: usize,
        #[arg(long, default_value_t = 256 * 1024)]
        session_bytes: usize,
        /// Bound of each of the three runs.
        #[arg(long, default_value_t = 60.0)]
        seconds: f64,
    },
    /// Idle TCP sockets to --addr (and --also) held open while `GET /health` on --health
    /// is probed at --rate per second.
    IdleHealth {
        #[arg(long, default_value_t = 1000)]
        sockets: usize,
        #[arg(long)]
        health: SocketAddr,
        #[arg(long, default_value_t = 200)]
        probes: usize,
        #[arg(long, default_value_t = 20.0)]
        rate: f64,
        #[arg(long, value_delimiter = ',')]
        also: Vec<SocketAddr>,
    },
}

fn bounded_count(n: usize, what: &str) -> Result<usize> {
    if n == 0 || n > MAX_CONNECTIONS {
        bail!("{what} must be within 1..={MAX_CONNECTIONS}");
    }
    Ok(n)
}

fn check_target(addr: &SocketAddr, allow_container_ip: bool) -> Result<()> {
    let ok = match addr.ip() {
        IpAddr::V4(v4) => v4.is_loopback() || (allow_container_ip && v4.is_private()),
        IpAddr::V6(v6) => v6.is_loopback(),
    };
    if !ok {
        bail!("{addr} is not a loopback address (ws-load only targets loopback or, with --allow-container-ip, a private container address)");
    }
    Ok(())
}

fn bounded_secs(s: f64) -> Result<Duration> {
    if !(s > 0.0 && s <= MAX_SECONDS) {
        bail!("duration {s}s out of range (0, {MAX_SECONDS}]");
    }
    Ok(Duration::from_secs_f64(s))
}
/// Raises our soft open-files limit to the hard one (children inherit it); returns the
/// soft limit now (0 when it cannot be read).
fn raise_nofile() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0)
}

fn sources(n: u8) -> Vec<IpAddr> {
    (1..=n.max(1))
        .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, i)))
        .collect()
}

/// Sources of churning sockets: 127.0.0.2 onwards, so the real client (127.0.0.1) is
/// not one of them.
fn attacker_sources(n: u8) -> Vec<IpAddr> {
    (2..=n.max(1).saturating_add(1))
        .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, i)))
        .collect()
}

/// `--addr` plus `--also`, each checked.
fn with_also(
    addr: SocketAddr,
    also: Vec<SocketAddr>,
    allow_container_ip: bool,
) -> Result<Vec<SocketAddr>> {
    let mut v = vec![addr];
    for a in also {
        check_target(&a, allow_container_ip)?;
        v.push(a);
    }
    Ok(v)
}

/// Connects and asks `health` until both succeed, pausing 100 ms between attempts.
async fn ready(target: &client::Target, bound: Duration) -> Result<Value> {
    let started = std::time::Instant::now();
    let mut attempts = 0u64;
    let mut last_error = String::new();
    while started.elapsed() < bound {
        attempts += 1;
        let attempt = async {
            let (mut ws, _) = client::connect(target).await?;
            let ok = tokio::time::timeout(
                Duration::from_secs(5),
                client::request(&mut ws, 2, "health"),
            )
            .await
            .context("health timed out")??;
            anyhow::ensure!(ok, "health answered an error");
            Ok::<_, anyhow::Error>(())
        };
        match attempt.await {
            Ok(()) => {
                return Ok(serde_json::json!({
                    "mode": "ready",
                    "ready_ms": started.elapsed().as_millis() as u64,
                    "attempts": attempts,
                }))
            }
            Err(e) => last_error = format!("{e:#}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("not ready within {bound:?} after {attempts} attempts (last: {last_error})")
}

fn main() -> std::process::ExitCode {
    match real_main() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

fn real_main() -> Result<()> {
    let cli = Cli::parse();
    if let Mode::UpstreamStub {
        listen,
        hold_ms,
        seconds,
    } = cli.mode
    {
        return upstream_stub(listen, hold_ms, seconds);
    }
    check_target(&cli.addr, cli.allow_container_ip)?;
    let token = token(&cli)?;
    let run = Run {
        nofile: raise_nofile(),
        target: target(&cli, token),
        cli: &cli,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let out = rt.block_on(run.mode())?;
    println!("{}", serde_json::to_string_pretty(&out)?);
    // Do not wait for thousands of socket tasks to wind down.
    rt.shutdown_timeout(Duration::from_millis(200));
    Ok(())
}

/// `upstream-stub`: a fake provider API, served before (and instead of) any gateway
/// connection.
fn upstream_stub(listen: SocketAddr, hold_ms: u64, seconds: f64) -> Result<()> {
    if hold_ms > 60_000 {
        bail!("--hold-ms must be at most 60000");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(stub::run(
        listen,
        Duration::from_millis(hold_ms),
        bounded_secs(seconds)?,
    ))
}

/// The gateway token: required by every mode that completes a handshake.
fn token(cli: &Cli) -> Result<String> {
    let needs_token = !matches!(
        cli.mode,
        Mode::Stall { .. } | Mode::Silent { .. } | Mode::IdleHealth { .. }
    );
    Ok(match cli.token.clone() {
        Some(t) => t,
        None if needs_token => bail!("no token (pass --token or set CLAWDBOT_GATEWAY_TOKEN)"),
        None => String::new(),
    })
}

/// The gateway as every mode's client sees it (`chat` also asks for write access).
fn target(cli: &Cli, token: String) -> client::Target {
    client::Target {
        addr: cli.addr,
        url: format!("ws://{}{}", cli.addr, cli.path),
        token,
        sources: if cli.addr.ip().is_loopback() {
            sources(cli.sources)
        } else {
            Vec::new()
        },
        client_id: cli.client_id.clone(),
        client_mode: cli.client_mode.clone(),
        scopes: match cli.mode {
            Mode::Chat { .. } | Mode::Openai { .. } => {
                vec!["operator.read".into(), "operator.write".into()]
            }
            _ => vec!["operator.read".into()],
        },
    }
}

/// One invocation against a gateway: the global flags, the client target and the
/// open-files limit we got. Each mode checks its own flags, then runs.
struct Run<'a> {
    cli: &'a Cli,
    target: client::Target,
    nofile: u64,
}

impl Run<'_> {
    /// Dispatches to the mode; each checks its own flags first.
    async fn mode(self) -> Result<Value> {
        let cli = self.cli;
        match &cli.mode {
            Mode::Latency {
                conns,
                seconds,
                rate,
            } => self.latency(conns, *seconds, *rate).await,
            Mode::Hold {
                max,
                parallel,
                rss_limit,
                hold_seconds,
                seconds,
            } => {
                self.hold(*max, *parallel, *rss_limit, *hold_seconds, *seconds)
                    .await
            }
            Mode::Stall {
                sockets,
                frame_bytes,
                hold_seconds,
            } => self.stall(*sockets, *frame_bytes, *hold_seconds).await,
            Mode::Churn {
                sockets,
                seconds,
                probe_interval_ms,
                probe_timeout_ms,
            } => {
                let o = hostile::Churn {
                    sockets: bounded_count(*sockets, "--sockets")?,
                    duration: bounded_secs(*seconds)?,
                    probe_interval: Duration::from_millis((*probe_interval_ms).clamp(10, 10_000)),
                    probe_timeout: Duration::from_millis((*probe_timeout_ms).clamp(100, 30_000)),
                    path: cli.path.clone(),
                };
                self.churn(o).await
            }
            Mode::Silent {
                sockets,
                seconds,
                drip,
                also,
            } => {
                let targets = with_also(cli.addr, also.clone(), cli.allow_container_ip)?;
                let o = hostile::Silent {
                    sockets: bounded_count(*sockets, "--sockets")?,
                    bound: bounded_secs(*seconds)?,
                    targets,
                    drip: *drip,
                };
                hostile::silent(&self.target.sources, o).await
            }
            Mode::IdleHealth {
                sockets,
                health,
                probes,
                rate,
                also,
            } => {
                self.idle_health(*sockets, *health, *probes, *rate, also.clone())
                    .await
            }
            Mode::Chat {
                upstream,
                samples,
                streams,
                stream_conns,
                seconds,
            } => {
                self.chat(*upstream, *samples, streams, *stream_conns, *seconds)
                    .await
            }
            Mode::Openai {
                upstream,
                samples,
                streams,
                seconds,
            } => self.openai(*upstream, *samples, streams, *seconds).await,
            Mode::Ready { seconds } => ready(&self.target, bounded_secs(*seconds)?).await,
            Mode::UpstreamStub { .. } => bail!("upstream-stub is served before any connection"),
            Mode::HostileAuth {
                health,
                readers,
                reply_bytes,
                delta_bytes,
                runs,
                sessions,
                session_bytes,
                seconds,
            } => {
                check_target(health, cli.allow_container_ip)?;
                let o = hostile_auth::Options {
                    readers: bounded_count(*readers, "--readers")?,
                    reply_bytes: (*reply_bytes).clamp(1, 64 * 1024 * 1024),
                    delta_bytes: (*delta_bytes).max(1),
                    runs: (*runs).clamp(1, 64),
                    sessions: bounded_count(*sessions, "--sessions")?,
                    session_bytes: (*session_bytes).clamp(1, 4 * 1024 * 1024),
                    health: *health,
                    bound: bounded_secs(*seconds)?,
                    pid: cli.pid,
                };
                hostile_auth::run(&self.target, o).await
            }
            Mode::SlowReader { clients, seconds } => {
                let clients = (*clients).clamp(1, 64);
                slow::run(&self.target, clients, bounded_secs(*seconds)?, cli.pid).await
            }
        }
    }

    async fn latency(&self, conns: &[usize], seconds: f64, rate: Option<f64>) -> Result<Value> {
        if conns.iter().any(|&c| c == 0 || c > MAX_CONNECTIONS) {
            bail!("connection counts must be within 1..={MAX_CONNECTIONS}");
        }
        if rate.is_some_and(|r| !(r > 0.0 && r <= 100_000.0)) {
            bail!("--rate must be within (0, 100000] requests per second");
        }
        let bound = bounded_secs(seconds)?;
        latency::run(&self.target, conns, bound, rate, self.cli.pid).await
    }

    async fn hold(
        &self,
        max: usize,
        parallel: usize,
        rss_limit: Option<u64>,
        hold_seconds: f64,
        seconds: f64,
    ) -> Result<Value> {
        if max == 0 || max > MAX_CONNECTIONS {
            bail!("--max must be within 1..={MAX_CONNECTIONS}");
        }
        let opts = hold::Options {
            max,
            parallel: parallel.clamp(1, 1000),
            rss_limit,
            hold: bounded_secs(hold_seconds)?,
            deadline: bounded_secs(seconds)?,
            pid: self.cli.pid,
            nofile: self.nofile,
        };
        hold::run(&self.target, opts).await
    }

    async fn chat(
        &self,
        upstream: SocketAddr,
        samples: usize,
        streams: &[usize],
        stream_conns: usize,
        seconds: f64,
    ) -> Result<Value> {
        check_stream_options(&upstream, samples, streams)?;
        let opts = chat::Options {
            upstream,
            samples,
            streams: streams.to_vec(),
            stream_conns: stream_conns.clamp(1, 1000),
            deadline: bounded_secs(seconds)?,
            pid: self.cli.pid,
        };
        chat::run(&self.target, opts).await
    }

    async fn openai(
        &self,
        upstream: SocketAddr,
        samples: usize,
        streams: &[usize],
        seconds: f64,
    ) -> Result<Value> {
        check_stream_options(&upstream, samples, streams)?;
        let opts = openai::Options {
            upstream,
            samples,
            streams: streams.to_vec(),
            deadline: bounded_secs(seconds)?,
            pid: self.cli.pid,
        };
        openai::run(&self.target, opts).await
    }

    async fn stall(&self, sockets: usize, frame_bytes: u64, hold_seconds: f64) -> Result<Value> {
        if !(14..=64 * 1024 * 1024).contains(&frame_bytes) {
            bail!("--frame-bytes must be within 14..=67108864");
        }
        let o = hostile::Stall {
            sockets: bounded_count(sockets, "--sockets")?,
            frame_bytes,
            hold: bounded_secs(hold_seconds)?,
            path: self.cli.path.clone(),
            pid: self.cli.pid,
        };
        hostile::stall(self.cli.addr, &self.target.sources, o).await
    }

    /// Churning attackers from 127.0.0.2 on; the probing real client from 127.0.0.1.
    async fn churn(&self, o: hostile::Churn) -> Result<Value> {
        let loopback = self.cli.addr.ip().is_loopback();
        let attackers = if loopback {
            attacker_sources(self.cli.sources)
        } else {
            Vec::new()
        };
        let probe = client::Target {
            sources: if loopback { sources(1) } else { Vec::new() },
            ..self.target.clone()
        };
        hostile::churn(self.cli.addr, &attackers, &probe, o).await
    }

    async fn idle_health(
        &self,
        sockets: usize,
        health: SocketAddr,
        probes: usize,
        rate: f64,
        also: Vec<SocketAddr>,
    ) -> Result<Value> {
        let cli = self.cli;
        check_target(&health, cli.allow_container_ip)?;
        if !(rate > 0.0 && rate <= 1000.0) {
            bail!("--rate must be within (0, 1000] probes per second");
        }
        if probes == 0 || probes as f64 / rate > MAX_SECONDS {
            bail!("--probes must be at least 1 and take at most {MAX_SECONDS} s at --rate");
        }
        let targets = with_also(cli.addr, also, cli.allow_container_ip)?;
        let o = hostile::IdleHealth {
            sockets: bounded_count(sockets, "--sockets")?,
            targets,
            health,
            probes,
            rate,
        };
        hostile::idle_health(&self.target.sources, o).await
    }
}

/// Checks the options shared by the `chat` and `openai` modes.
fn check_stream_options(upstream: &SocketAddr, samples: usize, streams: &[usize]) -> Result<()> {
    check_target(upstream, false)?;
    if !(1..=10_000).contains(&samples) {
        bail!("--samples must be within 1..=10000");
    }
    if streams.iter().any(|&n| n == 0 || n > MAX_CONNECTIONS) {
        bail!("stream counts must be within 1..={MAX_CONNECTIONS}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets_are_accepted() {
        assert!(check_target(&"127.0.0.1:1".parse().unwrap(), false).is_ok());
        assert!(check_target(&"[::1]:1".parse().unwrap(), false).is_ok());
        assert!(check_target(&"172.17.0.2:1".parse().unwrap(), false).is_err());
        assert!(check_target(&"172.17.0.2:1".parse().unwrap(), true).is_ok());
        assert!(check_target(&"8.8.8.8:1".parse().unwrap(), true).is_err());
    }

    #[test]
    fn durations_are_bounded() {
        assert!(bounded_secs(0.0).is_err());
        assert!(bounded_secs(1000.0).is_err());
        assert!(bounded_secs(2.5).is_ok());
    }

    #[test]
    fn attackers_never_use_the_probe_source() {
        let a = attacker_sources(4);
        assert_eq!(a.len(), 4);
        assert!(a.iter().all(|x| x.is_loopback()));
        assert!(!a.contains(&IpAddr::V4(Ipv4Addr::LOCALHOST)));
        assert_eq!(attacker_sources(255).len(), 254);
    }

    #[test]
    fn sources_are_loopback_addresses() {
        let s = sources(3);
        assert_eq!(s.len(), 3);
        assert!(s.iter().all(|a| a.is_loopback()));
    }
}
