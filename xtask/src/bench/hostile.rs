//! Section 6: the gateway (and the egress proxy) under hostile clients, loopback only and
//! bounded: server memory while unauthenticated sockets stall large frames, a real
//! client's success rate while unauthenticated sockets churn the slots, the time until
//! silent and dripping sockets are closed, and `/health` latency after 1000 idle sockets
//! were opened against a tight open-files limit. The load comes from `ws-load`'s hostile modes
//! (the `bench/` crate); every server runs with its default limits, because those are
//! what is being judged.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result};
use clawdbot_testkit::child::LoggedChild;

use super::gateway_load::{raise_nofile, u, ws_load};
use super::lifecycle::{free_port, token, Server, STOP};
use super::report::{Figure, Section};
use super::{mib, Ctx};
use crate::tasks::Command;

/// `--max-preauth-payload` the gateway is started with (its default, passed explicitly
/// so the bound below is computed from the value in force).
const PREAUTH: u64 = 64 * 1024;
/// What one unauthenticated connection may cost beyond the pre-auth limit.
const PER_SOCKET_OVERHEAD: u64 = 16 * 1024;
/// The stalled frame: the gateway's default `--max-payload`.
const FRAME: u64 = 1024 * 1024;
/// Unauthenticated sockets churning against the default 1024-connection cap.
const CHURN_SOCKETS: usize = 1100;
const SUCCESS_MIN: f64 = 0.90;
/// Silent sockets should be closed within this window (seconds).
const CLOSE_MIN_S: f64 = 10.0;
const CLOSE_MAX_S: f64 = 30.0;
/// Waiting for silent sockets stops after this many seconds.
const SILENT_BOUND_S: u64 = 40;
const SILENT_SOCKETS: usize = 50;
const IDLE_SOCKETS: usize = 1000;
/// The servers' open-files limit (soft = hard) under idle sockets: the usual default
/// soft limit, which the server then cannot raise.
const TIGHT_NOFILE: u64 = 1024;

/// Starts `binary ARGS` on loopback under an open-files limit of `nofile` (soft = hard)
/// when given; `port` is what `/health` is polled on.
fn spawn_limited(
    binary: &Path,
    token: &str,
    args: &[String],
    port: u16,
    health_port: u16,
    nofile: Option<u64>,
) -> Result<Server> {
    let mut cmd = Command::exe(binary, &[])
        .args(args)
        .secret_env(crate::defaults::TOKEN_VARS[0], token)
        .env("RUST_LOG", "warn")
        .to_std()?;
    if let Some(n) = nofile {
        // SAFETY: setrlimit is async-signal-safe; the closure owns copies of the numbers.
        unsafe {
            cmd.pre_exec(move || rlimit::setrlimit(rlimit::Resource::NOFILE, n, n));
        }
    }
    let child = LoggedChild::spawn_with(cmd.stdin(Stdio::null()), Stdio::null(), STOP)
        .with_context(|| format!("starting {}", binary.display()))?;
    let mut server = Server {
        child,
        port,
        health_port,
    };
    server.wait_healthy(Duration::from_secs(10))?;
    Ok(server)
}

fn gateway(binary: &Path, token: &str, nofile: Option<u64>) -> Result<Server> {
    let (port, health) = (free_port()?, free_port()?);
    let args: Vec<String> = [
        "serve",
        "--port",
        &port.to_string(),
        "--health-port",
        &health.to_string(),
        "--max-preauth-payload",
        &PREAUTH.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    spawn_limited(binary, token, &args, port, health, nofile)
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// One measurement of the section: pushes its figure.
type Part = fn(&Ctx, &mut Section, &Path, &Path, &str) -> Result<()>;

pub fn run(ctx: &mut Ctx) -> Result<Section> {
    let mut s = Section::new("hostile", "Under hostile clients (loopback, bounded)");
    let binary = ctx.release_bin("clawdbot", "clawdbot")?;
    let loader = ctx.release_bin("clawdbot-bench", "ws-load")?;
    let nofile = raise_nofile();
    let token = token()?;
    let parts: [(&str, Part); 5] = [
        ("memory under pre-auth stall", stall),
        ("real-client success under slot churn", churn),
        ("time to close silent sockets", silent),
        ("gateway /health under idle sockets", idle_gateway),
        ("egress proxy /health under idle sockets", idle_egress),
    ];
    for (name, part) in parts {
        eprintln!("bench: hostile: {name}");
        if let Err(e) = part(ctx, &mut s, &binary, &loader, &token) {
            s.push(Figure::new(name, format!("failed: {e:#}"), "").target("", None));
        }
    }
    s.note(format!(
        "Idle sockets: {IDLE_SOCKETS} raw TCP connections (for the gateway split over its gateway and health ports, for the egress \
         proxy on its proxy port) that send nothing and do not reconnect, opened against a server started with an open-files \
         limit of {TIGHT_NOFILE} (soft = hard, so it cannot raise it); the server may close some at once (connection caps, \
         pending budgets), so the figure gives how many it kept open. Then `GET /health` is probed at a fixed rate, each probe \
         failing after 2 s."
    ));
    s.note(format!(
        "Every server runs with its default limits (the gateway with `--max-preauth-payload {PREAUTH}`, its default, \
         stated so the bound is computed from the value in force); release builds on the host (`target/release/clawdbot`). \
         The load generator raised its own open-files limit to {nofile}; where a server runs under a tight limit, the figure says so. \
         Every load is bounded in count and time and every process is killed at the end of its figure."
    ));
    Ok(s)
}

fn stall(ctx: &Ctx, s: &mut Section, binary: &Path, loader: &Path, token: &str) -> Result<()> {
    let n: usize = if ctx.quick { 200 } else { 400 };
    let server = gateway(binary, token, None)?;
    let addr = format!("127.0.0.1:{}", server.port);
    let args = strings(&[
        "--addr",
        &addr,
        "--pid",
        &server.pid().to_string(),
        "stall",
        "--sockets",
        &n.to_string(),
        "--frame-bytes",
        &FRAME.to_string(),
        "--hold-seconds",
        "2",
    ]);
    let out = ws_load(loader, token, &args)?;
    drop(server);
    let growth = out["server_rss_growth_bytes"].as_u64();
    let bound = n as u64 * (PREAUTH + PER_SOCKET_OVERHEAD);
    let value = match growth {
        Some(g) => format!(
            "growth {} ({:.1} KiB per socket; RSS {} → peak {}); {} of {n} upgraded, {} sent the whole frame but its last byte, {} cut short, {} closed by the server",
            mib(g as f64),
            g as f64 / n as f64 / 1024.0,
            mib(u(&out, "server_rss_before_bytes") as f64),
            mib(u(&out, "server_rss_peak_bytes") as f64),
            u(&out, "upgraded"),
            u(&out, "sent_all_but_last_byte"),
            u(&out, "cut_short_by_server"),
            u(&out, "closed_by_server"),
        ),
        None => "server RSS not readable".to_string(),
    };
    s.push(
        Figure::new(
            format!("server memory while {n} unauthenticated sockets stall a {} KiB frame", FRAME / 1024),
            value,
            format!("target/release/ws-load --pid PID stall --sockets {n} --frame-bytes {FRAME} --hold-seconds 2"),
        )
        .ratio(growth.map_or(String::new(), |g| {
            format!("{:.2}× the bound", g as f64 / bound as f64)
        }))
        .target(
            format!(
                "growth ≤ {n} × (pre-auth limit {} KiB + {} KiB) = {}",
                PREAUTH / 1024,
                PER_SOCKET_OVERHEAD / 1024,
                mib(bound as f64)
            ),
            growth.map(|g| g <= bound),
        ),
    );
    Ok(())
}

fn churn(ctx: &Ctx, s: &mut Section, binary: &Path, loader: &Path, token: &str) -> Result<()> {
    let secs = if ctx.quick { "15" } else { "30" };
    let server = gateway(binary, token, None)?;
    let addr = format!("127.0.0.1:{}", server.port);
    let args = strings(&[
        "--addr",
        &addr,
        "--sources",
        "4",
        "churn",
        "--sockets",
        &CHURN_SOCKETS.to_string(),
        "--seconds",
        secs,
        "--probe-interval-ms",
        "250",
        "--probe-timeout-ms",
        "5000",
    ]);
    let out = ws_load(loader, token, &args)?;
    drop(server);
    let rate = out["probe_success_rate"].as_f64().unwrap_or(0.0);
    let hs = &out["probe_handshake"];
    let mut f = Figure::new(
        format!("real client's handshakes while {CHURN_SOCKETS} unauthenticated sockets churn ({secs} s)"),
        format!(
            "{} of {} ({:.1} %); handshake p50 {:.1} ms / p99 {:.1} ms; churning sockets upgraded at start {}, mean {}, {} cycles, {} refusals",
            u(&out, "probe_ok"),
            u(&out, "probe_attempts"),
            rate * 100.0,
            u(hs, "p50_us") as f64 / 1000.0,
            u(hs, "p99_us") as f64 / 1000.0,
            u(&out, "attackers_held_at_start"),
            u(&out, "attackers_held_mean"),
            u(&out, "attacker_cycles"),
            u(&out, "attacker_refusals"),
        ),
        format!("target/release/ws-load --sources 4 churn --sockets {CHURN_SOCKETS} --seconds {secs} --probe-interval-ms 250 --probe-timeout-ms 5000"),
    )
    .target(
        "≥ 90 % of attempts connect",
        Some(u(&out, "probe_attempts") > 0 && rate >= SUCCESS_MIN),
    );
    if let Some(e) = out["first_error"].as_str() {
        f = f.ratio(format!("first failure: {e}"));
    }
    s.push(f);
    s.note(
        "Churn: the unauthenticated sockets come from 127.0.0.2–127.0.0.5, upgrade, never send `connect` and reconnect as soon as the \
         server closes them (after a refusal, one second later); the real client connects from 127.0.0.1 every 250 ms with the full \
         handshake and counts as failed after 5 s.",
    );
    Ok(())
}

fn silent(_ctx: &Ctx, s: &mut Section, binary: &Path, loader: &Path, token: &str) -> Result<()> {
    let server = gateway(binary, token, None)?;
    let gw = format!("127.0.0.1:{}", server.port);
    let health = format!("127.0.0.1:{}", server.health_port);
    let args = strings(&[
        "--addr",
        &gw,
        "silent",
        "--sockets",
        &SILENT_SOCKETS.to_string(),
        "--seconds",
        &SILENT_BOUND_S.to_string(),
        "--drip",
        "--also",
        &health,
    ]);
    let out = ws_load(loader, token, &args)?;
    drop(server);
    let groups = out["groups"].as_array().cloned().unwrap_or_default();
    let (mut total, mut closed, mut worst) = (0u64, 0u64, 0f64);
    let mut parts = Vec::new();
    for g in &groups {
        let port = if g["target"].as_str() == Some(gw.as_str()) {
            "gateway port"
        } else {
            "health port"
        };
        total += u(g, "sockets");
        closed += u(g, "closed");
        let max = g["close_max_s"].as_f64();
        worst = worst.max(max.unwrap_or(0.0));
        parts.push(format!(
            "{port}, {}: {} of {} closed{}",
            g["kind"].as_str().unwrap_or("?"),
            u(g, "closed"),
            u(g, "sockets"),
            match (g["close_min_s"].as_f64(), max) {
                (Some(a), Some(b)) => format!(" after {a:.1}–{b:.1} s"),
                _ => String::new(),
            }
        ));
    }
    let all = total > 0 && closed == total;
    s.push(
        Figure::new(
            format!("silent sockets closed by the server ({SILENT_SOCKETS}: nothing sent, or a header at 1 byte/s; both ports; waited {SILENT_BOUND_S} s)"),
            parts.join("; "),
            format!("target/release/ws-load --addr GATEWAY silent --sockets {SILENT_SOCKETS} --seconds {SILENT_BOUND_S} --drip --also HEALTH"),
        )
        .ratio(if all {
            format!("slowest closed after {worst:.1} s")
        } else {
            format!("{} of {total} still open after {SILENT_BOUND_S} s", total - closed)
        })
        .target(
            format!("all closed within {CLOSE_MIN_S:.0}–{CLOSE_MAX_S:.0} s"),
            Some(all && worst <= CLOSE_MAX_S),
        ),
    );
    Ok(())
}

/// Fresh servers per round of the idle figure: each round starts its own.
const IDLE_ROUNDS: usize = 3;

/// A server for one idle round: (server, idle addresses (one or two), health address).
type IdleServer = (Server, Vec<String>, String);

/// `/health` probed after `IDLE_SOCKETS` idle sockets were opened on the idle addresses
/// (they stay open as long as the server lets them, without reconnecting), on a server
/// whose open-files limit is `TIGHT_NOFILE`; [`IDLE_ROUNDS`] rounds, each on a fresh
/// server, because whether a burst starves the health answer can depend on timing.
fn idle_figure(
    ctx: &Ctx,
    s: &mut Section,
    loader: &Path,
    token: &str,
    what: &str,
    start: &dyn Fn() -> Result<IdleServer>,
) -> Result<()> {
    let (probes, rate) = if ctx.quick {
        ("100", "20")
    } else {
        ("200", "40")
    };
    let (mut ok_all, mut n_all, mut worst_p99) = (0, 0, 0);
    let (mut per_round, mut kept, mut failure) = (Vec::new(), Vec::new(), None);
    let mut p50s = Vec::new();
    for round in 1..=IDLE_ROUNDS {
        let (server, idle, health) = start()?;
        let mut args = strings(&[
            "--addr",
            &idle[0],
            "idle-health",
            "--sockets",
            &IDLE_SOCKETS.to_string(),
            "--health",
            &health,
            "--probes",
            probes,
            "--rate",
            rate,
        ]);
        if idle.len() > 1 {
            args.extend(["--also".to_string(), idle[1..].join(",")]);
        }
        let out = ws_load(loader, token, &args)?;
        drop(server);
        let lat = &out["latency"];
        let (ok, n) = (u(&out, "probe_ok"), u(&out, "probes"));
        ok_all += ok;
        n_all += n;
        worst_p99 = worst_p99.max(u(lat, "p99_us"));
        p50s.push(u(lat, "p50_us"));
        per_round.push(format!("{ok}/{n}"));
        kept.push(format!(
            "{}→{}",
            u(&out, "idle_open_at_start"),
            u(&out, "idle_open_at_end")
        ));
        if let (None, Some(e)) = (&failure, out["first_error"].as_str()) {
            failure = Some(format!(
                "round {round}, first failure: {e}; failed probes sent {:.1}–{:.1} s after probing started",
                out["bad_probes_from_s"].as_f64().unwrap_or(0.0),
                out["bad_probes_until_s"].as_f64().unwrap_or(0.0)
            ));
        }
    }
    p50s.sort_unstable();
    let mut f = Figure::new(
        format!("{what} `/health` after {IDLE_SOCKETS} idle sockets were opened (server open-files limit {TIGHT_NOFILE}; {IDLE_ROUNDS} rounds)"),
        format!(
            "{ok_all} of {n_all} answered 200 (per round: {}); median p50 {:.2} ms, worst p99 {:.2} ms; idle sockets the server kept open (probing start→end): {}",
            per_round.join(", "),
            p50s[p50s.len() / 2] as f64 / 1000.0,
            worst_p99 as f64 / 1000.0,
            kept.join(", "),
        ),
        format!("target/release/ws-load --addr IDLE idle-health --sockets {IDLE_SOCKETS} --health HEALTH --probes {probes} --rate {rate}"),
    )
    .target(
        "every probe answered, every round (p99 reported)",
        Some(n_all > 0 && ok_all == n_all),
    );
    if let Some(why) = failure {
        f = f.ratio(why);
    }
    s.push(f);
    Ok(())
}

fn idle_gateway(
    ctx: &Ctx,
    s: &mut Section,
    binary: &Path,
    loader: &Path,
    token: &str,
) -> Result<()> {
    let start = || -> Result<IdleServer> {
        let server = gateway(binary, token, Some(TIGHT_NOFILE))?;
        let idle = vec![
            format!("127.0.0.1:{}", server.port),
            format!("127.0.0.1:{}", server.health_port),
        ];
        let health = format!("127.0.0.1:{}", server.health_port);
        Ok((server, idle, health))
    };
    idle_figure(ctx, s, loader, token, "gateway", &start)
}

fn idle_egress(
    ctx: &Ctx,
    s: &mut Section,
    binary: &Path,
    loader: &Path,
    token: &str,
) -> Result<()> {
    let start = || -> Result<IdleServer> {
        let port = free_port()?;
        let args = strings(&[
            "egress-proxy",
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
        ]);
        let proxy = spawn_limited(binary, token, &args, port, port, Some(TIGHT_NOFILE))?;
        let addr = format!("127.0.0.1:{port}");
        Ok((proxy, vec![addr.clone()], addr))
    };
    idle_figure(ctx, s, loader, token, "egress proxy", &start)
}
