//! tracing setup: human-readable logs (default) or one JSON object per line, on stderr.
//!
//! The filter comes from `RUST_LOG` (default `info`). Colour only on a terminal and
//! never when `NO_COLOR` is set. Secrets never reach a log call: tokens and keys are
//! `config::Secret`s whose `Debug`/`Display` print the masked form only. The same lines
//! also go to the bounded ring `logs.tail` serves (`crate::logring`), which masks every
//! registered secret once more.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

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
    "tokio_tungstenite",
    "hyper",
    "hyper_util",
    "h2",
    "reqwest",
    "rustls",
    "tower",
    "tower_http",
];

/// The log filter: `RUST_LOG` (default `info`), with [`CAPPED_TARGETS`] capped at `info`.
pub fn filter() -> EnvFilter {
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    for target in CAPPED_TARGETS {
        if let Ok(directive) = format!("{target}=info").parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

/// Installs the global subscriber: stderr in the chosen format, plus the in-memory
/// ring served by `logs.tail` (`crate::logring`, secrets masked), both behind the same
/// filter. Calling it twice is harmless (the second call is ignored).
pub fn init(format: LogFormat) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false);
    let registry = tracing_subscriber::registry()
        .with(filter())
        .with(crate::logring::RingLayer);
    let _ = match format {
        LogFormat::Human => {
            let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            registry.with(stderr.with_ansi(ansi)).try_init()
        }
        LogFormat::Json => registry
            .with(stderr.json().with_current_span(true).with_span_list(false))
            .try_init(),
    };
}
