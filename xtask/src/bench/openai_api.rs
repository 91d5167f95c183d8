//! Section 8: the OpenAI-compatible HTTP API (`serve --openai-api`) beside the
//! WebSocket, against the same loopback stub, in one run: the time to the first
//! streamed chunk straight from the stub, through the WebSocket (`chat.send`) and
//! through `POST /v1/chat/completions` with `stream: true`, in triples (added = each
//! triple's difference), and the server's memory per open SSE stream at 1000 streams.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use serde_json::Value;

use super::chat::{start_stub, stub_env};
use super::gateway_load::{load_flags, raise_nofile, ws_load};
use super::lifecycle::{token, Server};
use super::report::{Figure, Section};
use super::{mib, Ctx};

/// Target: server memory per open SSE stream at 1000 streams.
const PER_STREAM_MAX: f64 = 64.0 * 1024.0;
/// Streams held open for the memory figure.
const STREAMS: u64 = 1000;

fn ms(us: i64) -> String {
    format!("{:.3} ms", us as f64 / 1000.0)
}

fn p(v: &Value, key: &str) -> i64 {
    v[key].as_i64().unwrap_or(0)
}

pub fn run(ctx: &mut Ctx) -> Result<Section> {
    let mut s = Section::new(
        "openai",
        "OpenAI-compatible HTTP API beside the WebSocket (loopback stub, bounded)",
    );
    let binary = ctx.release_bin("clawdbot", "clawdbot")?;
    let loader = ctx.release_bin("clawdbot-bench", "ws-load")?;
    raise_nofile();
    let token = token()?;
    if let Err(e) = measure(ctx, &mut s, &binary, &loader, &token) {
        s.note(format!("OpenAI API: not measured ({e:#})."));
    }
    Ok(s)
}

fn measure(ctx: &Ctx, s: &mut Section, binary: &Path, loader: &Path, token: &str) -> Result<()> {
    let hold = Duration::from_secs(if ctx.quick { 8 } else { 15 });
    let samples = if ctx.quick { "200" } else { "1000" };
    let (_stub, stub_addr) = start_stub(loader, hold)?;
    let env = stub_env(&stub_addr)?;
    let mut flags = load_flags();
    flags.extend(
        [
            "--openai-api",
            "--openai-max-concurrent",
            "4096",
            "--openai-max-concurrent-per-token",
            "4096",
            "--max-http-connections",
            "4096",
        ]
        .map(String::from),
    );
    let mut server = Server::spawn_with_env(binary, token, &flags, &env)?;
    server.wait_healthy(Duration::from_secs(10))?;
    std::thread::sleep(Duration::from_millis(300));
    let args: Vec<String> = [
        "--addr",
        &format!("127.0.0.1:{}", server.port),
        "--pid",
        &server.pid().to_string(),
        "openai",
        "--upstream",
        &stub_addr,
        "--samples",
        samples,
        "--streams",
        &STREAMS.to_string(),
        "--seconds",
        &(hold.as_secs() + 30).to_string(),
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    let out = ws_load(loader, token, &args)?;
    let l = &out["latency"];
    let n = l["http_first_chunk"]["count"].as_u64().unwrap_or(0);
    let first = |v: &Value| format!("{} / {}", ms(p(v, "p50_us")), ms(p(v, "p99_us")));
    s.push(Figure::new(
        "time to first streamed chunk: straight to the stub / WebSocket `chat.send` / HTTP SSE (p50 / p99 each)",
        format!(
            "{} · {} · {} ({n} triples)",
            first(&l["direct_first_chunk"]),
            first(&l["ws_first_chunk"]),
            first(&l["http_first_chunk"])
        ),
        format!("ws-load --addr 127.0.0.1:PORT openai --upstream STUB --samples {samples}"),
    ));
    let (aw, ah, hw) = (&l["added_ws"], &l["added_http"], &l["http_minus_ws"]);
    s.push(
        Figure::new(
            "added time to first chunk vs straight to the stub: WebSocket / HTTP SSE (p50 / p99)",
            format!(
                "{} / {} · {} / {}",
                ms(p(aw, "p50_us")),
                ms(p(aw, "p99_us")),
                ms(p(ah, "p50_us")),
                ms(p(ah, "p99_us"))
            ),
            "",
        )
        .ratio(format!(
            "HTTP SSE − WebSocket, per triple: p50 {} / p99 {}",
            ms(p(hw, "p50_us")),
            ms(p(hw, "p99_us"))
        )),
    );
    for run in out["concurrent"].as_array().cloned().unwrap_or_default() {
        let streams = run["streams"].as_u64().unwrap_or(0);
        let per = run["server_rss_per_stream_bytes"].as_f64();
        let complete = run["active_at_sample"].as_u64() == Some(streams);
        let mut f = Figure::new(
            format!("server memory with {streams} SSE streams open (one connection each)"),
            format!(
                "{} → {} ({} per stream; {} of {streams} active when sampled, {} done, ramp {} ms)",
                mib(run["server_rss_idle_bytes"].as_f64().unwrap_or(0.0)),
                mib(run["server_rss_active_bytes"].as_f64().unwrap_or(0.0)),
                per.map(|p| format!("{:.1} KiB", p / 1024.0))
                    .unwrap_or_else(|| "?".into()),
                run["active_at_sample"],
                run["done"],
                run["ramp_ms"],
            ),
            format!(
                "ws-load --pid PID openai --streams {streams} (stub holds each stream {} s after its first delta)",
                hold.as_secs()
            ),
        );
        if streams == STREAMS {
            f = f.target(
                "≤ 64 KiB per stream",
                per.filter(|_| complete).map(|p| p <= PER_STREAM_MAX),
            );
        }
        s.push(f);
        if let Some(e) = run["first_error"].as_str() {
            s.note(format!("{streams} SSE streams: first error: {e}"));
        }
    }
    s.note(
        "First chunk: from sending the request to receiving the first text delta, on one keep-alive connection \
         each: straight to the stub (HTTP/1.1 POST), through the gateway's WebSocket (`chat.send`, the first `chat` \
         delta event) and through `POST /v1/chat/completions` with `stream: true` (the first SSE chunk carrying \
         content; the role chunk before it does not count), one of each in turn so all three see the same moment \
         of a shared machine; the added times are percentiles of each triple's differences; 5 warm-up triples are \
         not counted. Memory: server VmRSS before the streams, then once every stream has delivered its first \
         delta while the stub holds the rest; per stream = the difference / streams (it includes the connection, \
         as each SSE stream has its own). The server runs the chat section's flags plus `--openai-api` with the \
         API's concurrency bounds and `--max-http-connections` raised to 4096.",
    );
    Ok(())
}
