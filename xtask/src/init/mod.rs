//! `cargo xtask init`: render the hardened deployment files from `templates/`, show the
//! diff against what is on disk, and write only what the user agreed to.
//!
//! Flow: settings → render every file → plan (absent / same / differs; nothing written
//! yet, so any error leaves every file as it was) → apply file by file (create, or diff
//! then prompt / `--yes` / leave) → summary line. Exit 0 when everything matches, 1 when
//! something was left different (or drifted under `--check`), 2 on errors.

mod context;
pub(crate) mod diff;
mod files;
mod merge;
mod openclaw;
mod plan;
mod prompt;
mod record;
mod render;
mod secrets;
mod status;
pub(crate) mod target;
mod write;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};

use crate::settings::{self, App, Profile, Settings};
use context::TemplateContext;
use files::FileSpec;
pub(crate) use openclaw::{DEMO_FORWARD_NETWORK, DEMO_KEY_SECRET, DEMO_MODEL_SERVICE};
use plan::{Planned, State};
use render::Renderer;
use status::status;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write nothing; print the diffs and exit 1 when any file differs from its rendering.
    #[arg(long, conflicts_with_all = ["dry_run", "yes", "env"])]
    pub check: bool,
    /// Write nothing; say what would be created or updated (with the diffs).
    #[arg(long)]
    pub dry_run: bool,
    /// Overwrite files that differ without asking (needed to overwrite without a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Project directory to render into (default: this workspace's root).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Only these files of the target (compose: Dockerfile, docker-compose.yml, .env.example,
    /// .gitignore, .dockerignore; swarm: docker-stack.yml ...; kubernetes: k8s/deployment.yaml ...).
    #[arg(long, value_name = "NAME", num_args = 1..)]
    pub only: Vec<String>,
    /// Print the effective [workspace.metadata.deploy] settings (defaults filled in) and exit.
    #[arg(long)]
    pub print_settings: bool,
    /// Network profile for the compose file, overriding the settings.
    #[arg(long, value_enum)]
    pub profile: Option<Profile>,
    /// Also create .env (mode 0600) from .env.example with a fresh random gateway token,
    /// only when .env does not exist yet.
    #[arg(long)]
    pub env: bool,
    /// Render the *.tera files of DIR instead of the templates built into the xtask.
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// Deployment target: compose (docker-compose.yml), swarm (docker-stack.yml) or
    /// kubernetes (k8s/). Swarm and Kubernetes always use file-based secrets.
    #[arg(long, value_enum, default_value_t = target::Target::Compose)]
    pub target: target::Target,
    /// Application to deploy: clawdbot (this workspace's gateway) or openclaw (the real
    /// OpenClaw gateway, hardened). Recorded as `app` in [workspace.metadata.deploy] of
    /// Cargo.toml (shown as a diff, with the same consent as the generated files).
    #[arg(long, value_enum)]
    pub app: Option<App>,
}

/// What happened to the files, for the summary line.
#[derive(Debug, Default)]
struct Tally {
    created: usize,
    updated: usize,
    unchanged: usize,
    skipped: usize,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let root_arg = args.root.clone().unwrap_or_else(crate::workspace::root);
    let root = std::fs::canonicalize(&root_arg).map_err(|e| {
        anyhow::anyhow!(
            "{}: {e} (pass an existing directory to --root)",
            root_arg.display()
        )
    })?;
    if !root.is_dir() {
        bail!(
            "{}: not a directory (pass a directory to --root)",
            root.display()
        );
    }
    let mut settings = Settings::load(&root)?;
    if let Some(profile) = args.profile {
        settings.profile = profile;
    }
    let version = settings::package_version(&root)?;

    if args.print_settings {
        print_settings(&root, &settings, &version)?;
        return Ok(ExitCode::SUCCESS);
    }

    if let Some(app) = args.app {
        settings.app = app;
    }
    let specs = select(files::files(settings.app, args.target), &args.only)?;
    let context = TemplateContext::new(&settings, &version, args.target);
    let renderer = Renderer::new(context, args.templates.as_deref())?;
    let display_root = args.root.as_deref();
    let mut planned = Vec::new();
    if let Some(app) = args.app {
        planned.extend(record_app(&root, display_root, app)?);
    }
    planned.extend(plan::plan(&root, display_root, &specs, &renderer)?);
    if args.root.is_none()
        && args.app.is_none()
        && args.only.is_empty()
        && args.templates.is_none()
        && args.target == target::Target::Compose
        && settings.app == App::Clawdbot
    {
        planned.extend(plan_example(&root, &settings, &version, &args)?);
    }

    let color = diff::color_for_stdout();
    console::set_colors_enabled(color);
    let interactive = !args.yes
        && std::io::stdin().is_terminal()
        && std::io::stdout().is_terminal()
        && !crate::defaults::ci::in_ci();

    if args.check {
        return check(&planned, color);
    }

    let mut tally = Tally::default();
    let mut quit = false;
    for p in &planned {
        if quit {
            if p.state != State::Same {
                tally.skipped += 1;
                status("skipped", &p.display, "(quit)");
            } else {
                tally.unchanged += 1;
            }
            continue;
        }
        match p.state {
            State::Same => {
                tally.unchanged += 1;
                status("unchanged", &p.display, "");
            }
            State::Absent if args.dry_run => {
                tally.created += 1;
                status("would create", &p.display, "");
            }
            State::Absent => {
                write::create_parent(&p.target)?;
                write_file(p, &settings)?;
                tally.created += 1;
                status("created", &p.display, "");
            }
            State::Differs => {
                print!("{}", show_diff(p, color));
                if args.dry_run {
                    if args.yes {
                        tally.updated += 1;
                        status("would update", &p.display, "");
                    } else if interactive {
                        tally.skipped += 1;
                        status("would ask", &p.display, "(overwrite / skip)");
                    } else {
                        tally.skipped += 1;
                        status("would skip", &p.display, "(no terminal; --yes overwrites)");
                    }
                } else if args.yes {
                    write_file(p, &settings)?;
                    tally.updated += 1;
                    status("updated", &p.display, "");
                } else if interactive {
                    match prompt::ask(&p.display, &p.new_text)? {
                        prompt::Choice::Overwrite => {
                            write_file(p, &settings)?;
                            tally.updated += 1;
                            status("updated", &p.display, "");
                        }
                        prompt::Choice::Skip => {
                            tally.skipped += 1;
                            status("skipped", &p.display, "");
                        }
                        prompt::Choice::Quit => {
                            tally.skipped += 1;
                            status("skipped", &p.display, "(quit)");
                            quit = true;
                        }
                    }
                } else {
                    tally.skipped += 1;
                    status(
                        "skipped",
                        &p.display,
                        "(differs; no terminal to ask: rerun with --yes to overwrite)",
                    );
                }
            }
        }
    }

    if args.env && !quit {
        if settings.secrets
            || args.target != target::Target::Compose
            || settings.app == App::Openclaw
        {
            secrets::make_secrets(&root, display_root, &settings, args.dry_run)?;
        } else {
            make_env(&root, display_root, &settings, &renderer, args.dry_run)?;
        }
    }

    let prefix = if args.dry_run {
        "dry run: would have "
    } else {
        ""
    };
    println!(
        "init: {prefix}{} created, {} updated, {} unchanged, {} skipped",
        tally.created, tally.updated, tally.unchanged, tally.skipped
    );
    if tally.skipped > 0 && !args.dry_run {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// `--app`: the edit of `Cargo.toml` that records the choice, when it changes anything.
/// A root without `Cargo.toml` renders the app without recording it.
fn record_app(root: &Path, display_root: Option<&Path>, app: App) -> Result<Option<Planned>> {
    let path = root.join("Cargo.toml");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t.replace("\r\n", "\n"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            status(
                "not recorded",
                "Cargo.toml",
                &format!("(absent; app = \"{app}\" for this run only)"),
            );
            return Ok(None);
        }
        Err(e) => return Err(e).with_context(|| format!("{}: cannot read", path.display())),
    };
    match record::with_app(&text, app) {
        Some(new) => Ok(Some(plan::plan_text(
            root,
            display_root,
            "Cargo.toml",
            new,
        )?)),
        None => Ok(None),
    }
}

/// The OpenClaw Dockerfile as `init` renders it (the one renderer of it: `build --app
/// openclaw` writes its context's Dockerfile with this), for a build context in which
/// `context_dir` holds `rootfs/` and `state/` (`.` for the build's private context).
pub(crate) fn render_openclaw_dockerfile(
    s: &Settings,
    version: &str,
    context_dir: &str,
) -> Result<String> {
    let mut context = TemplateContext::new(s, version, target::Target::Compose);
    context.oc.context_dir = context_dir.to_owned();
    Renderer::new(context, None)?.render(&files::OPENCLAW_DOCKERFILE, &merge::UserLines::default())
}

/// The clawdbot Dockerfile as `init` renders it, for a private build context that holds
/// the staged files themselves (`stage_dir` = `.`): the OpenClaw demo builds its model
/// image with it, whatever app the project's root files are for.
pub(crate) fn render_clawdbot_dockerfile(s: &Settings, version: &str) -> Result<String> {
    let mut s = s.clone();
    s.app = App::Clawdbot;
    let mut context = TemplateContext::new(&s, version, target::Target::Compose);
    context.stage_dir = ".";
    let spec = files::files(App::Clawdbot, target::Target::Compose)
        .iter()
        .find(|f| f.name == "Dockerfile")
        .context("no clawdbot Dockerfile template")?;
    Renderer::new(context, None)?.render(spec, &merge::UserLines::default())
}

/// The demo's OpenClaw stack (`docker-compose.yml`, `openclaw.json`) as `init` renders
/// it, with the demo's extra values (`oc.demo`: the model service, the port forwarder,
/// the demo provider as the default model). Names and texts, for `cargo xtask demo`.
pub(crate) fn render_openclaw_demo(
    s: &Settings,
    version: &str,
) -> Result<Vec<(&'static str, String)>> {
    let mut context = TemplateContext::new(s, version, target::Target::Compose);
    context.oc = context.oc.with_demo(openclaw::DemoStack::of(s, version));
    let renderer = Renderer::new(context, None)?;
    files::OPENCLAW_DEMO_FILES
        .iter()
        .map(|spec| {
            Ok((
                spec.name,
                renderer.render(spec, &merge::UserLines::default())?,
            ))
        })
        .collect()
}

/// This repository keeps its own root files for clawdbot and the OpenClaw set, rendered
/// from the same settings with `app = "openclaw"`, under `openclaw::EXAMPLE_DIR`: planned
/// with the root's files, so `init` writes it and `init --check` keeps it fresh.
fn plan_example(
    root: &Path,
    settings: &Settings,
    version: &str,
    args: &Args,
) -> Result<Vec<Planned>> {
    let mut example = settings.clone();
    example.app = App::Openclaw;
    let context = TemplateContext::new(&example, version, target::Target::Compose);
    let renderer = Renderer::new(context, args.templates.as_deref())?;
    let dir = Path::new(crate::defaults::openclaw::EXAMPLE_DIR);
    plan::plan(
        &root.join(dir),
        Some(dir),
        &files::example_files(),
        &renderer,
    )
}

/// Writes one planned file; a new private one goes to the container's user.
fn write_file(p: &Planned, settings: &Settings) -> Result<()> {
    let new = p.current.is_none();
    write::write_atomic(&p.target, &p.bytes(), p.mode())?;
    if new && p.private && !secrets::hand_over(&p.target, &p.display, settings)? {
        println!(
            "note: {} is mode 0600 and the container runs as {}:{}: run `sudo chown {}:{} {}`",
            p.display, settings.uid, settings.gid, settings.uid, settings.gid, p.display
        );
    }
    Ok(())
}

/// `--check`: every drift is printed; exit 1 when there is any.
fn check(planned: &[Planned], color: bool) -> Result<ExitCode> {
    let mut drift = 0;
    for p in planned {
        match p.state {
            State::Same => status("up to date", &p.display, ""),
            State::Absent => {
                drift += 1;
                print!("{}", show_diff(p, color));
                status("missing", &p.display, "");
            }
            State::Differs => {
                drift += 1;
                print!("{}", show_diff(p, color));
                status("differs", &p.display, "");
            }
        }
    }
    println!(
        "init --check: {} up to date, {drift} out of date{}",
        planned.len() - drift,
        if drift > 0 {
            " (run `cargo xtask init` to update them)"
        } else {
            ""
        }
    );
    Ok(if drift > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn show_diff(p: &Planned, color: bool) -> String {
    let old_name = if p.current.is_some() {
        format!("{} (on disk)", p.display)
    } else {
        "/dev/null".to_owned()
    };
    diff::unified(
        p.old_text(),
        &p.new_text,
        &old_name,
        &format!("{} (rendered)", p.display),
        color,
    )
}

/// The files selected by `--only` (all when empty), in their usual order.
fn select(files: &[FileSpec], only: &[String]) -> Result<Vec<FileSpec>> {
    if only.is_empty() {
        return Ok(files.to_vec());
    }
    for name in only {
        if !files.iter().any(|f| f.name == name) {
            let known: Vec<&str> = files.iter().map(|f| f.name).collect();
            bail!(
                "--only {name}: not a generated file (use one of: {})",
                known.join(", ")
            );
        }
    }
    Ok(files
        .iter()
        .filter(|f| only.iter().any(|o| o == f.name))
        .copied()
        .collect())
}

fn print_settings(root: &Path, settings: &Settings, version: &str) -> Result<()> {
    // Nested under its table, so a table-valued key (`dockerfiles`) prints as
    // `[workspace.metadata.deploy.dockerfiles]`; fields keep their order.
    #[derive(serde::Serialize)]
    struct Workspace<'a> {
        workspace: Metadata<'a>,
    }
    #[derive(serde::Serialize)]
    struct Metadata<'a> {
        metadata: Deploy<'a>,
    }
    #[derive(serde::Serialize)]
    struct Deploy<'a> {
        deploy: &'a Settings,
    }
    let body = toml::to_string(&Workspace {
        workspace: Metadata {
            metadata: Deploy { deploy: settings },
        },
    })
    .context("printing the settings")?;
    println!(
        "# Effective settings from {} (defaults filled in)",
        root.join("Cargo.toml").display()
    );
    println!("# Image tag (package version): {version}");
    print!("{body}");
    if !body.ends_with('\n') {
        println!();
    }
    Ok(())
}

/// `--env`: create `.env` from `.env.example` with a fresh token, only when it is absent.
/// An existing `.env` is never read or replaced.
fn make_env(
    root: &Path,
    display_root: Option<&Path>,
    settings: &Settings,
    renderer: &Renderer,
    dry_run: bool,
) -> Result<()> {
    let display = display_root.map_or_else(
        || ".env".to_owned(),
        |r| r.join(".env").display().to_string(),
    );
    let env_path = root.join(".env");
    if std::fs::symlink_metadata(&env_path).is_ok() {
        status("kept", &display, "(exists; not read, not replaced)");
        return Ok(());
    }
    if dry_run {
        status("would create", &display, "(mode 0600, fresh gateway token)");
        return Ok(());
    }
    let example_spec =
        files::compose_file(".env.example").context(".env.example is not a generated file")?;
    let example_display = display_root.map_or_else(
        || ".env.example".to_owned(),
        |r| r.join(".env.example").display().to_string(),
    );
    let example_path = plan::resolve_target(root, ".env.example", &example_display)?;
    let example = match std::fs::read_to_string(&example_path) {
        Ok(t) => t.replace("\r\n", "\n"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            renderer.render(example_spec, &merge::UserLines::default())?
        }
        Err(e) => return Err(e).with_context(|| format!("{example_display}: cannot read")),
    };
    let token = write::random_token()?;
    let text = write::env_from_example(&example, &settings.token_var, &token);
    if write::create_new_atomic(&env_path, text.as_bytes(), 0o600)? {
        status(
            "created",
            &display,
            &format!(
                "(mode 0600, fresh {}; put your provider keys in it)",
                settings.token_var
            ),
        );
    } else {
        status("kept", &display, "(appeared meanwhile; not replaced)");
    }
    Ok(())
}
