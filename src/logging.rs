//! tracing setup: human-readable logs (default) or one JSON object per line, on stderr.
//!
//! The filter comes from `RUST_LOG` (default `info`), and a second filter that no
//! `RUST_LOG` directive can override caps the libraries that log raw frames, headers or
//! TLS records at `info`. Colour only on a terminal and never when `NO_COLOR` is set.
//! Secrets never reach a log call: tokens and keys are `config::Secret`s whose
//! `Debug`/`Display` print the masked form only; strings from clients pass through
//! [`clip`] first.
//! The same lines also go to the bounded ring `logs.tail` serves (`crate::logring`),
//! behind the same filters, which masks every registered secret once more.

use std::io::IsTerminal;

use tracing::{Level, Metadata};
use tracing_subscriber::filter::{filter_fn, FilterExt};
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry};

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
/// (An `EnvFilter` directive for a more specific target, e.g.
/// `tungstenite::protocol=trace`, or a span directive would win over a plain
/// `tungstenite=info` directive; this second filter is applied after it.)
pub fn allowed(meta: &Metadata<'_>) -> bool {
    *meta.level() <= Level::INFO || !is_capped(meta.target())
}

/// The `RUST_LOG` filter (default `info`), with [`CAPPED_TARGETS`] at `info`.
pub fn filter() -> EnvFilter {
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    for target in CAPPED_TARGETS {
        if let Ok(directive) = format!("{target}=info").parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

/// Longest client-supplied string written to a log field, in bytes.
pub const MAX_FIELD_BYTES: usize = 64;

/// A client-supplied string cut to [`MAX_FIELD_BYTES`] (on a character boundary), so a
/// client cannot make log lines large.
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

/// Installs the global subscriber: stderr in the chosen format, plus the in-memory
/// ring served by `logs.tail` (`crate::logring`, secrets masked), both behind the same
/// filters. Calling it twice is harmless (the second call is ignored).
pub fn init(format: LogFormat) {
    let filter = filter().and(filter_fn(allowed));
    let layer: Box<dyn Layer<Registry> + Send + Sync> = match format {
        LogFormat::Human => {
            let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_target(false)
                .with_ansi(ansi)
                .boxed()
        }
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
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
    fn clip_cuts_on_a_char_boundary() {
        assert_eq!(clip("health"), "health");
        let long = "é".repeat(100);
        let c = clip(&long);
        assert!(c.len() <= MAX_FIELD_BYTES && c.chars().all(|ch| ch == 'é'));
    }
}
