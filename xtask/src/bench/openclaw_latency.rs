//! Part of section `openclaw`: the time to the first streamed text through the real
//! OpenClaw vs straight to clawdbot, the same demo model in one run. The stack is the
//! demo's (`demo::with_openclaw_stack`: OpenClaw, the `model` service = clawdbot
//! `serve --openai-api` with the demo provider, the forwarder), with OpenClaw's
//! OpenAI-compatible endpoint on. Both paths enter through the forwarder container:
//! (a) its loopback port to OpenClaw, which runs its agent and calls the model service;
//! (b) its CONNECT proxy to the model service itself. So (a) − (b) is what OpenClaw adds.
//! Requests alternate (a), (b) so both see the same moments of a shared machine.

use std::cell::RefCell;
use std::os::fd::AsRawFd;
use std::rc::Rc;

use anyhow::{bail, Context, Result};

use super::first_token::{first_token, Endpoint};
use super::report::{Figure, Section};
use super::Ctx;
use crate::demo::{with_openclaw_stack, BenchStack, DEMO_ANSWER_PREFIX};

/// Warm-up pairs, not counted (OpenClaw's first agent run loads its modules).
const WARMUP: usize = 3;

/// Samples of each path, in milliseconds.
#[derive(Default)]
struct Samples {
    openclaw: Vec<f64>,
    clawdbot: Vec<f64>,
}

/// Nearest-rank percentile of sorted samples (`q` in 0..=1).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Exclusive use of the demo's loopback port, shared with the engine tests' stacks
/// (`xtask/tests/openclaw_stack_engine.rs`, `e2e_demo.rs`): waits while they hold it.
fn demo_lock() -> Result<std::fs::File> {
    let path = std::env::temp_dir().join("clawdbot-demo.lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    // SAFETY: flock on a descriptor this function owns.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(std::io::Error::last_os_error()).context("flock on the demo lock");
    }
    Ok(f)
}

fn measure(stack: &BenchStack, n: usize, out: &RefCell<Samples>) -> Result<()> {
    let openclaw = Endpoint {
        addr: stack.openclaw,
        via_proxy_to: None,
        token: stack.token.clone(),
        model: "openclaw".into(),
    };
    let clawdbot = Endpoint {
        addr: stack.proxy,
        via_proxy_to: Some(stack.model.clone()),
        token: stack.model_key.clone(),
        model: "demo".into(),
    };
    for i in 0..WARMUP + n {
        let message = format!("bench message {i}");
        let a = first_token(&openclaw, &message).context("through OpenClaw")?;
        let b = first_token(&clawdbot, &message).context("straight to clawdbot")?;
        // Only the demo model's answer counts (not an error OpenClaw words as text).
        for (path, first) in [("OpenClaw", &a), ("clawdbot", &b)] {
            if !first.text.starts_with(DEMO_ANSWER_PREFIX) {
                bail!(
                    "{path}'s first text is not the demo model's answer: {:?}",
                    first.text.chars().take(120).collect::<String>()
                );
            }
        }
        if i >= WARMUP {
            let mut s = out.borrow_mut();
            s.openclaw.push(a.after.as_secs_f64() * 1000.0);
            s.clawdbot.push(b.after.as_secs_f64() * 1000.0);
        }
    }
    Ok(())
}

/// Adds the first-token figures to `s` (or a note saying why they are missing).
pub fn run(ctx: &Ctx, s: &mut Section) {
    let n = if ctx.quick { 20 } else { 50 };
    if let Err(e) = measure_into(ctx, s, n) {
        s.note(format!(
            "First-token latency through OpenClaw vs clawdbot: not measured ({e:#})."
        ));
    }
}

fn measure_into(ctx: &Ctx, s: &mut Section, n: usize) -> Result<()> {
    eprintln!(
        "bench: waiting for the demo lock (port {})",
        ctx.settings.gateway_port
    );
    let _lock = demo_lock()?;
    let load_before = load_average();
    let samples = Rc::new(RefCell::new(Samples::default()));
    let out = samples.clone();
    with_openclaw_stack(&ctx.root, &ctx.settings, move |stack| {
        measure(stack, n, &out)
    })?;
    let load_after = load_average();
    let mut s_ = samples.borrow_mut();
    s_.openclaw.sort_by(f64::total_cmp);
    s_.clawdbot.sort_by(f64::total_cmp);
    let (a, b) = (&s_.openclaw, &s_.clawdbot);
    let show = |v: &[f64]| {
        format!(
            "p50 {:.1} ms / p99 {:.1} ms",
            percentile(v, 0.5),
            percentile(v, 0.99)
        )
    };
    let ratio = percentile(a, 0.5) / percentile(b, 0.5).max(f64::MIN_POSITIVE);
    s.push(
        Figure::new(
            "first-token latency through OpenClaw (stream: true, first text chunk)",
            format!("{} ({} requests)", show(a), a.len()),
            "POST /v1/chat/completions to OpenClaw via the demo forwarder (127.0.0.1), its agent calling the model service",
        )
        .ratio(format!(
            "p50 {ratio:.0}× clawdbot's (OpenClaw adds {:.1} ms)",
            percentile(a, 0.5) - percentile(b, 0.5)
        )),
    );
    s.push(Figure::new(
        "first-token latency straight to clawdbot (same demo model, same run)",
        format!("{} ({} requests)", show(b), b.len()),
        "POST /v1/chat/completions to the model service via the forwarder's CONNECT proxy",
    ));
    s.note(format!(
        "First token: {n} requests each way after {WARMUP} warm-up pairs, alternating OpenClaw / clawdbot, one at a \
         time, each read to its end; the clock runs from writing the request (connection open) to the first SSE \
         chunk with non-empty `delta.content` (OpenClaw's role chunk before it does not count), which must be \
         the demo model's answer (`[demo] …`) on both paths. Both paths enter \
         the demo stack's forwarder container; OpenClaw's path adds its agent run (session, prompt, the call to \
         the same model service). The stack is `cargo xtask demo --app openclaw`'s, with \
         `gateway.http.endpoints.chatCompletions.enabled` turned on for the bench only. With {n} samples p99 is \
         close to the maximum. Load average {load_before} before, {load_after} after (2 cores, shared)."
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 10.0);
        assert_eq!(percentile(&v, 0.99), 20.0);
        assert_eq!(percentile(&[3.0], 0.5), 3.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
