//! Counters of the egress proxy, served as Prometheus text at `GET /metrics` on the proxy
//! port (see `docs/metrics.md`), and the rate limit on its refusal log lines: at most
//! [`LINES_PER_INTERVAL`] individual lines per [`SUMMARY_INTERVAL`], then one summary
//! line per interval with the counts, never one line per refused socket.
//!
//! Label values come from the fixed list in [`Refusal`]; no destination, peer address or
//! client input is ever a label.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::warn;

use super::bounds::{LINES_PER_INTERVAL, SUMMARY_INTERVAL};

/// Why a connection or request was refused or closed early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Evicted from the full pending budget by a newer connection.
    PendingEvicted,
    /// No complete request head within `--head-timeout-ms`.
    HeadTimeout,
    /// Malformed, oversized or truncated request head.
    BadRequest,
    /// A method other than `CONNECT` (405).
    MethodNotAllowed,
    /// A `CONNECT` to a destination outside the allowlist (403).
    DestinationNotAllowed,
    /// Every tunnel slot taken (503).
    TunnelLimit,
    /// The destination could not be reached (502).
    UpstreamUnreachable,
    /// A forwarded connection sent nothing within `--first-byte-timeout-ms`.
    FirstByteTimeout,
    /// Every slot of a forward taken.
    ForwardLimit,
    /// A forward's target could not be reached.
    TargetUnreachable,
    /// `accept` failed (usually the open-files limit).
    AcceptFailed,
}

impl Refusal {
    pub const ALL: [Refusal; 11] = [
        Refusal::PendingEvicted,
        Refusal::HeadTimeout,
        Refusal::BadRequest,
        Refusal::MethodNotAllowed,
        Refusal::DestinationNotAllowed,
        Refusal::TunnelLimit,
        Refusal::UpstreamUnreachable,
        Refusal::FirstByteTimeout,
        Refusal::ForwardLimit,
        Refusal::TargetUnreachable,
        Refusal::AcceptFailed,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Refusal::PendingEvicted => "pending_evicted",
            Refusal::HeadTimeout => "head_timeout",
            Refusal::BadRequest => "bad_request",
            Refusal::MethodNotAllowed => "method_not_allowed",
            Refusal::DestinationNotAllowed => "destination_not_allowed",
            Refusal::TunnelLimit => "tunnel_limit",
            Refusal::UpstreamUnreachable => "upstream_unreachable",
            Refusal::FirstByteTimeout => "first_byte_timeout",
            Refusal::ForwardLimit => "forward_limit",
            Refusal::TargetUnreachable => "target_unreachable",
            Refusal::AcceptFailed => "accept_failed",
        }
    }
}

/// A gauge that goes up while a guard lives.
#[derive(Debug, Default)]
pub struct Gauge(AtomicU64);

/// Decrements its gauge when dropped.
#[derive(Debug)]
pub struct GaugeGuard<'a>(&'a Gauge);

impl Gauge {
    pub fn enter(&self) -> GaugeGuard<'_> {
        self.0.fetch_add(1, Ordering::Relaxed);
        GaugeGuard(self)
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Drop for GaugeGuard<'_> {
    fn drop(&mut self) {
        self.0 .0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Everything the proxy counts.
#[derive(Debug, Default)]
pub struct Stats {
    refused: [AtomicU64; Refusal::ALL.len()],
    lines_this_interval: AtomicU64,
    lines_suppressed: AtomicU64,
    pub tunnels_opened: AtomicU64,
    pub tunnels_open: Gauge,
    pub forwards_opened: AtomicU64,
    pub forwards_open: Gauge,
    pub health_answered: AtomicU64,
}

/// Figures of the running proxy that are not counters of [`Stats`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    pub max_tunnels: usize,
    pub pending_proxy: usize,
    pub pending_forwards: usize,
    pub max_pending: usize,
    pub open_files_limit: u64,
    pub uptime_seconds: u64,
}

impl Stats {
    /// Counts a refusal; true when an individual log line for it is still within this
    /// interval's budget (the caller then writes it), false when it is only counted.
    pub fn refuse(&self, why: Refusal) -> bool {
        self.refused[why as usize].fetch_add(1, Ordering::Relaxed);
        if self.lines_this_interval.fetch_add(1, Ordering::Relaxed) < LINES_PER_INTERVAL {
            true
        } else {
            self.lines_suppressed.fetch_add(1, Ordering::Relaxed);
            false
        }
    }

    pub fn refused(&self, why: Refusal) -> u64 {
        self.refused[why as usize].load(Ordering::Relaxed)
    }

    fn counts(&self) -> [u64; Refusal::ALL.len()] {
        std::array::from_fn(|i| self.refused[i].load(Ordering::Relaxed))
    }

    /// Writes one summary line per interval in which something was refused, and opens
    /// the next interval's line budget. Runs until the proxy stops.
    pub async fn summarize(&self) {
        let mut last = self.counts();
        let mut last_suppressed = 0;
        let mut tick = tokio::time::interval(SUMMARY_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let now = self.counts();
            let suppressed = self.lines_suppressed.load(Ordering::Relaxed);
            let mut text = String::new();
            for (r, (n, l)) in Refusal::ALL.iter().zip(now.iter().zip(last.iter())) {
                if n > l {
                    let _ = write!(text, "{}{}={}", sep(&text), r.label(), n - l);
                }
            }
            if !text.is_empty() {
                warn!(
                    refused = %text,
                    lines_suppressed = suppressed - last_suppressed,
                    interval_s = SUMMARY_INTERVAL.as_secs(),
                    "egress refusals in the last interval (counters: GET /metrics)"
                );
            }
            last = now;
            last_suppressed = suppressed;
            self.lines_this_interval.store(0, Ordering::Relaxed);
        }
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self, s: &Snapshot) -> String {
        let mut out = String::with_capacity(4096);
        let mut metric = |name: &str, kind: &str, help: &str, lines: &[(String, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, v) in lines {
                let _ = writeln!(out, "{name}{labels} {v}");
            }
        };
        let one = |v: u64| vec![(String::new(), v)];
        metric(
            "clawdbot_egress_build_info",
            "gauge",
            "Always 1; the version is a label.",
            &[(format!("{{version=\"{}\"}}", env!("CARGO_PKG_VERSION")), 1)],
        );
        metric(
            "clawdbot_egress_uptime_seconds",
            "gauge",
            "Seconds since the proxy started.",
            &one(s.uptime_seconds),
        );
        metric(
            "clawdbot_egress_refused_total",
            "counter",
            "Connections or requests refused or closed early, by reason.",
            &Refusal::ALL
                .iter()
                .map(|r| (format!("{{reason=\"{}\"}}", r.label()), self.refused(*r)))
                .collect::<Vec<_>>(),
        );
        metric(
            "clawdbot_egress_log_lines_suppressed_total",
            "counter",
            "Refusal log lines not written (over the per-interval budget; counted above).",
            &one(self.lines_suppressed.load(Ordering::Relaxed)),
        );
        metric(
            "clawdbot_egress_pending",
            "gauge",
            "Connections that have not sent their request head (proxy) or first byte (forwards).",
            &[
                ("{port=\"proxy\"}".to_string(), s.pending_proxy as u64),
                ("{port=\"forward\"}".to_string(), s.pending_forwards as u64),
            ],
        );
        metric(
            "clawdbot_egress_pending_max",
            "gauge",
            "--max-pending (per listener).",
            &one(s.max_pending as u64),
        );
        metric(
            "clawdbot_egress_tunnels_open",
            "gauge",
            "Open CONNECT tunnels.",
            &one(self.tunnels_open.get()),
        );
        metric(
            "clawdbot_egress_tunnels_max",
            "gauge",
            "--max-tunnels.",
            &one(s.max_tunnels as u64),
        );
        metric(
            "clawdbot_egress_tunnels_total",
            "counter",
            "CONNECT tunnels established.",
            &one(self.tunnels_opened.load(Ordering::Relaxed)),
        );
        metric(
            "clawdbot_egress_forwards_open",
            "gauge",
            "Open forwarded connections (all forwards).",
            &one(self.forwards_open.get()),
        );
        metric(
            "clawdbot_egress_forwards_total",
            "counter",
            "Forwarded connections relayed to their target.",
            &one(self.forwards_opened.load(Ordering::Relaxed)),
        );
        metric(
            "clawdbot_egress_health_total",
            "counter",
            "GET /health answers.",
            &one(self.health_answered.load(Ordering::Relaxed)),
        );
        metric(
            "clawdbot_egress_open_files_limit",
            "gauge",
            "Soft RLIMIT_NOFILE after the raise at start.",
            &one(s.open_files_limit),
        );
        out
    }
}

fn sep(text: &str) -> &'static str {
    if text.is_empty() {
        ""
    } else {
        " "
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_budgeted_and_every_refusal_is_counted() {
        let s = Stats::default();
        let allowed = (0..100).filter(|_| s.refuse(Refusal::TunnelLimit)).count() as u64;
        assert_eq!(allowed, LINES_PER_INTERVAL);
        assert_eq!(s.refused(Refusal::TunnelLimit), 100);
        let text = s.render(&Snapshot::default());
        assert!(text.contains("clawdbot_egress_refused_total{reason=\"tunnel_limit\"} 100\n"));
        assert!(text.contains("clawdbot_egress_log_lines_suppressed_total 90\n"));
        for r in Refusal::ALL {
            assert!(text.contains(&format!("{{reason=\"{}\"}}", r.label())));
        }
    }
}
