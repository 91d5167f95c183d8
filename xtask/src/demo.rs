//! `cargo xtask demo`: build, run the stack in safe demo mode under a unique compose
//! project, prove it healthy, reachable on loopback and hardened, then remove everything.
//!
//! Steps: preflight, build, safe env, `compose run --rm <svc> status`, `compose up -d`,
//! wait healthy, probes from the host, `verify --runtime`, summary, cleanup
//! (`compose down -v --remove-orphans` and the temp dir; always, unless `--keep`).

mod openclaw;
mod openclaw_bench;
pub(crate) use openclaw_bench::{with_openclaw_stack, BenchStack};
mod openclaw_probes;
pub(crate) use openclaw_probes::DEMO_ANSWER_PREFIX;
mod probes;

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::build;
use crate::defaults;
use crate::engine::{self, Compose, ComposeProject, Engine, COMPOSE_ENV};
use crate::image::demo_env_text;
use crate::image::{self, OverrideOptions, COMPOSE_FILE, OVERRIDE_FILE};
use crate::provision::{self, Purpose};
use crate::settings::{App, Profile, Settings};
use crate::tasks::{self, Command, Plan, Step};
use crate::tempdir::{random_hex, TempDir};
use crate::verify::secrets::mask;
use crate::workspace;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the plan with the exact commands and run nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Leave the demo stack running (prints the command that stops it).
    #[arg(long)]
    pub keep: bool,
    /// Install Docker, compose and the musl target first (root on Debian/Ubuntu only).
    #[arg(long)]
    pub provision: bool,
    /// The app to demo (default: the `app` setting): `openclaw` runs the real OpenClaw
    /// gateway with the demo provider as its model.
    #[arg(long, value_enum)]
    pub app: Option<crate::settings::App>,
    /// Seconds to wait for each container to become healthy (default 90; 300 for
    /// openclaw, whose gateway is ready after 20-90 s on a loaded machine).
    #[arg(long)]
    pub timeout: Option<u64>,
    /// Test hook for the end-to-end tests: replace the health check with one that can
    /// never pass (wrong port), to prove a failed demo shows the logs and still cleans up.
    #[arg(long, hide = true)]
    pub break_healthcheck: bool,
}

/// Default `--timeout` of the clawdbot demo, and of the OpenClaw demo.
const DEFAULT_TIMEOUT_SECS: u64 = 90;
const OPENCLAW_TIMEOUT_SECS: u64 = 300;

struct Ctx {
    root: PathBuf,
    settings: Settings,
    name: String,
    dir: PathBuf,
    engine: Option<Engine>,
    project: Option<ComposeProject>,
    token: Option<String>,
    container: Option<String>,
    timeout: Duration,
    keep: bool,
    break_healthcheck: bool,
}

impl Ctx {
    fn engine(&self) -> Result<&Engine> {
        self.engine
            .as_ref()
            .context("no engine (preflight did not run)")
    }
    fn project(&self) -> Result<&ComposeProject> {
        self.project
            .as_ref()
            .context("no compose project (safe env did not run)")
    }
    fn gateway_addr(&self) -> Result<SocketAddr> {
        Ok(SocketAddr::new(
            self.settings.bind_address,
            self.settings.gateway_port,
        ))
    }
    fn health_addr(&self) -> Result<SocketAddr> {
        Ok(SocketAddr::new(
            self.settings.bind_address,
            self.settings.health_port,
        ))
    }
}

/// The project as it will be (paths known before anything is created), for printing.
fn planned_project(ctx: &Ctx) -> ComposeProject {
    if ctx.settings.app == App::Openclaw {
        // The OpenClaw demo renders its whole stack into the temp dir.
        return ComposeProject {
            name: ctx.name.clone(),
            project_dir: ctx.dir.clone(),
            env_file: ctx.dir.join(".env"),
            files: vec![ctx.dir.join(COMPOSE_FILE)],
        };
    }
    ComposeProject {
        name: ctx.name.clone(),
        project_dir: ctx.dir.clone(),
        env_file: ctx.dir.join(".env"),
        files: vec![ctx.root.join(COMPOSE_FILE), ctx.dir.join(OVERRIDE_FILE)],
    }
}

/// The detected engine, or (when none answers yet, e.g. before provisioning) the compose
/// `CLAWDBOT_COMPOSE` forces, else v2 (what provisioning installs).
fn engine_or_default(ctx: &Ctx) -> Engine {
    ctx.engine.clone().unwrap_or_else(Engine::assumed)
}

/// A compose command of the demo's project, built once from the planned engine and
/// project: the plan prints it and the step runs it.
fn compose_command(ctx: &Ctx, args: &[&str]) -> Result<Command> {
    let argv = engine_or_default(ctx).compose_argv(&planned_project(ctx), args);
    Command::from_argv(&argv)
        .map(|c| c.current_dir(&ctx.dir))
        .context("empty compose command")
}

fn compose_line(ctx: &Ctx, args: &[&str]) -> String {
    engine_or_default(ctx)
        .compose_argv(&planned_project(ctx), args)
        .join(" ")
}

fn down_args() -> [&'static str; 3] {
    ["down", "-v", "--remove-orphans"]
}

/// A demo's plan with the provisioning tasks first when `provision`.
fn plan_with_provision(ctx: &Ctx, provision: bool, title: String) -> Plan<Ctx> {
    let mut plan = Plan::new(title);
    if provision {
        provision::add_tasks(&mut plan, Purpose::Demo, &ctx.root);
    }
    plan
}

/// What both demos' preflight runs: the engine's and compose's versions, `init --check`.
fn preflight_commands(ctx: &Ctx) -> Vec<Command> {
    vec![
        engine::server_version_command(),
        engine_or_default(ctx).compose.version_command(),
        Command::xtask(&["init", "--check"]).current_dir(&ctx.root),
    ]
}

fn plan(ctx: &Ctx, provision: bool) -> Result<Plan<Ctx>> {
    let s = &ctx.settings;
    let svc = s.service_name.clone();
    let mut plan = plan_with_provision(
        ctx,
        provision,
        format!("cargo xtask demo (project {})", ctx.name),
    );
    plan.commands(
        format!(
            "preflight (ports {}:{} and {}:{} free)",
            s.bind_address, s.gateway_port, s.bind_address, s.health_port
        ),
        preflight_commands(ctx),
        preflight,
    );
    // Detecting the engine asks both composes for their version.
    plan.probes([Compose::V2, Compose::V1].map(Compose::version_command));
    let build_dir = std::env::temp_dir().join(format!("{}-build", ctx.name));
    let image_build =
        build::ImageBuild::plan(&engine_or_default(ctx), &ctx.root, s, &build_dir, &ctx.name)?;
    let build_commands = std::iter::once(build::compile_command(&ctx.root)?)
        .chain(image_build.commands())
        .collect();
    let build_probes = build::compile_probes(&ctx.root)?
        .into_iter()
        .chain(image_build.probes(&ctx.root))
        .collect::<Vec<_>>();
    plan.commands(
        "build (compile, stage the context, build the image)",
        build_commands,
        move |ctx, step, _| {
            build::build_all(&ctx.root, &ctx.settings, &image_build, step)?;
            Ok(())
        },
    );
    plan.probes(build_probes);
    plan.task(
        "safe env",
        format!(
            "write {}/.env (mode 0600: demo keys, random token) and {}/{OVERRIDE_FILE}",
            ctx.dir.display(),
            ctx.dir.display()
        ),
        safe_env,
    );
    let run_status = compose_command(ctx, &["run", "--rm", "-T", &svc, "status"])?;
    plan.task(
        "quick test: status",
        run_status.to_string(),
        move |ctx, step| status(ctx, step, &run_status),
    );
    start_and_wait(
        ctx,
        &mut plan,
        "<container> from `compose ps -q`",
        wait_healthy,
    )?;
    let mut services = vec![svc.as_str()];
    if s.profile == Profile::Isolated {
        services.push(&s.egress_service_name);
    }
    let mut waits = Vec::new();
    for service in services {
        waits.push(compose_command(ctx, &["ps", "-q", service])?);
    }
    waits.push(health_command("<container>"));
    // On failure: the service's logs.
    waits.push(compose_command(ctx, &logs_args(&svc))?);
    plan.probes(waits);
    plan.task(
        "probes from the host",
        format!(
            "GET http://{}:{}/health; ws://{}:{} handshake + health + chat.send (streamed) with the token; refused without and with a wrong token; openclaw agent when installed",
            s.bind_address, s.health_port, s.bind_address, s.gateway_port
        ),
        run_probes,
    );
    if let Some(cli) = probes::openclaw_cli() {
        plan.probes([probes::cli_command_in(
            &cli,
            "<home>",
            "<PATH>",
            probes::AGENT_ARGS,
        )]);
    }
    let verify =
        Command::xtask(&["verify", "--runtime", "--project", &ctx.name]).current_dir(&ctx.root);
    plan.task("verify --runtime", verify.to_string(), move |_, step| {
        let out = verify.capture()?;
        step.note(String::from_utf8_lossy(&out.stdout).trim_end());
        Ok(())
    });
    if !ctx.keep {
        plan.planned_cleanup("compose down", compose_line(ctx, &down_args()));
        plan.planned_cleanup("remove temp dir", format!("rm -rf {}", ctx.dir.display()));
    }
    Ok(plan)
}

/// Detects the engine (running the planned version commands), checks the ports and runs
/// the planned `init --check` (the last of `commands`).
fn preflight(ctx: &mut Ctx, step: &mut Step, commands: &[Command]) -> Result<()> {
    let engine = Engine::detect()?;
    step.note(engine.describe());
    // The compose steps run the commands the plan printed; they must be this compose.
    let planned = engine_or_default(ctx).compose;
    if engine.compose != planned {
        bail!(
            "the plan runs {planned} but this machine has {} (set {COMPOSE_ENV}=v1 or v2, or rerun now that it is installed)",
            engine.compose
        );
    }
    ctx.engine = Some(engine);
    if ctx.settings.profile == Profile::Isolated {
        step.note(format!(
            "profile isolated: the {} service publishes the ports and forwards them to the gateway",
            ctx.settings.egress_service_name
        ));
    }
    {
        for port in [ctx.settings.gateway_port, ctx.settings.health_port] {
            let a = SocketAddr::new(ctx.settings.bind_address, port);
            TcpListener::bind(a).map(drop).map_err(|e| {
                anyhow::anyhow!(
                    "port {a} is not free ({e}); stop what listens there (your own stack? `docker compose down`) and rerun"
                )
            })?;
        }
        step.note(format!(
            "ports {}:{} and {}:{} are free",
            ctx.settings.bind_address,
            ctx.settings.gateway_port,
            ctx.settings.bind_address,
            ctx.settings.health_port
        ));
    }
    if !ctx.root.join(COMPOSE_FILE).exists() || !ctx.root.join("Dockerfile").exists() {
        bail!(
            "{}: Dockerfile or {COMPOSE_FILE} missing (generate them: `cargo xtask init`)",
            ctx.root.display()
        );
    }
    check_generated(step, commands, "cargo xtask init")
}

/// Runs the planned `init --check` (the last of `commands`); `init` is the command that
/// regenerates the files.
fn check_generated(step: &mut Step, commands: &[Command], init: &str) -> Result<()> {
    let init_check = commands.last().context("no init --check in the plan")?;
    let out = init_check.output()?;
    if !out.status.success() {
        bail!(
            "generated files are out of date or invalid (run `{init}` to regenerate them, review, then rerun):\n{}",
            tasks::tail(&out, 20)
        );
    }
    step.note("generated files are up to date");
    Ok(())
}

fn safe_env(ctx: &mut Ctx, step: &mut Step) -> Result<()> {
    let dir = TempDir::new_at(&ctx.dir)?;
    let path = dir.into_path();
    if !ctx.keep {
        step.on_cleanup(
            "remove temp dir",
            format!("rm -rf {}", path.display()),
            move || {
                std::fs::remove_dir_all(&path)
                    .with_context(|| format!("removing {}", path.display()))
            },
        );
    }
    // 48 hex characters from /dev/urandom (the service wants at least MIN_TOKEN_LEN).
    let token = random_hex(24)?;
    debug_assert!(token.len() >= defaults::MIN_TOKEN_LEN);
    let opts = OverrideOptions {
        container_name: Some(format!("{}-{}", ctx.name, ctx.settings.service_name)),
        broken_healthcheck: ctx.break_healthcheck,
    };
    if ctx.break_healthcheck {
        step.note("test hook --break-healthcheck: the health check probes a wrong port");
    }
    let project = image::private_project(
        &ctx.dir,
        &ctx.root,
        &ctx.settings,
        &ctx.name,
        &demo_env_text(Some(&token)),
        &opts,
    )?;
    on_cleanup_down(ctx, step, &project)?;
    step.note(format!(
        "env file {} (mode 0600): demo keys, token {}; the repository's .env is never read",
        project.env_file.display(),
        mask(&token)
    ));
    ctx.token = Some(token);
    ctx.project = Some(project);
    Ok(())
}

/// Registers `compose down -v` of `project` as a cleanup (unless `--keep`).
fn on_cleanup_down(ctx: &Ctx, step: &mut Step, project: &ComposeProject) -> Result<()> {
    if !ctx.keep {
        let engine = ctx.engine()?.clone();
        let p = project.clone();
        step.on_cleanup(
            "compose down",
            engine.compose_argv(project, &down_args()).join(" "),
            move || engine.compose(&p, &down_args()).capture().map(|_| ()),
        );
    }
    Ok(())
}

fn status(ctx: &mut Ctx, step: &mut Step, run_status: &Command) -> Result<()> {
    ctx.project()?;
    let out = run_status.capture()?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let token = ctx.token.as_deref().unwrap_or_default();
    for secret in [
        defaults::DEMO_ANTHROPIC_KEY,
        defaults::DEMO_OPENAI_KEY,
        token,
    ] {
        if !secret.is_empty() && text.contains(secret) {
            bail!("`status` printed a secret unmasked");
        }
    }
    step.note(text.trim_end());
    if !text.to_lowercase().contains("demo") {
        bail!("`status` does not report demo mode");
    }
    if !(text.contains('…') || text.contains("***")) {
        bail!("`status` shows no masked provider key");
    }
    Ok(())
}

fn container_id(ctx: &Ctx) -> Result<String> {
    service_container(ctx, &ctx.settings.service_name)
}

fn service_container(ctx: &Ctx, service: &str) -> Result<String> {
    let project = ctx.project()?;
    let out = ctx
        .engine()?
        .compose(project, &["ps", "-q", service])
        .capture()?;
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if id.is_empty() {
        bail!("compose reports no container for {service}");
    }
    Ok(id)
}

fn logs(ctx: &Ctx, service: &str) -> String {
    let run = || -> Result<String> {
        let project = ctx.project()?;
        let out = ctx
            .engine()?
            .compose(project, &logs_args(service))
            .output()?;
        Ok(strip_ansi(&tasks::tail(&out, 100)))
    };
    run().unwrap_or_else(|e| format!("(could not read logs: {e:#})"))
}

/// The two steps both demos share: `compose up -d --no-build`, then `wait` until healthy.
/// `which` says in the plan line which containers the wait polls.
fn start_and_wait(
    ctx: &Ctx,
    plan: &mut Plan<Ctx>,
    which: &str,
    wait: fn(&mut Ctx, &mut Step) -> Result<()>,
) -> Result<()> {
    let up = compose_command(ctx, &["up", "-d", "--no-build"])?;
    plan.task("start the stack", up.to_string(), move |ctx, step| {
        up.capture()?;
        step.note(format!("project {} is up", ctx.name));
        Ok(())
    });
    plan.task(
        "wait until healthy",
        format!(
            "{}  (every second, up to {}s; {which})",
            health_command("<container>"),
            ctx.timeout.as_secs()
        ),
        wait,
    );
    Ok(())
}

/// `compose logs` of `service`, as a failed wait shows them.
fn logs_args(service: &str) -> [&str; 5] {
    ["logs", "--no-color", "--tail", "100", service]
}

/// Removes terminal control sequences (compose v2 emits some even with `--no-color`).
fn strip_ansi(text: &str) -> String {
    match regex::Regex::new(r"\x1b\[[0-9;?]*[A-Za-z]") {
        Ok(re) => re.replace_all(text, "").into_owned(),
        Err(_) => text.to_string(),
    }
}

fn wait_healthy(ctx: &mut Ctx, step: &mut Step) -> Result<()> {
    let id = container_id(ctx)?;
    ctx.container = Some(id.clone());
    wait_container_healthy(ctx, step, &ctx.settings.service_name.clone(), &id)?;
    if ctx.settings.profile == Profile::Isolated {
        // The egress service publishes the ports the probes use.
        let service = ctx.settings.egress_service_name.clone();
        let id = service_container(ctx, &service)?;
        wait_container_healthy(ctx, step, &service, &id)?;
    }
    Ok(())
}

/// The command [`wait_container_healthy`] polls: the container's state and health.
fn health_command(container: &str) -> Command {
    Command::program(
        "docker",
        &[
            "inspect",
            "--format",
            "{{.State.Status}}|{{if .State.Health}}{{.State.Health.Status}}{{end}}",
            container,
        ],
    )
}

fn wait_container_healthy(ctx: &Ctx, step: &mut Step, service: &str, id: &str) -> Result<()> {
    let inspect = health_command(id);
    let start = Instant::now();
    let failure = loop {
        let out = inspect.read()?;
        let (state, health) = out.trim().split_once('|').unwrap_or((out.trim(), ""));
        step.progress(format!("wait until healthy: {state}/{health}"));
        match (state, health) {
            (_, "healthy") => {
                step.note(format!(
                    "{service} container {} healthy after {:.1}s",
                    &id[..12.min(id.len())],
                    start.elapsed().as_secs_f64()
                ));
                return Ok(());
            }
            (_, "unhealthy") => break "the engine reports the container unhealthy".to_string(),
            ("exited" | "dead", _) => break format!("the container {state}"),
            (_, "") if state == "running" => {
                break "the image has no HEALTHCHECK (regenerate the Dockerfile: `cargo xtask init`)".to_string()
            }
            _ => {}
        }
        if start.elapsed() > ctx.timeout {
            break format!(
                "not healthy after {}s (status {state}/{health}; raise --timeout)",
                ctx.timeout.as_secs()
            );
        }
        tasks::sleep_interruptible(Duration::from_secs(1))?;
    };
    step.note(format!(
        "container logs ({service}):\n{}",
        logs(ctx, service)
    ));
    bail!("{service}: {failure}")
}

fn run_probes(ctx: &mut Ctx, step: &mut Step) -> Result<()> {
    let health = probes::http_health(ctx.health_addr()?)?;
    step.note(format!(
        "GET http://{}/health -> 200 {health}",
        ctx.health_addr()?
    ));
    let token = ctx.token.clone().context("no token")?;
    let gw = ctx.gateway_addr()?;
    let report = probes::gateway_session(gw, &token)?;
    step.note(format!(
        "ws://{gw}: handshake ok (protocol {}, server {}), health ok, chat.send streamed {} chunks: {}\n  final: {}",
        report.protocol,
        report.server_version,
        report.chunks.len(),
        report
            .chunks
            .iter()
            .map(|c| format!("{c:?}"))
            .collect::<Vec<_>>()
            .join(" + "),
        report.chat_reply
    ));
    let missing = probes::expect_refused(gw, None)?;
    step.note(format!("without a token: refused, close 1008 ({missing})"));
    let wrong = format!("wrong-{}", random_hex(16)?);
    let mismatch = probes::expect_refused(gw, Some(&wrong))?;
    step.note(format!("wrong token: refused, close 1008 ({mismatch})"));
    match probes::openclaw_cli() {
        Some(cli) => {
            let answer = probes::openclaw_agent(&cli, gw, &token)?;
            step.note(format!(
                "openclaw agent --agent main --message ... (real CLI, against the container) -> {answer}"
            ));
        }
        None => step.note(
            "openclaw CLI not installed (scripts/install-node-tools.sh): real-CLI run skipped",
        ),
    }
    Ok(())
}

fn stop_instructions(ctx: &Ctx) -> String {
    format!(
        "the demo stack is still running (--keep). Stop it and remove its files with:\n  {}\n  rm -rf {}",
        compose_line(ctx, &down_args()),
        ctx.dir.display()
    )
}

pub fn run(args: Args) -> Result<ExitCode> {
    tasks::install_interrupt_handler();
    let root = workspace::root();
    let mut settings = Settings::load(&root)?;
    if let Some(app) = args.app {
        settings.app = app;
    }
    let prefix = match settings.app {
        App::Openclaw => crate::defaults::openclaw::SERVICE_NAME,
        App::Clawdbot => settings.service_name.as_str(),
    };
    let name = format!("{prefix}-demo-{}", random_hex(4)?);
    let dir = std::env::temp_dir().join(&name);
    let mut provision = args.provision;
    let engine = Engine::detect();
    if let Err(e) = &engine {
        if !provision && !args.dry_run {
            if provision::is_root()
                && crate::engine::is_debian_like()
                && provision::ask_yes(&format!("{e:#}. Install Docker and compose now?"))
            {
                provision = true;
            } else {
                bail!("{e:#}");
            }
        }
    }
    let timeout = Duration::from_secs(args.timeout.unwrap_or(match settings.app {
        App::Openclaw => OPENCLAW_TIMEOUT_SECS,
        App::Clawdbot => DEFAULT_TIMEOUT_SECS,
    }));
    let mut ctx = Ctx {
        root: root.clone(),
        settings,
        name,
        dir,
        engine: engine.ok(),
        project: None,
        token: None,
        container: None,
        timeout,
        keep: args.keep,
        break_healthcheck: args.break_healthcheck,
    };
    let plan = if ctx.settings.app == App::Openclaw {
        if args.break_healthcheck {
            bail!("--break-healthcheck is a hook of the clawdbot demo only");
        }
        openclaw::plan(&ctx, provision)?
    } else {
        plan(&ctx, provision)?
    };
    if args.dry_run {
        print!("{}", plan.render());
        println!("(dry run: nothing was run)");
        return Ok(ExitCode::SUCCESS);
    }
    let outcome = plan.run(&mut ctx);
    if ctx.keep && ctx.project.is_some() {
        println!("{}", stop_instructions(&ctx));
    }
    Ok(outcome.exit_code())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Ctx {
        Ctx {
            root: "/repo".into(),
            settings: Settings::default(),
            name: "clawdbot-demo-abcd".into(),
            dir: "/tmp/clawdbot-demo-abcd".into(),
            engine: None,
            project: None,
            token: None,
            container: None,
            timeout: Duration::from_secs(5),
            keep: false,
            break_healthcheck: false,
        }
    }

    #[test]
    fn dry_run_plan_lists_all_ten_steps_with_exact_commands() {
        let text = plan(&ctx(), false).unwrap().render();
        assert!(
            text.starts_with("cargo xtask demo (project clawdbot-demo-abcd) (10 steps)"),
            "{text}"
        );
        for (n, name) in [
            (1, "preflight"),
            (2, "build"),
            (3, "safe env"),
            (4, "quick test: status"),
            (5, "start the stack"),
            (6, "wait until healthy"),
            (7, "probes from the host"),
            (8, "verify --runtime"),
            (9, "summary"),
            (10, "cleanup: compose down"),
        ] {
            assert!(
                text.contains(&format!("{n:>2}. {name}")),
                "{name} in\n{text}"
            );
        }
        assert!(text.contains(
            "docker compose --project-name clawdbot-demo-abcd --project-directory /tmp/clawdbot-demo-abcd \
             --env-file /tmp/clawdbot-demo-abcd/.env -f /repo/docker-compose.yml \
             -f /tmp/clawdbot-demo-abcd/demo.override.yml up -d --no-build"
        ), "{text}");
        assert!(text.contains("down -v --remove-orphans"), "{text}");
        assert!(text.contains(&format!("127.0.0.1:{}", defaults::GATEWAY_PORT)));
    }

    #[test]
    fn keep_plans_no_cleanup() {
        let mut c = ctx();
        c.keep = true;
        let text = plan(&c, false).unwrap().render();
        assert!(!text.contains("cleanup"), "{text}");
        assert!(stop_instructions(&c).contains("down -v --remove-orphans"));
    }

    #[test]
    fn strip_ansi_removes_control_sequences() {
        assert_eq!(strip_ansi("\x1b[2Kapp  | started\x1b[0m"), "app  | started");
    }
}
