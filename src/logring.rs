//! The bounded in-memory ring of the gateway's own log lines, served by `logs.tail`.
//!
//! A tracing layer ([`RingLayer`], installed by `logging::init`) turns every event that
//! passes the log filter into one JSON line (`time`, `level`, `subsystem`, `message`),
//! masks every registered secret in it, and appends it to the ring. The ring keeps at
//! most [`MAX_LINES`] lines and [`MAX_BYTES`] bytes, dropping the oldest.
//!
//! Cursors are byte offsets into the virtual log (every line ever written, each
//! followed by a newline), as the protocol's file cursors are: `size` is the offset
//! after the newest line; a cursor before the oldest kept line reports the gap as
//! `skippedBytes`; a cursor beyond `size` (another gateway process) means `reset`.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};

use serde_json::{json, Value};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

use crate::lock::lock;

pub const MAX_LINES: usize = 5000;
pub const MAX_BYTES: usize = 1024 * 1024;
/// Longest line kept (longer ones are cut).
pub const MAX_LINE: usize = 8 * 1024;

#[derive(Debug, Default)]
struct Ring {
    lines: VecDeque<(u64, String)>,
    /// Offset after the newest line (bytes ever written, newlines included).
    end: u64,
    bytes: usize,
}

fn ring() -> &'static Mutex<Ring> {
    static RING: OnceLock<Mutex<Ring>> = OnceLock::new();
    RING.get_or_init(|| Mutex::new(Ring::default()))
}

fn secrets() -> &'static Mutex<Vec<String>> {
    static SECRETS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    SECRETS.get_or_init(|| Mutex::new(Vec::new()))
}

/// Registers a secret value: from now on it is replaced by its masked form
/// (`config::mask`) in every line the ring keeps.
pub fn register_secret(value: &str) {
    if value.len() < 8 {
        return;
    }
    let mut s = lock(secrets());
    if !s.iter().any(|v| v == value) {
        s.push(value.to_string());
    }
}

/// `line` with every registered secret replaced by its masked form (the ring and
/// stderr both pass their lines through it).
pub fn mask_secrets(mut line: String) -> String {
    let s = lock(secrets());
    for secret in s.iter() {
        if line.contains(secret.as_str()) {
            line = line.replace(secret.as_str(), &crate::config::mask(secret));
        }
    }
    line
}

/// `text` with every registered secret replaced by its masked form.
pub fn mask(text: &str) -> String {
    mask_secrets(text.to_string())
}

/// Appends one line (masked, cut to [`MAX_LINE`]) to the ring.
pub fn push(line: String) {
    let mut line = mask_secrets(line);
    if line.len() > MAX_LINE {
        let mut cut = MAX_LINE;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
    }
    let mut r = lock(ring());
    let offset = r.end;
    r.end += line.len() as u64 + 1;
    r.bytes += line.len();
    r.lines.push_back((offset, line));
    while r.lines.len() > MAX_LINES || r.bytes > MAX_BYTES {
        match r.lines.pop_front() {
            Some((_, old)) => r.bytes -= old.len(),
            None => break,
        }
    }
}

/// A `logs.tail` answer (`LogsTailResult`).
pub fn tail(cursor: Option<u64>, limit: usize, max_bytes: usize) -> Value {
    let r = lock(ring());
    let oldest = r.lines.front().map_or(r.end, |(o, _)| *o);
    let mut reset = false;
    let mut skipped = 0;
    let start = match cursor {
        Some(c) if c > r.end => {
            reset = true;
            None
        }
        Some(c) if c < oldest => {
            skipped = oldest - c;
            Some(oldest)
        }
        Some(c) => Some(c),
        None => None,
    };
    let (lines, next, truncated) = match start {
        // Forward from a cursor: the first `limit` lines within `max_bytes`.
        Some(from) => {
            let mut out = Vec::new();
            let mut used = 0;
            let mut next = from;
            for (off, line) in r.lines.iter().filter(|(o, _)| *o >= from) {
                if out.len() >= limit || (used + line.len() > max_bytes && !out.is_empty()) {
                    break;
                }
                used += line.len();
                next = off + line.len() as u64 + 1;
                out.push(line.clone());
            }
            let truncated = next < r.end;
            (out, next.max(from), truncated)
        }
        // No cursor: the newest `limit` lines within `max_bytes`.
        None => {
            let mut out = Vec::new();
            let mut used = 0;
            for (_, line) in r.lines.iter().rev() {
                if out.len() >= limit || (used + line.len() > max_bytes && !out.is_empty()) {
                    break;
                }
                used += line.len();
                out.push(line.clone());
            }
            let truncated = out.len() < r.lines.len();
            out.reverse();
            (out, r.end, truncated)
        }
    };
    let mut v = json!({
        "file": "memory:clawdbot-gateway.log",
        "cursor": next,
        "size": r.end,
        "lines": lines,
    });
    if truncated {
        v["truncated"] = json!(true);
    }
    if reset {
        v["reset"] = json!(true);
    }
    if skipped > 0 {
        v["skippedBytes"] = json!(skipped);
    }
    v
}

/// The tracing layer feeding the ring.
pub struct RingLayer;

#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.rest, " {}={value:?}", field.name());
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.rest, " {}={value:?}", field.name());
        }
    }
}

impl<S> Layer<S> for RingLayer
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut spans = String::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                let _ = write!(spans, "{}:", span.name());
            }
        }
        let meta = event.metadata();
        let line = json!({
            "time": rfc3339_now(),
            "level": meta.level().as_str().to_ascii_lowercase(),
            "subsystem": if spans.is_empty() { "gateway".to_string() } else { format!("gateway:{}", spans.trim_end_matches(':')) },
            "message": format!("{}{}", fields.message, fields.rest),
        });
        push(line.to_string());
    }
}

/// Now as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC).
fn rfc3339_now() -> String {
    let ms = crate::protocol::now_ms();
    let secs = ms / 1000;
    let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{:03}Z",
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // The ring is process-wide; this one test exercises it in sequence.
    #[test]
    fn ring_cursors_bounds_and_masking() {
        register_secret("super-secret-token-value-0123456789");
        let before = tail(None, 1, 1000)["size"].as_u64().unwrap();
        push("line with super-secret-token-value-0123456789 inside".into());
        push("second".into());
        let t = tail(Some(before), 10, 100_000);
        let lines = t["lines"].as_array().unwrap();
        assert_eq!(lines.len(), 2, "{t}");
        assert!(!lines[0].as_str().unwrap().contains("super-secret-token"));
        assert!(lines[0].as_str().unwrap().contains("…6789"));
        let end = t["cursor"].as_u64().unwrap();
        assert_eq!(end, t["size"].as_u64().unwrap());
        // Nothing new after the cursor.
        let t = tail(Some(end), 10, 100_000);
        assert!(t["lines"].as_array().unwrap().is_empty());
        // limit 1 from `before`: one line, truncated, cursor in between.
        let t = tail(Some(before), 1, 100_000);
        assert_eq!(t["lines"].as_array().unwrap().len(), 1);
        assert_eq!(t["truncated"], true);
        assert!(t["cursor"].as_u64().unwrap() < end);
        // A cursor beyond the end is a reset.
        assert_eq!(tail(Some(end + 100), 10, 1000)["reset"], true);
        // The ring stays bounded.
        for i in 0..(MAX_LINES + 10) {
            push(format!("filler {i}"));
        }
        let t = tail(Some(0), MAX_LINES * 2, usize::MAX);
        assert!(t["lines"].as_array().unwrap().len() <= MAX_LINES);
        assert!(t["skippedBytes"].as_u64().unwrap() > 0);
        // Long lines are cut.
        push("x".repeat(MAX_LINE * 2));
        let t = tail(None, 1, usize::MAX);
        assert_eq!(t["lines"][0].as_str().unwrap().len(), MAX_LINE);
    }

    #[test]
    fn timestamps_are_rfc3339() {
        let t = rfc3339_now();
        assert_eq!(t.len(), 24, "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T', "{t}");
    }
}
