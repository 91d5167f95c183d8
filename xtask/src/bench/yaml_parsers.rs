//! The YAML parsers verify could use, side by side on one file (`xtask bench-yaml
//! PARSER FILE`, hidden from help, run once per parser so each has its own peak memory):
//! time to read the file into what verify needs, and whether each keeps line numbers and
//! resolves `<<` merge keys. Event parsers are timed reading their events only: a lower
//! bound for a tree built on them, which would still have to resolve aliases and merges.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, Context, Result};
use serde::{Deserialize, Serialize};

use super::timing;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Parser {
    /// Verify's parser: the fast path, serde-saphyr outside its subset.
    Verify,
    /// serde-saphyr into verify's span tree (every document before this change).
    SerdeSaphyr,
    /// granit-parser events with spans (serde-saphyr's own event parser).
    Granit,
    /// saphyr-parser events with spans.
    #[value(name = "saphyr-parser")]
    Saphyr,
    /// yaml-rust2 events with markers (its loader drops them).
    YamlRust2,
}

pub const ALL: &[Parser] = &[
    Parser::Verify,
    Parser::SerdeSaphyr,
    Parser::Granit,
    Parser::Saphyr,
    Parser::YamlRust2,
];

impl Parser {
    pub fn arg(self) -> &'static str {
        match self {
            Parser::Verify => "verify",
            Parser::SerdeSaphyr => "serde-saphyr",
            Parser::Granit => "granit",
            Parser::Saphyr => "saphyr-parser",
            Parser::YamlRust2 => "yaml-rust2",
        }
    }

    /// What it is, and what it gives verify: (name, output, positions, merge keys).
    pub fn facts(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            Parser::Verify => (
                "verify's YAML reader (yaml_fast, serde-saphyr outside its subset)",
                "span tree",
                "yes",
                "yes (resolved)",
            ),
            Parser::SerdeSaphyr => (
                "serde-saphyr 2 (the parser before this change)",
                "span tree",
                "yes",
                "yes (resolved)",
            ),
            Parser::Granit => (
                "granit-parser 2 (serde-saphyr's event parser)",
                "events only",
                "yes (spans)",
                "no: left to the caller",
            ),
            Parser::Saphyr => (
                "saphyr-parser 0.3",
                "events only",
                "yes (spans)",
                "no: left to the caller",
            ),
            Parser::YamlRust2 => (
                "yaml-rust2 0.13",
                "events only",
                "yes (markers; its loader drops them)",
                "no: left to the caller",
            ),
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(value_enum)]
    pub parser: Parser,
    /// The YAML file.
    pub file: PathBuf,
    /// Timed repetitions (after one warm-up).
    #[arg(long, default_value_t = 10)]
    pub runs: u32,
}

/// What `xtask bench-yaml` prints.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Measured {
    pub runs: u32,
    /// Median seconds per parse.
    pub median: f64,
    /// Growth of the process's peak resident memory over the parses, in bytes.
    pub peak_growth: u64,
    /// Nodes (tree) or events (event parsers) read, to show they all read the file.
    pub items: usize,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let before = peak_rss().unwrap_or(0);
    let mut items = 0;
    let t = timing::time_fn(args.runs, || {
        items = parse(args.parser, &text)?;
        Ok(())
    })?;
    let after = peak_rss().unwrap_or(0);
    let m = Measured {
        runs: t.runs,
        median: t.median,
        peak_growth: after.saturating_sub(before),
        items,
    };
    println!("{}", serde_json::to_string(&m)?);
    Ok(ExitCode::SUCCESS)
}

fn parse(p: Parser, text: &str) -> Result<usize> {
    use clawdbot_verify::input::yaml;
    Ok(match p {
        Parser::Verify => count(&yaml::parse(text).map_err(|e| anyhow!("{e:?}"))?),
        Parser::SerdeSaphyr => count(&yaml::parse_full(text).map_err(|e| anyhow!("{e:?}"))?),
        Parser::Granit => {
            let mut parser = granit_parser::Parser::new_from_str(text);
            let mut n = 0;
            while let Some(ev) = parser.next_event() {
                std::hint::black_box(ev.map_err(|e| anyhow!("{e}"))?);
                n += 1;
            }
            n
        }
        Parser::Saphyr => {
            let mut parser = saphyr_parser::Parser::new_from_str(text);
            let mut n = 0;
            while let Some(ev) = parser.next_event() {
                std::hint::black_box(ev.map_err(|e| anyhow!("{e}"))?);
                n += 1;
            }
            n
        }
        Parser::YamlRust2 => {
            let mut parser = yaml_rust2::parser::Parser::new_from_str(text);
            let mut n = 0;
            loop {
                let (ev, mark) = parser.next_token().map_err(|e| anyhow!("{e}"))?;
                std::hint::black_box(mark);
                n += 1;
                if ev == yaml_rust2::Event::StreamEnd {
                    break;
                }
            }
            n
        }
    })
}

fn count(n: &clawdbot_verify::input::yaml::Node) -> usize {
    use clawdbot_verify::input::yaml::Value;
    1 + match &n.value {
        Value::Seq(s) => s.iter().map(count).sum(),
        Value::Map(m) => m.iter().map(|(k, v)| count(k) + count(v)).sum(),
        _ => 0,
    }
}

/// The process's peak resident set (`VmHWM`), in bytes.
fn peak_rss() -> Option<u64> {
    super::gateway_load::status_bytes("self", "VmHWM:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parser_reads_a_compose_file() {
        let text = "x: &h {read_only: true}\nservices:\n  a:\n    <<: *h\n    image: x:1\n    ports: [\"127.0.0.1:80:80\"]\n";
        let counts: Vec<usize> = ALL.iter().map(|p| parse(*p, text).unwrap()).collect();
        // The two tree builders agree; the event parsers see every event.
        assert_eq!(counts[0], counts[1]);
        assert!(counts[2..].iter().all(|n| *n > 10), "{counts:?}");
        assert!(peak_rss().is_some_and(|b| b > 0));
    }
}
