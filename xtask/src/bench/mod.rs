//! `cargo xtask bench`: measure sizes and speeds side by side in one run and write
//! `docs/performance.md` (every figure with the command that reproduces it, its ratio and
//! the target it is held to).
//!
//! Timing: whole commands are timed with hyperfine when it is installed (`-N`, no shell),
//! otherwise with an in-process loop that spawns the command repeatedly (see `timing`).
//! The xtask is a binary crate, so criterion is not used; the verify parser and pipeline
//! are timed in-process inside the release binary (`in_process`, a hidden subcommand).

mod build_time;
mod chat;
mod first_token;
mod gateway_load;
mod hostile;
mod hostile_auth;
mod image;
pub mod in_process;
mod lifecycle;
mod machine;
mod openai_api;
mod openclaw;
mod openclaw_latency;
mod report;
mod svg;
mod timing;
mod tools;
mod verify_shapes;
mod verify_speed;
pub mod yaml_parsers;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use crate::settings::Settings;
use crate::tasks::Command;
pub use report::Section;

/// Report sections, in report order.
pub const SECTIONS: &[&str] = &[
    "image",
    "lifecycle",
    "verify",
    "gateway",
    "build",
    "hostile",
    "hostile-authenticated",
    "chat",
    "openai",
    "openclaw",
];

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Fewer repetitions and no release-profile variants (minutes instead of tens of minutes).
    #[arg(long)]
    pub quick: bool,
    /// Also measure cold builds (empty target directories; slow).
    #[arg(long)]
    pub cold: bool,
    /// Install the peer tools (hyperfine, hadolint, dclint, checkov) into ~/.cache/clawdbot-deploy/bench-tools first.
    #[arg(long)]
    pub provision_tools: bool,
    /// Run only these sections (image, lifecycle, verify, gateway, build, hostile, hostile-authenticated, chat, openai, openclaw); the report keeps the
    /// other sections from its previous version, each with its own date.
    #[arg(long, num_args = 1.., value_parser = clap::builder::PossibleValuesParser::new(SECTIONS))]
    pub only: Vec<String>,
    /// Where to write the report.
    #[arg(long, default_value = "docs/performance.md")]
    pub out: PathBuf,
}

/// What every section gets.
pub struct Ctx {
    pub root: PathBuf,
    pub settings: Settings,
    pub quick: bool,
    pub cold: bool,
    pub tools: tools::Tools,
    /// The previous report's text (for figures not measured in this run).
    pub previous: String,
    /// Set once the shipped image and staged binary are built in this run.
    built: bool,
}

impl Ctx {
    /// Repetitions: `full` normally, fewer with --quick.
    pub fn runs(&self, full: u32) -> u32 {
        if self.quick {
            (full / 3).max(3)
        } else {
            full
        }
    }

    /// The static binary the image ships (staged by `cargo xtask build`).
    pub fn staged_binary(&self) -> PathBuf {
        self.root.join(crate::defaults::STAGE_DIR).join("clawdbot")
    }

    /// Runs `cargo xtask build` once per bench run (the image and the staged binary).
    pub fn ensure_built(&mut self) -> Result<()> {
        if self.built {
            return Ok(());
        }
        let build = Command::xtask(&["build"]).current_dir(&self.root);
        eprintln!("bench: {build}");
        let out = build.output()?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            bail!(
                "cargo xtask build failed: {} (run it alone to see why)",
                err.lines().last().unwrap_or("")
            );
        }
        self.built = true;
        Ok(())
    }

    /// The static release binary users get, built as `cargo xtask build` and `dist`
    /// build it ([`crate::build::compile_static`]: musl when the toolchain is there).
    pub fn shipped_bin(&self, package: &str, bin: &str) -> Result<crate::build::StaticBinary> {
        eprintln!("bench: static release build of {package} (as `cargo xtask build`/`dist`)");
        crate::build::compile_static(&self.root, package, bin)
    }

    /// `cargo build --release -p <package>`; returns `target/release/<bin>`.
    pub fn release_bin(&self, package: &str, bin: &str) -> Result<PathBuf> {
        eprintln!("bench: cargo build --release -p {package}");
        let out = Command::cargo(&["build", "--release", "-p", package, "--bin", bin])
            .current_dir(&self.root)
            .output()?;
        if !out.status.success() {
            bail!(
                "cargo build --release -p {package} failed: {}",
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .rev()
                    .take(3)
                    .collect::<Vec<_>>()
                    .join(" / ")
            );
        }
        Ok(crate::workspace::target_dir(&self.root)
            .join("release")
            .join(bin))
    }
}

pub fn run(args: Args) -> Result<ExitCode> {
    let root = crate::workspace::root();
    let settings = Settings::load(&root)?;
    let out = if args.out.is_absolute() {
        args.out.clone()
    } else {
        root.join(&args.out)
    };
    if args.provision_tools {
        tools::provision()?;
    }
    let previous = std::fs::read_to_string(&out).unwrap_or_default();
    let mut ctx = Ctx {
        root,
        settings,
        quick: args.quick,
        cold: args.cold,
        tools: tools::Tools::find(),
        previous,
        built: false,
    };
    let wanted = |s: &str| args.only.is_empty() || args.only.iter().any(|o| o == s);
    let machine = machine::Machine::detect();
    let started = std::time::Instant::now();
    let mut sections = Vec::new();
    for &name in SECTIONS {
        if !wanted(name) {
            continue;
        }
        eprintln!("bench: section {name}");
        let result = match name {
            "image" => image::run(&mut ctx),
            "lifecycle" => lifecycle::run(&mut ctx),
            "verify" => verify_speed::run(&mut ctx),
            "gateway" => gateway_load::run(&mut ctx),
            "chat" => chat::run(&mut ctx),
            "hostile" => hostile::run(&mut ctx),
            "hostile-authenticated" => hostile_auth::run(&mut ctx),
            "openai" => openai_api::run(&mut ctx),
            "openclaw" => openclaw::run(&mut ctx),
            _ => build_time::run(&mut ctx),
        };
        sections.push(result.unwrap_or_else(|e| Section::failed(name, &e)));
    }
    let text = report::render(&machine, &ctx, &sections, started.elapsed(), &args);
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&out, &text).with_context(|| format!("writing {}", out.display()))?;
    println!("{}", report::summary_lines(&sections));
    println!("wrote {}", display_rel(&ctx.root, &out));
    Ok(ExitCode::SUCCESS)
}

pub fn display_rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

/// Bytes as MiB with two decimals.
pub fn mib(bytes: f64) -> String {
    format!("{:.2} MiB", bytes / (1024.0 * 1024.0))
}

/// Seconds in a readable unit.
pub fn secs(s: f64) -> String {
    if s < 0.001 {
        format!("{:.1} µs", s * 1e6)
    } else if s < 1.0 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_read_well() {
        assert_eq!(mib(1024.0 * 1024.0 * 3.5), "3.50 MiB");
        assert_eq!(secs(0.0042), "4.20 ms");
        assert_eq!(secs(2.5), "2.50 s");
        assert_eq!(secs(0.0000125), "12.5 µs");
    }
}
