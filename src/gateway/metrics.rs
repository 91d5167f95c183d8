//! Gateway metrics: hand-written counters (atomics), rendered in the Prometheus text
//! exposition format 0.0.4 at `GET /metrics` on the health port (see `docs/metrics.md`).
//!
//! Every label value comes from a fixed list in this module (method names, results,
//! reasons, provider names), never from client input or configuration, so a client
//! cannot grow the label set and no secret can ever reach a label.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::prometheus::Writer;

/// How a WebSocket handshake ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handshake {
    Ok,
    AuthMissing,
    AuthMismatch,
    /// The peer had used up its failed-auth budget.
    AuthBlocked,
    ProtocolMismatch,
    /// Not a `connect` request, bad params, a binary or oversized frame.
    Invalid,
    Timeout,
    /// The client went away or the gateway shut down first.
    Aborted,
    /// Closed to make room for a newer pending handshake (unauthenticated budget full).
    Evicted,
}

impl Handshake {
    const ALL: [Handshake; 9] = [
        Handshake::Ok,
        Handshake::AuthMissing,
        Handshake::AuthMismatch,
        Handshake::AuthBlocked,
        Handshake::ProtocolMismatch,
        Handshake::Invalid,
        Handshake::Timeout,
        Handshake::Aborted,
        Handshake::Evicted,
    ];
    fn label(self) -> &'static str {
        match self {
            Handshake::Ok => "ok",
            Handshake::AuthMissing => "auth_missing",
            Handshake::AuthMismatch => "auth_mismatch",
            Handshake::AuthBlocked => "auth_blocked",
            Handshake::ProtocolMismatch => "protocol_mismatch",
            Handshake::Invalid => "invalid",
            Handshake::Timeout => "timeout",
            Handshake::Aborted => "aborted",
            Handshake::Evicted => "evicted",
        }
    }
}

/// Method label values: the implemented methods of the method table
/// (`gateway::methods::table`, the one list), then `connect` (a second one),
/// `unsupported` (a method answered with an honest refusal) and `unknown`.
fn method_labels() -> &'static [&'static str] {
    static LABELS: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    LABELS.get_or_init(|| {
        let mut v: Vec<&'static str> = super::methods::table::implemented().collect();
        v.extend(["connect", "unsupported", "unknown"]);
        v
    })
}

/// The method label for a client-supplied method name: known names, else `unknown`.
pub fn method_label(method: &str) -> &'static str {
    if let Some(l) = method_labels()
        .iter()
        .copied()
        .find(|m| *m == method && *m != "unknown" && *m != "unsupported")
    {
        return l;
    }
    if super::methods::table::find(method).is_some() {
        return "unsupported";
    }
    "unknown"
}

/// Request counters, one row of results per method label.
#[derive(Debug)]
struct RequestCounters(Vec<[AtomicU64; REQUEST_RESULTS.len()]>);

impl Default for RequestCounters {
    fn default() -> Self {
        RequestCounters(method_labels().iter().map(|_| Default::default()).collect())
    }
}

/// Result of one request after the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestResult {
    Ok,
    Error,
    RateLimited,
}

const REQUEST_RESULTS: [&str; 3] = ["ok", "error", "rate_limited"];

impl RequestResult {
    fn index(self) -> usize {
        match self {
            RequestResult::Ok => 0,
            RequestResult::Error => 1,
            RequestResult::RateLimited => 2,
        }
    }
}

/// Why an inbound frame was refused (each refusal ends the connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameReject {
    /// Larger than `maxPayload` (or the pre-auth limit before the handshake).
    Oversize,
    Binary,
    /// Not JSON, or not a protocol frame.
    Invalid,
}

const FRAME_REJECTS: [&str; 3] = ["oversize", "binary", "invalid"];

impl FrameReject {
    fn index(self) -> usize {
        match self {
            FrameReject::Oversize => 0,
            FrameReject::Binary => 1,
            FrameReject::Invalid => 2,
        }
    }
}

/// Why an HTTP upgrade to the WebSocket gateway was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpgradeRefused {
    AuthBlocked,
    ConnectionLimit,
    ShuttingDown,
    /// A browser `Origin` not in `--allow-origin`.
    Origin,
}

const UPGRADE_REFUSALS: [&str; 4] = [
    "auth_blocked",
    "connection_limit",
    "shutting_down",
    "origin",
];

impl UpgradeRefused {
    fn index(self) -> usize {
        match self {
            UpgradeRefused::AuthBlocked => 0,
            UpgradeRefused::ConnectionLimit => 1,
            UpgradeRefused::ShuttingDown => 2,
            UpgradeRefused::Origin => 3,
        }
    }
}

/// Why the gateway ended an authenticated connection (besides the client leaving).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disconnect {
    /// Its send queue (or the global outbound budget) stayed full past `--send-timeout-ms`.
    SlowConsumer,
    IdleTimeout,
    Shutdown,
    /// The end of a run (`chat` `final`/`error`/`aborted`, `agent` lifecycle end) found
    /// its send queue full: closed with a reason rather than losing it.
    MissedRunEnd,
}

const DISCONNECTS: [&str; 4] = [
    "slow_consumer",
    "idle_timeout",
    "shutdown",
    "missed_run_end",
];

impl Disconnect {
    fn index(self) -> usize {
        match self {
            Disconnect::SlowConsumer => 0,
            Disconnect::IdleTimeout => 1,
            Disconnect::Shutdown => 2,
            Disconnect::MissedRunEnd => 3,
        }
    }
}

/// How an HTTP connection (either port) was refused or cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpEnd {
    /// Every slot (and the health reserve) held a connection past its request head:
    /// closed at accept.
    Refused,
    /// No complete request head within `--http-header-timeout-ms` (also ends idle
    /// keep-alive connections).
    HeaderTimeout,
    /// A reserve slot asked for something else than the health endpoints (HTTP 503).
    ReserveMisuse,
    /// Closed before its request head was complete: every slot was taken and a newer
    /// connection took this one's (the oldest waiting).
    Evicted,
}

const HTTP_ENDS: [&str; 4] = ["refused", "header_timeout", "reserve_misuse", "evicted"];

impl HttpEnd {
    fn index(self) -> usize {
        match self {
            HttpEnd::Refused => 0,
            HttpEnd::HeaderTimeout => 1,
            HttpEnd::ReserveMisuse => 2,
            HttpEnd::Evicted => 3,
        }
    }
}

/// Gauges of the hostile-client limits, sampled at scrape time.
#[derive(Debug, Clone, Copy, Default)]
pub struct LimitGauges {
    /// WebSocket connections that have not completed `connect`.
    pub pending: usize,
    pub pending_max: usize,
    /// Open HTTP connections (both ports, before any upgrade).
    pub http_open: usize,
    /// Outgoing bytes queued across all connections, and the budget.
    pub buffered_bytes: usize,
    pub buffered_bytes_max: usize,
    /// What the WebSocket codecs' buffers grew to beyond their initial size and still
    /// hold (`transport::frame_gate::codec_buffer_bytes`).
    pub codec_buffer_bytes: usize,
    /// The size of the task each WebSocket connection runs as (`ws::connection_task_bytes`).
    pub connection_task_bytes: usize,
}

/// Provider names (the label of the latency histogram).
const PROVIDERS: [&str; 3] = ["demo", "anthropic", "openai"];

/// Upper bounds (seconds) of the provider latency histogram's buckets.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Debug, Default)]
struct Histogram {
    /// Non-cumulative counts per bucket; the last slot is `+Inf`.
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let slot = LATENCY_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[slot].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(
            d.as_micros().min(u64::MAX as u128) as u64,
            Ordering::Relaxed,
        );
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

/// All counters of one gateway.
#[derive(Debug, Default)]
pub struct Metrics {
    handshakes: [AtomicU64; Handshake::ALL.len()],
    requests: RequestCounters,
    frames_rejected: [AtomicU64; FRAME_REJECTS.len()],
    upgrades_refused: [AtomicU64; UPGRADE_REFUSALS.len()],
    rate_limited: AtomicU64,
    auth_failures: AtomicU64,
    provider_latency: [Histogram; PROVIDERS.len()],
    provider_errors: [AtomicU64; PROVIDERS.len()],
    disconnects: [AtomicU64; DISCONNECTS.len()],
    http_ends: [AtomicU64; HTTP_ENDS.len()],
    /// The OpenAI-compatible HTTP API (rendered only when it is enabled).
    pub api: ApiMetrics,
}

fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

impl Metrics {
    pub fn handshake(&self, result: Handshake) {
        let i = Handshake::ALL
            .iter()
            .position(|h| *h == result)
            .unwrap_or(0);
        inc(&self.handshakes[i]);
        if matches!(result, Handshake::AuthMissing | Handshake::AuthMismatch) {
            inc(&self.auth_failures);
        }
    }

    /// Counts a request; `method` is the client's string, reduced to a known label.
    pub fn request(&self, method: &str, result: RequestResult) {
        let label = method_label(method);
        let m = method_labels()
            .iter()
            .position(|x| *x == label)
            .unwrap_or(0);
        if let Some(row) = self.requests.0.get(m) {
            inc(&row[result.index()]);
        }
        if result == RequestResult::RateLimited {
            inc(&self.rate_limited);
        }
    }

    pub fn frame_rejected(&self, reason: FrameReject) {
        inc(&self.frames_rejected[reason.index()]);
    }

    pub fn upgrade_refused(&self, reason: UpgradeRefused) {
        inc(&self.upgrades_refused[reason.index()]);
    }

    pub fn disconnect(&self, reason: Disconnect) {
        inc(&self.disconnects[reason.index()]);
    }

    pub fn http_end(&self, reason: HttpEnd) {
        inc(&self.http_ends[reason.index()]);
    }

    /// The exposition text of the hostile-client limits (appended to [`Metrics::render`]).
    pub fn render_limits(&self, g: &LimitGauges) -> String {
        let mut out = String::with_capacity(2048);
        let mut w = Writer(&mut out);
        let gauges = [
            (
                "clawdbot_connections_pending",
                "WebSocket connections that have not completed connect.",
                g.pending,
            ),
            (
                "clawdbot_connections_pending_max",
                "Configured maximum of pending (unauthenticated) WebSocket connections.",
                g.pending_max,
            ),
            (
                "clawdbot_http_connections_open",
                "Open HTTP connections on both ports (before any WebSocket upgrade).",
                g.http_open,
            ),
            (
                "clawdbot_buffered_bytes",
                "Outgoing bytes queued across all WebSocket connections.",
                g.buffered_bytes,
            ),
            (
                "clawdbot_buffered_bytes_max",
                "Configured budget of outgoing bytes queued across all connections.",
                g.buffered_bytes_max,
            ),
            (
                "clawdbot_codec_buffer_bytes",
                "Bytes the WebSocket codecs' buffers grew to (the largest frame each connection carried since its codec was last rebuilt) and still hold.",
                g.codec_buffer_bytes,
            ),
            (
                "clawdbot_connection_task_bytes",
                "Bytes of the task each WebSocket connection runs as (its future; reads, writes and timers in one task), held while it is open.",
                g.connection_task_bytes,
            ),
        ];
        for (name, help, value) in gauges {
            w.header(name, "gauge", help);
            w.line(name, &[], value as u64);
        }
        w.header(
            "clawdbot_disconnects_total",
            "counter",
            "Authenticated connections ended by the gateway, by reason.",
        );
        for (reason, c) in DISCONNECTS.iter().zip(&self.disconnects) {
            w.line("clawdbot_disconnects_total", &[("reason", reason)], get(c));
        }
        w.header(
            "clawdbot_http_connections_ended_total",
            "counter",
            "HTTP connections refused at accept or cut by the gateway, by reason.",
        );
        for (reason, c) in HTTP_ENDS.iter().zip(&self.http_ends) {
            w.line(
                "clawdbot_http_connections_ended_total",
                &[("reason", reason)],
                get(c),
            );
        }
        out
    }

    /// Records one provider call; `provider` is `Provider::name()` (unknown names are ignored).
    pub fn provider_call(&self, provider: &str, took: Duration, ok: bool) {
        if let Some(i) = PROVIDERS.iter().position(|p| *p == provider) {
            self.provider_latency[i].observe(took);
            if !ok {
                inc(&self.provider_errors[i]);
            }
        }
    }

    /// The exposition text. `connections_open` and the rest are sampled at scrape time.
    pub fn render(
        &self,
        connections_open: usize,
        max_connections: usize,
        uptime: Duration,
    ) -> String {
        let mut out = String::with_capacity(4096);
        let mut w = Writer(&mut out);
        w.header(
            "clawdbot_build_info",
            "gauge",
            "Build information (always 1).",
        );
        w.line(
            "clawdbot_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))],
            1,
        );
        w.header(
            "clawdbot_uptime_seconds",
            "gauge",
            "Seconds since the gateway started.",
        );
        w.raw(&format!(
            "clawdbot_uptime_seconds {:.3}\n",
            uptime.as_secs_f64()
        ));
        w.header(
            "clawdbot_connections_open",
            "gauge",
            "Open WebSocket connections.",
        );
        w.line("clawdbot_connections_open", &[], connections_open as u64);
        w.header(
            "clawdbot_connections_max",
            "gauge",
            "Configured maximum of concurrent WebSocket connections.",
        );
        w.line("clawdbot_connections_max", &[], max_connections as u64);

        w.header(
            "clawdbot_handshakes_total",
            "counter",
            "WebSocket handshakes by result.",
        );
        for (h, c) in Handshake::ALL.iter().zip(&self.handshakes) {
            w.line(
                "clawdbot_handshakes_total",
                &[("result", h.label())],
                get(c),
            );
        }

        w.header(
            "clawdbot_requests_total",
            "counter",
            "Requests after the handshake by method (unknown names are `unknown`) and result.",
        );
        for (method, row) in method_labels().iter().zip(&self.requests.0) {
            for (result, c) in REQUEST_RESULTS.iter().zip(row) {
                w.line(
                    "clawdbot_requests_total",
                    &[("method", method), ("result", result)],
                    get(c),
                );
            }
        }

        w.header(
            "clawdbot_frames_rejected_total",
            "counter",
            "Inbound frames refused (oversize, binary, invalid); each ends its connection.",
        );
        for (reason, c) in FRAME_REJECTS.iter().zip(&self.frames_rejected) {
            w.line(
                "clawdbot_frames_rejected_total",
                &[("reason", reason)],
                get(c),
            );
        }

        w.header(
            "clawdbot_upgrades_refused_total",
            "counter",
            "WebSocket upgrades refused before the handshake, by reason.",
        );
        for (reason, c) in UPGRADE_REFUSALS.iter().zip(&self.upgrades_refused) {
            w.line(
                "clawdbot_upgrades_refused_total",
                &[("reason", reason)],
                get(c),
            );
        }

        w.header(
            "clawdbot_rate_limited_total",
            "counter",
            "Requests refused by the per-connection rate limit.",
        );
        w.line("clawdbot_rate_limited_total", &[], get(&self.rate_limited));

        w.header(
            "clawdbot_auth_failures_total",
            "counter",
            "Handshakes refused for a missing or wrong gateway token.",
        );
        w.line(
            "clawdbot_auth_failures_total",
            &[],
            get(&self.auth_failures),
        );

        w.header(
            "clawdbot_provider_errors_total",
            "counter",
            "Provider calls that failed, by provider.",
        );
        for (p, c) in PROVIDERS.iter().zip(&self.provider_errors) {
            w.line("clawdbot_provider_errors_total", &[("provider", p)], get(c));
        }

        w.header(
            "clawdbot_provider_latency_seconds",
            "histogram",
            "Duration of provider calls (chat), by provider.",
        );
        for (p, h) in PROVIDERS.iter().zip(&self.provider_latency) {
            let mut cumulative = 0;
            for (i, c) in h.buckets.iter().enumerate() {
                cumulative += get(c);
                let le = match LATENCY_BUCKETS.get(i) {
                    Some(b) => format!("{b}"),
                    None => "+Inf".to_string(),
                };
                w.line(
                    "clawdbot_provider_latency_seconds_bucket",
                    &[("provider", p), ("le", &le)],
                    cumulative,
                );
            }
            let sum = get(&h.sum_micros) as f64 / 1e6;
            w.raw(&format!(
                "clawdbot_provider_latency_seconds_sum{{provider=\"{p}\"}} {sum:.6}\n"
            ));
            w.line(
                "clawdbot_provider_latency_seconds_count",
                &[("provider", p)],
                get(&h.count),
            );
        }
        out
    }
}

/// Why a request to the OpenAI-compatible API failed (the `kind` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiErrorKind {
    /// Missing or wrong gateway token (401).
    Auth,
    /// A browser origin not in `--allow-origin` (403).
    Origin,
    /// Bad JSON, a bound exceeded, an unknown model, an unsupported field (400).
    BadRequest,
    /// A body over `--openai-max-body-bytes` (400).
    TooLarge,
    /// Failed-auth budget used up, or too many requests in progress (429).
    RateLimited,
    /// The body, the run or the upstream took too long (408/504).
    Timeout,
    /// The provider failed or rate-limited us (502/429), or the gateway is stopping.
    Upstream,
    /// A stream's reader left its buffer full for `--send-timeout-ms`: cut off.
    SlowReader,
    /// The client went away before the answer was complete (upstream cancelled).
    Cancelled,
}

const API_ERROR_KINDS: [ApiErrorKind; 9] = [
    ApiErrorKind::Auth,
    ApiErrorKind::Origin,
    ApiErrorKind::BadRequest,
    ApiErrorKind::TooLarge,
    ApiErrorKind::RateLimited,
    ApiErrorKind::Timeout,
    ApiErrorKind::Upstream,
    ApiErrorKind::SlowReader,
    ApiErrorKind::Cancelled,
];

impl ApiErrorKind {
    fn label(self) -> &'static str {
        match self {
            ApiErrorKind::Auth => "auth",
            ApiErrorKind::Origin => "origin",
            ApiErrorKind::BadRequest => "bad_request",
            ApiErrorKind::TooLarge => "too_large",
            ApiErrorKind::RateLimited => "rate_limited",
            ApiErrorKind::Timeout => "timeout",
            ApiErrorKind::Upstream => "upstream",
            ApiErrorKind::SlowReader => "slow_reader",
            ApiErrorKind::Cancelled => "cancelled",
        }
    }
}

/// Routes of the OpenAI-compatible API (the `route` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiRoute {
    Models,
    ChatCompletions,
}

const API_ROUTES: [&str; 2] = ["models", "chat_completions"];

impl ApiRoute {
    fn index(self) -> usize {
        match self {
            ApiRoute::Models => 0,
            ApiRoute::ChatCompletions => 1,
        }
    }
}

/// Counters of the OpenAI-compatible HTTP API (`src/openai/`).
#[derive(Debug, Default)]
pub struct ApiMetrics {
    /// Per route: [ok, error].
    requests: [[AtomicU64; 2]; API_ROUTES.len()],
    streams: AtomicU64,
    streams_open: AtomicU64,
    errors: [AtomicU64; API_ERROR_KINDS.len()],
    /// Per provider: [prompt, completion] (estimated tokens, chat completions).
    tokens: [[AtomicU64; 2]; PROVIDERS.len()],
}

impl ApiMetrics {
    /// Counts one answered request of `route`.
    pub fn request(&self, route: ApiRoute, ok: bool) {
        inc(&self.requests[route.index()][usize::from(!ok)]);
    }

    /// Counts one error (a request may count under [`ApiMetrics::request`] as ok when it
    /// failed mid-stream, after its 200).
    pub fn error(&self, kind: ApiErrorKind) {
        let i = API_ERROR_KINDS.iter().position(|k| *k == kind).unwrap_or(0);
        inc(&self.errors[i]);
    }

    /// A stream opened; [`ApiMetrics::stream_closed`] when it ends.
    pub fn stream_opened(&self) {
        inc(&self.streams);
        inc(&self.streams_open);
    }

    pub fn stream_closed(&self) {
        let _ = self
            .streams_open
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1));
    }

    /// Adds a completion's (estimated) tokens; unknown provider names are ignored.
    pub fn tokens(&self, provider: &str, prompt: u64, completion: u64) {
        if let Some(i) = PROVIDERS.iter().position(|p| *p == provider) {
            self.tokens[i][0].fetch_add(prompt, Ordering::Relaxed);
            self.tokens[i][1].fetch_add(completion, Ordering::Relaxed);
        }
    }

    /// The exposition text of these counters.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        let mut w = Writer(&mut out);
        w.header(
            "clawdbot_openai_requests_total",
            "counter",
            "Requests to the OpenAI-compatible API by route and result.",
        );
        for (route, row) in API_ROUTES.iter().zip(&self.requests) {
            for (result, c) in ["ok", "error"].iter().zip(row) {
                w.line(
                    "clawdbot_openai_requests_total",
                    &[("route", route), ("result", result)],
                    get(c),
                );
            }
        }
        w.header(
            "clawdbot_openai_streams_total",
            "counter",
            "Streamed (SSE) chat completions started.",
        );
        w.line("clawdbot_openai_streams_total", &[], get(&self.streams));
        w.header(
            "clawdbot_openai_streams_open",
            "gauge",
            "Streamed chat completions in progress.",
        );
        w.line("clawdbot_openai_streams_open", &[], get(&self.streams_open));
        w.header(
            "clawdbot_openai_errors_total",
            "counter",
            "Failed OpenAI-compatible API requests by kind.",
        );
        for (k, c) in API_ERROR_KINDS.iter().zip(&self.errors) {
            w.line(
                "clawdbot_openai_errors_total",
                &[("kind", k.label())],
                get(c),
            );
        }
        w.header(
            "clawdbot_openai_tokens_total",
            "counter",
            "Estimated tokens (4 characters each) by route, provider and type.",
        );
        for (provider, row) in PROVIDERS.iter().zip(&self.tokens) {
            for (kind, c) in ["prompt", "completion"].iter().zip(row) {
                w.line(
                    "clawdbot_openai_tokens_total",
                    &[
                        ("route", "chat_completions"),
                        ("provider", provider),
                        ("type", kind),
                    ],
                    get(c),
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(method_label("chat.send"), "chat.send");
        assert_eq!(method_label("config.get"), "config.get");
        assert_eq!(method_label("cron.list"), "unsupported");
        assert_eq!(method_label("unsupported"), "unknown");
        assert_eq!(method_label("evil\"} 1\nx{"), "unknown");
        assert_eq!(method_label("unknown"), "unknown");
        let m = Metrics::default();
        for i in 0..100 {
            m.request(&format!("m{i}"), RequestResult::Error);
        }
        let text = m.render(0, 1, Duration::ZERO);
        assert!(text.contains("clawdbot_requests_total{method=\"unknown\",result=\"error\"} 100"));
        assert!(!text.contains("m42"));
    }

    #[test]
    fn histogram_is_cumulative() {
        let m = Metrics::default();
        m.provider_call("demo", Duration::from_millis(3), true);
        m.provider_call("demo", Duration::from_millis(200), true);
        m.provider_call("demo", Duration::from_secs(100), false);
        m.provider_call("nope", Duration::from_secs(1), true);
        let text = m.render(2, 5, Duration::from_secs(1));
        assert!(text.contains(
            "clawdbot_provider_latency_seconds_bucket{provider=\"demo\",le=\"0.005\"} 1"
        ));
        assert!(text
            .contains("clawdbot_provider_latency_seconds_bucket{provider=\"demo\",le=\"0.25\"} 2"));
        assert!(text
            .contains("clawdbot_provider_latency_seconds_bucket{provider=\"demo\",le=\"30\"} 2"));
        assert!(text
            .contains("clawdbot_provider_latency_seconds_bucket{provider=\"demo\",le=\"+Inf\"} 3"));
        assert!(text.contains("clawdbot_provider_latency_seconds_count{provider=\"demo\"} 3"));
        assert!(text.contains("clawdbot_provider_errors_total{provider=\"demo\"} 1"));
        assert!(text.contains("clawdbot_connections_open 2"));
        assert!(!text.contains("nope"));
    }

    #[test]
    fn every_sample_line_is_well_formed() {
        let m = Metrics::default();
        m.handshake(Handshake::AuthMismatch);
        m.disconnect(Disconnect::SlowConsumer);
        m.http_end(HttpEnd::HeaderTimeout);
        let mut text = m.render(0, 1, Duration::ZERO);
        text.push_str(&m.render_limits(&LimitGauges::default()));
        assert!(text.contains("clawdbot_auth_failures_total 1"));
        assert!(text.contains("clawdbot_disconnects_total{reason=\"slow_consumer\"} 1"));
        assert!(text.contains("clawdbot_http_connections_ended_total{reason=\"header_timeout\"} 1"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (series, value) = line.rsplit_once(' ').expect("name value");
            assert!(value.parse::<f64>().is_ok(), "{line}");
            assert!(series.starts_with("clawdbot_"), "{line}");
        }
    }
}
