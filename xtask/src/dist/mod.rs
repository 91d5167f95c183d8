//! `cargo xtask dist`: the release artifacts, built and then checked.
//!
//! Builds static musl binaries of `clawdbot` and `clawdbot-verify` with `cargo auditable`
//! (the dependency list embedded in a `.dep-v0` section), stripped, reproducibly (the
//! recipe of [`crate::build::Reproducible`], the same one `cargo xtask build` uses for the
//! image, so a prior `build` makes the first compile a no-op), packages one tarball per
//! binary with its SBOM, the licences and the docs ([`package`]), writes `SHA256SUMS`, and
//! checks its own output ([`checks`]): `cargo audit bin` against the advisory database of
//! `cargo xtask audit` (offline with a local copy), a second build from scratch in
//! `target/dist-repro` compared byte for byte (`--no-rebuild` skips it), and each binary's
//! `--version` run from its unpacked tarball.

pub mod checks;
pub mod package;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use crate::build::{Reproducible, Toolchain, REPRO_TARGET_SUBDIR};
use crate::provision::AUDITABLE_INSTALL;
use crate::tasks::{self, Command, Plan};
use crate::workspace::{self, target_dir};

/// The shipped binaries: (package, binary).
pub const BINARIES: &[(&str, &str)] = &[
    ("clawdbot", "clawdbot"),
    ("clawdbot-verify", "clawdbot-verify"),
];
/// Default output directory, relative to the workspace root.
pub const DEFAULT_OUT: &str = "target/dist";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write the tarballs, SBOMs and SHA256SUMS (default: target/dist).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Skip the second build from scratch (the reproducibility check: a few minutes).
    #[arg(long)]
    pub no_rebuild: bool,
    /// Print the plan and run nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// What the steps share.
pub struct Ctx {
    pub root: PathBuf,
    pub version: String,
    pub toolchain: Toolchain,
    pub repro: Reproducible,
    pub out: PathBuf,
    /// (binary name, path) once compiled.
    pub built: Vec<(String, PathBuf)>,
    /// Tarball paths once packaged.
    pub tarballs: Vec<PathBuf>,
}

/// The build commands of every binary into `target_dir` (`None`: the usual one).
pub fn build_commands(
    ctx_tc: &Toolchain,
    repro: &Reproducible,
    target_dir: Option<&Path>,
) -> Vec<Command> {
    BINARIES
        .iter()
        .map(|(package, _)| {
            let c = ctx_tc.command(package, repro, true);
            match target_dir {
                Some(dir) => c.env("CARGO_TARGET_DIR", &dir.display().to_string()),
                None => c,
            }
        })
        .collect()
}

/// The plan: compile, check, package, audit, rebuild and compare, run from the tarballs.
pub fn plan(
    root: &Path,
    tc: &Toolchain,
    repro: &Reproducible,
    no_rebuild: bool,
) -> Result<Plan<Ctx>> {
    let mut plan: Plan<Ctx> = Plan::new("cargo xtask dist");
    plan.commands(
        "compile (cargo auditable, static, reproducible)",
        build_commands(tc, repro, None),
        |ctx, step, commands| {
            if !crate::provision::has_cargo_auditable() {
                bail!("cargo-auditable is not installed (run `{AUDITABLE_INSTALL}`, or `cargo xtask test --provision`)");
            }
            let dir = target_dir(&ctx.root);
            for (command, (_, bin)) in commands.iter().zip(BINARIES) {
                command.clone().current_dir(&ctx.root).stream()?;
                let path = ctx.toolchain.binary(&dir, bin);
                step.note(checks::describe_binary(&path)?);
                ctx.built.push((bin.to_string(), path));
            }
            Ok(())
        },
    );
    plan.probes([crate::provision::auditable_version_command()]);
    plan.task(
        "package",
        format!(
            "tarballs <bin>-<version>-{}.tar.gz (binary, SBOM, licences, docs), SBOMs, {} in {DEFAULT_OUT}",
            tc.target,
            package::SUMS_FILE
        ),
        |ctx, step| {
            for line in checks::package_all(ctx)? {
                step.note(line);
            }
            Ok(())
        },
    );
    plan.probes([crate::sbom::metadata_command(root)]);
    let db = crate::audit::Database::choose(None, std::env::var_os(crate::audit::DB_ENV), root);
    let dir = target_dir(root);
    let bins: Vec<PathBuf> = BINARIES.iter().map(|(_, b)| tc.binary(&dir, b)).collect();
    plan.commands(
        "cargo audit bin (the embedded dependency lists)",
        vec![checks::audit_bin_command(&db, &bins)],
        |_, step, commands| {
            for line in checks::audit_bin(&commands[0])? {
                step.note(line);
            }
            Ok(())
        },
    );
    plan.probes([crate::tasks::Command::cargo(&["audit", "--version"])]);
    if !no_rebuild {
        let repro_dir = dir.join(REPRO_TARGET_SUBDIR);
        plan.commands(
            "second build from scratch, compared byte for byte",
            build_commands(tc, repro, Some(&repro_dir)),
            move |ctx, step, commands| {
                std::fs::remove_dir_all(&repro_dir)
                    .or_else(|e| {
                        if e.kind() == std::io::ErrorKind::NotFound {
                            Ok(())
                        } else {
                            Err(e)
                        }
                    })
                    .with_context(|| format!("{}: cannot empty", repro_dir.display()))?;
                for command in commands {
                    command.clone().current_dir(&ctx.root).stream()?;
                }
                for (bin, first) in &ctx.built {
                    let second = ctx.toolchain.binary(&repro_dir, bin);
                    step.note(checks::compare(first, &second)?);
                }
                Ok(())
            },
        );
    }
    plan.task(
        "--version from each tarball",
        "tar -xzf <tarball> -C <tmp>; <tmp>/<bin>-<version>-<target>/<bin> --version",
        |ctx, step| {
            for line in checks::versions_from_tarballs(ctx)? {
                step.note(line);
            }
            Ok(())
        },
    );
    plan.probes([crate::tasks::Command::program(
        "<tmp>/<bin>-<version>-<target>/<bin>",
        &["--version"],
    )]);
    Ok(plan)
}

pub fn run(args: Args) -> Result<ExitCode> {
    tasks::install_interrupt_handler();
    let root = workspace::root();
    let toolchain = Toolchain::choose();
    if let Some(note) = &toolchain.note {
        if !args.dry_run {
            bail!("{note}: dist ships musl binaries only");
        }
    }
    let repro = Reproducible::for_workspace(&root)?;
    let plan = plan(&root, &toolchain, &repro, args.no_rebuild)?;
    if args.dry_run {
        print!("{}", plan.render());
        return Ok(ExitCode::SUCCESS);
    }
    let out = args.out.unwrap_or_else(|| root.join(DEFAULT_OUT));
    let mut ctx = Ctx {
        version: crate::settings::package_version(&root)?,
        root,
        toolchain,
        repro,
        out,
        built: Vec::new(),
        tarballs: Vec::new(),
    };
    let outcome = plan.run(&mut ctx);
    if outcome.ok() {
        println!("dist: {}", ctx.out.display());
        for t in &ctx.tarballs {
            println!("  {}", t.display());
        }
    }
    Ok(outcome.exit_code())
}
