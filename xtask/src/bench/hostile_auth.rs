//! Section `hostile-authenticated`: the gateway under clients that hold the token and
//! misbehave (issue 24's "Why" list), loopback only and bounded: lockout by `operator.read`
//! sockets that never read while a long reply streams, server CPU and bytes per reader
//! for a 1 MiB reply in 13-byte deltas (alone and four at once, with another client's
//! `models.list` and HTTP `/health` latency meanwhile), and `health`/`connect` latency and
//! memory after one writer filled 256 sessions of 256 KiB. Each figure states the figure
//! the issue measured before the fixes; the load comes from `ws-load hostile-auth`, the
//! provider is `ws-load upstream-stub`.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use serde_json::Value;

use super::chat::{start_stub, stub_env};
use super::gateway_load::{raise_nofile, u, ws_load};
use super::lifecycle::{token, Server};
use super::report::{Figure, Section};
use super::{mib, Ctx};

/// Sockets that never read (the lockout used 80).
const READERS: usize = 80;
/// The long reply: 1 MiB less room for the stub's first and last deltas, under the
/// gateway's 1 MiB reply cap (`providers::upstream::MAX_REPLY_BYTES`).
const REPLY_BYTES: usize = 1024 * 1024 - 1024;
const DELTA_BYTES: usize = 13;
const RUNS: usize = 4;
const SESSIONS: usize = 256;
const SESSION_BYTES: usize = 256 * 1024;
/// Bound of each run inside `ws-load hostile-auth` (seconds).
const RUN_BOUND_S: u64 = 60;
/// Targets: bytes per reader within this multiple of the reply; another client's
/// `models.list` and `/health` worst latency during four runs; `health` p99 over a
/// full store.
const BYTES_MULTIPLE_MAX: f64 = 4.0;
const OTHERS_WORST_MAX_MS: f64 = 250.0;
const STORE_HEALTH_P99_MAX_MS: f64 = 5.0;

fn ms(us: u64) -> String {
    format!("{:.2} ms", us as f64 / 1000.0)
}

fn f(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or(f64::NAN)
}

pub fn run(ctx: &mut Ctx) -> Result<Section> {
    let mut s = Section::new(
        "hostile-authenticated",
        "Under hostile authenticated clients (loopback, bounded)",
    );
    let binary = ctx.release_bin("clawdbot", "clawdbot")?;
    let loader = ctx.release_bin("clawdbot-bench", "ws-load")?;
    raise_nofile();
    let token = token()?;
    let out = measure(&binary, &loader, &token)?;
    lockout(&mut s, &out["lockout"]);
    streaming(&mut s, &out["streaming"]);
    store(&mut s, &out["store"]);
    s.note(format!(
        "The gateway is the host release build (`target/release/clawdbot serve`) with its default limits (rate limit, send \
         queue, buffered bytes, run throttle), its provider pointed at `ws-load upstream-stub` on loopback, and the per-client \
         session and run quotas lifted (`CLAWDBOT_MAX_SESSIONS*`, `CLAWDBOT_MAX_RUNS*` = 5000) so one writer can fill \
         {SESSIONS} sessions. Long replies: the stub streams {REPLY_BYTES} bytes in {DELTA_BYTES}-byte text deltas (1 MiB \
         less room for its first and last deltas: the gateway caps a reply at 1 MiB). The sessions are filled with \
         {SESSION_BYTES}-byte replies (a message is capped at 32 KiB). A reply in {DELTA_BYTES}-byte deltas is ~10× larger \
         on the provider's wire than its text: the gateway ends it at its cap on provider bytes (8 MiB) with an `error` \
         event, which is the run's end the readers must get. Each run is bounded by {RUN_BOUND_S} s. \"Before\" figures are the issue's (issue 24, one run on a loaded 2-core machine, \
         release build, default limits)."
    ));
    Ok(s)
}

fn measure(binary: &Path, loader: &Path, token: &str) -> Result<Value> {
    let (_stub, stub_addr) = start_stub(loader, Duration::ZERO)?;
    let env = stub_env(&stub_addr)?;
    let mut server = Server::spawn_with_env(binary, token, &[], &env)?;
    server.wait_healthy(Duration::from_secs(10))?;
    let args: Vec<String> = [
        "--addr",
        &format!("127.0.0.1:{}", server.port),
        "--pid",
        &server.pid().to_string(),
        "hostile-auth",
        "--health",
        &server.health_addr().to_string(),
        "--readers",
        &READERS.to_string(),
        "--reply-bytes",
        &REPLY_BYTES.to_string(),
        "--delta-bytes",
        &DELTA_BYTES.to_string(),
        "--runs",
        &RUNS.to_string(),
        "--sessions",
        &SESSIONS.to_string(),
        "--session-bytes",
        &SESSION_BYTES.to_string(),
        "--seconds",
        &RUN_BOUND_S.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    ws_load(loader, token, &args)
}

fn lockout(s: &mut Section, l: &Value) {
    let p = &l["probes"];
    // A run ends with `final`, or with `error` when the gateway's own bounds end it (a
    // reply in tiny deltas meets the cap on provider bytes): either way every reader
    // that reads must get that terminal event.
    let good = l["good_reader_ended"] == true && l["good_reader_cut"].is_null();
    let writer = l["writer_final"] == true || l["writer_other_end"].is_string();
    let writer = writer && l["writer_cut"].is_null();
    let end = |who: &str| match (&l[format!("{who}_other_end")], &l[format!("{who}_cut")]) {
        (Value::String(e), _) => format!(" (ended {e})"),
        (_, Value::String(c)) => format!(" ({c})"),
        _ => String::new(),
    };
    let joined = u(p, "new_clients_joined");
    let failed = u(p, "new_clients_failed");
    s.push(
        Figure::new(
            format!("lockout: {READERS} `operator.read` sockets never read while a {REPLY_BYTES}-byte reply streams"),
            format!(
                "well-behaved reader {}{} ({} received), writer {}{}; new clients {joined} of {} joined; `/ready` 200 ×{}, 503 ×{}; \
                 non-reading sockets cut by the server {} of {READERS}; run {:.1} s",
                if good { "got the run's end" } else { "did NOT get the run's end" },
                end("good_reader"),
                mib(u(l, "good_reader_bytes") as f64),
                if writer { "got it" } else { "did NOT get it" },
                end("writer"),
                joined + failed,
                u(p, "ready_200"),
                u(p, "ready_503"),
                u(l, "not_reading_cut_by_server"),
                f(l, "seconds"),
            ),
            format!(
                "ws-load hostile-auth --readers {READERS} --reply-bytes {REPLY_BYTES} --delta-bytes {DELTA_BYTES}"
            ),
        )
        .ratio(
            "before: buffered bytes 268,435,365 of 268,435,456 for 40 s; the reader and the writer dropped (1006); new \
             clients timed out; `/ready` said ready",
        )
        .target(
            "readers that read get the run's end; new clients get in",
            Some(good && writer && joined > 0 && failed == 0),
        ),
    );
}

fn streaming(s: &mut Section, st: &Value) {
    let alone = &st["alone"];
    let bytes = u(alone, "bytes_to_reader");
    let multiple = bytes as f64 / REPLY_BYTES as f64;
    s.push(
        Figure::new(
            format!("one {REPLY_BYTES}-byte reply in {DELTA_BYTES}-byte deltas: server CPU, bytes to the reader"),
            format!(
                "{:.2} CPU-s, {} to the reader ({multiple:.2}× the reply), {}, {:.1} s",
                f(alone, "server_cpu_seconds"),
                mib(bytes as f64),
                match &alone["other_end"] {
                    Value::String(e) => format!("ended {e}"),
                    _ if alone["final"] == true => "`final` received".to_string(),
                    _ => "no `final`".to_string(),
                },
                f(alone, "seconds"),
            ),
            format!("ws-load hostile-auth (alone) --reply-bytes {REPLY_BYTES} --delta-bytes {DELTA_BYTES}"),
        )
        .ratio("before: 80 CPU-s and ~16 GB per reader, run timed out")
        .target(
            format!("≤ {BYTES_MULTIPLE_MAX:.0}× the reply per reader, the run's end received"),
            Some(alone["ended"] == true && multiple <= BYTES_MULTIPLE_MAX),
        ),
    );
    let at = &st["at_once"];
    let models = &at["models_list"];
    let health = &at["http_health"];
    let worst = u(models, "max_us").max(u(health, "max_us")) as f64 / 1000.0;
    let all_ended = u(at, "ended_seen") == u(at, "finals_expected");
    s.push(
        Figure::new(
            format!("{RUNS} such replies at once: server CPU; another client's `models.list` and HTTP `/health` meanwhile (p50 / worst)"),
            format!(
                "{:.2} CPU-s, {:.1} s, {} of {} run ends to the readers ({} `final`{}), at most {} per reader; `models.list` {} / {} ({} failed); `/health` {} / {} ({} failed)",
                f(at, "server_cpu_seconds"),
                f(at, "seconds"),
                u(at, "ended_seen"),
                u(at, "finals_expected"),
                u(at, "finals_seen"),
                at["other_end"].as_str().map(|e| format!(", others {e}")).unwrap_or_default(),
                mib(u(at, "bytes_per_reader_max") as f64),
                ms(u(models, "p50_us")),
                ms(u(models, "max_us")),
                u(at, "models_list_failed"),
                ms(u(health, "p50_us")),
                ms(u(health, "max_us")),
                u(at, "http_health_failed"),
            ),
            format!("ws-load hostile-auth (at once) --runs {RUNS}"),
        )
        .ratio("before: 215 CPU-s; `models.list` 2.2 s median / 14.7 s worst; `/health` up to 1.6 s")
        .target(
            format!("every run's end to every reader; worst ≤ {OTHERS_WORST_MAX_MS:.0} ms"),
            Some(all_ended && worst <= OTHERS_WORST_MAX_MS && u(at, "models_list_failed") == 0),
        ),
    );
}

fn store(s: &mut Section, st: &Value) {
    let h = &st["health"];
    let c = &st["connect"];
    let p99 = u(h, "p99_us") as f64 / 1000.0;
    s.push(
        Figure::new(
            format!("`health` / `connect` latency after one writer filled {SESSIONS} sessions of {} KiB (p50 / p99)", SESSION_BYTES / 1024),
            format!(
                "{} sessions filled in {:.1} s{}; `health` {} / {}; `connect` {} / {}; server RSS {} → {}",
                u(st, "filled"),
                f(st, "fill_seconds"),
                st["refused"].as_str().map(|r| format!(" (stopped: {r})")).unwrap_or_default(),
                ms(u(h, "p50_us")),
                ms(u(h, "p99_us")),
                ms(u(c, "p50_us")),
                ms(u(c, "p99_us")),
                mib(u(st, "server_rss_before_bytes") as f64),
                mib(u(st, "server_rss_after_bytes") as f64),
            ),
            format!("ws-load hostile-auth (store) --sessions {SESSIONS} --session-bytes {SESSION_BYTES}"),
        )
        .ratio("before: `health` 29–33 ms, `connect` 31 ms; RSS 76 → 207 MB")
        .target(
            format!("`health` p99 ≤ {STORE_HEALTH_P99_MAX_MS:.0} ms"),
            Some(u(st, "filled") as usize == SESSIONS && p99 <= STORE_HEALTH_P99_MAX_MS),
        ),
    );
}
