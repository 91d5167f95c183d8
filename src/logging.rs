//! tracing setup: human-readable logs (default) or one JSON object per line, on stderr.
//!
//! The filter comes from `RUST_LOG` (default `info`; `target=level` and bare `level`
//! directives, comma-separated, read by `tracing_subscriber`'s `Targets` filter: no
//! regex engine in the image), and a second filter that no
//! `RUST_LOG` directive can override caps the libraries that log raw frames, headers or
//! TLS records at `info`. Colour only on a terminal and never when `NO_COLOR` is set.
//! Secrets never reach a log call: tokens and keys are `config::Secret`s whose
//! `Debug`/`Display` print the masked form only; strings from clients pass through
//! [`clip`] first.
//! Every registered secret (`crate::logring::register_secret`) is masked once more in
//! each line written to stderr ([`MaskedStderr`]), as in the bounded ring `logs.tail`
//! serves (`crate::logring`), which gets the same lines behind the same filters.

use std::borrow::Cow;
use std::io::IsTerminal;

use tracing::{Level, Metadata};
use tracing_subscriber::filter::{filter_fn, FilterExt, LevelFilter, Targets};
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Registry;

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

/// Libraries whose debug/trace output includes raw frames or headers (a `connect`
/// frame carries the gateway token; provider requests carry API keys). They are capped
/// at `info` whatever `RUST_LOG` says.
const CAPPED_TARGETS: &[&str] = &[
    "tungstenite",
    "axum",
    "http",
    "httparse",
    "tokio_rustls",
    "hyper_rustls",
    "rustls_pki_types",
    "webpki",
    "mio",
    "want",
    "tokio_tungstenite",
    "hyper",
    "hyper_util",
    "h2",
    "reqwest",
    "rustls",
    "tower",
    "tower_http",
];

/// True for a target of [`CAPPED_TARGETS`] or one of its modules.
fn is_capped(target: &str) -> bool {
    CAPPED_TARGETS.iter().any(|t| {
        target
            .strip_prefix(t)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
    })
}

/// The cap no directive overrides: capped targets pass at `info` and above only.
/// (A directive for a more specific target, e.g. `tungstenite::protocol=trace`, would
/// win over a plain `tungstenite=info` directive; this second filter is applied after it.)
pub fn allowed(meta: &Metadata<'_>) -> bool {
    *meta.level() <= Level::INFO || !is_capped(meta.target())
}

/// The `RUST_LOG` filter (default `info`), with [`CAPPED_TARGETS`] at `info`.
pub fn filter() -> Targets {
    targets(std::env::var("RUST_LOG").ok().as_deref())
}

/// `spec`'s directives (`target=level` or a bare default `level`), with
/// [`CAPPED_TARGETS`] at `info`. A directive `Targets` cannot read (a span directive
/// such as `[conn]=trace`, a field filter, a typo) is skipped; none left means `info`.
fn targets(spec: Option<&str>) -> Targets {
    let valid: Vec<&str> = spec
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty() && !d.contains(['[', '{']) && d.parse::<Targets>().is_ok())
        .collect();
    let filter = match valid.join(",").parse::<Targets>() {
        Ok(filter) if !valid.is_empty() => filter,
        _ => Targets::new().with_default(LevelFilter::INFO),
    };
    filter.with_targets(CAPPED_TARGETS.iter().map(|t| (*t, LevelFilter::INFO)))
}

/// Longest client-supplied string written to a log field, in bytes.
pub const MAX_FIELD_BYTES: usize = 64;

/// `value` with every control character (newline, carriage return, ESC, …) escaped
/// (`\n`, `\u{1b}`), so a string from a client or an upstream cannot forge a log line
/// or drive a terminal. Borrowed when there is nothing to escape.
pub fn escape(value: &str) -> Cow<'_, str> {
    if !value.chars().any(char::is_control) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A client-supplied string cut to [`MAX_FIELD_BYTES`] (on a character boundary), so a
/// client cannot make log lines large. Recorded as a plain field value (`field =
/// clip(x)`), tracing writes it Debug-escaped; where it is displayed (`%`, or inside a
/// message) use [`escape_clip`].
pub fn clip(value: &str) -> &str {
    if value.len() <= MAX_FIELD_BYTES {
        return value;
    }
    let mut end = MAX_FIELD_BYTES;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

/// A client-supplied string for a displayed log field: escaped ([`escape`]) and cut to
/// [`MAX_FIELD_BYTES`], so a client can neither forge log lines nor make them large.
pub fn escape_clip(value: &str) -> Cow<'_, str> {
    match escape(value) {
        Cow::Borrowed(v) => Cow::Borrowed(clip(v)),
        Cow::Owned(v) => Cow::Owned(clip(&v).to_string()),
    }
}

/// stderr, with every registered secret masked in each write (the fmt layer writes one
/// whole line per call, so a secret is never split between two writes).
#[derive(Debug, Clone, Copy, Default)]
pub struct MaskedStderr;

impl std::io::Write for MaskedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let line = crate::logring::mask_secrets(String::from_utf8_lossy(buf).into_owned());
        std::io::stderr().lock().write_all(line.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for MaskedStderr {
    type Writer = MaskedStderr;
    fn make_writer(&'a self) -> MaskedStderr {
        MaskedStderr
    }
}

/// Installs the global subscriber: stderr in the chosen format, plus the in-memory
/// ring served by `logs.tail` (`crate::logring`, secrets masked), both behind the same
/// filters. Calling it twice is harmless (the second call is ignored).
pub fn init(format: LogFormat) {
    let filter = filter().and(filter_fn(allowed));
    let layer: Box<dyn Layer<Registry> + Send + Sync> = match format {
        LogFormat::Human => {
            let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            tracing_subscriber::fmt::layer()
                .with_writer(MaskedStderr)
                .with_target(false)
                .with_ansi(ansi)
                .boxed()
        }
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(MaskedStderr)
            .with_target(false)
            .boxed(),
    };
    let _ = tracing_subscriber::registry()
        .with(
            layer
                .and_then(crate::logring::RingLayer)
                .with_filter(filter),
        )
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_targets_include_their_modules_only() {
        assert!(is_capped("tungstenite"));
        assert!(is_capped("tungstenite::protocol"));
        assert!(is_capped("hyper_util::client"));
        assert!(!is_capped("tungstenite_other"));
        assert!(!is_capped("clawdbot::gateway::ws"));
    }

    #[test]
    fn rust_log_directives_are_read_and_unreadable_ones_skipped() {
        use tracing::level_filters::LevelFilter as L;
        let f = targets(None);
        assert_eq!(f.default_level(), Some(L::INFO));
        let f = targets(Some("warn,clawdbot::gateway=debug,[conn]=trace,bogus=loud"));
        assert_eq!(f.default_level(), Some(L::WARN));
        assert!(f.would_enable("clawdbot::gateway::ws", &Level::DEBUG));
        assert!(!f.would_enable("clawdbot::providers", &Level::INFO));
        assert!(
            !f.would_enable("bogus", &Level::INFO),
            "bogus=loud is skipped"
        );
        let f = targets(Some("[conn]=trace"));
        assert_eq!(f.default_level(), Some(L::INFO));
        let f = targets(Some("trace"));
        assert!(f.would_enable("clawdbot", &Level::TRACE));
        assert!(!f.would_enable("tungstenite::protocol", &Level::DEBUG));
    }

    #[test]
    fn clip_cuts_on_a_char_boundary() {
        assert_eq!(clip("health"), "health");
        let long = "é".repeat(100);
        let c = clip(&long);
        assert!(c.len() <= MAX_FIELD_BYTES && c.chars().all(|ch| ch == 'é'));
    }

    #[test]
    fn control_characters_are_escaped_before_the_cut() {
        assert_eq!(
            escape_clip("a\nWARN forged\u{1b}[2J"),
            "a\\nWARN forged\\u{1b}[2J"
        );
        let long = "\n".repeat(100);
        let c = escape_clip(&long);
        assert!(c.len() <= MAX_FIELD_BYTES && !c.contains('\n'), "{c}");
        assert!(matches!(escape("plain"), Cow::Borrowed("plain")));
    }
}
