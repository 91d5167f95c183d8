//! `cargo xtask demo` with `app = "openclaw"`: the real OpenClaw gateway, hardened, with
//! our demo provider as its model, run under a unique compose project and removed after.
//!
//! The stack is rendered by init's renderer from `templates/openclaw/` with the demo's
//! extra values (`init::render_openclaw_demo`): OpenClaw and a `model` service (the
//! clawdbot image, `serve --openai-api`, the demo provider) on an `internal: true`
//! network, and clawdbot's `egress-proxy` forwarding the loopback port to OpenClaw (a
//! container only on an internal network gets no published port). The token and the demo
//! key are files in a private temp directory, never in the repository.
//!
//! Probes: `/healthz`; the host's `openclaw` CLI with the token (`gateway health`, then
//! `agent --message`, whose device the in-container CLI approves once, as a user does);
//! the Control UI in headless Chromium (connects, a typed chat message shows the demo
//! answer); `security audit --json` in the container (0 critical). Then `verify --runtime`.

use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};

use anyhow::{bail, Context, Result};

use super::{
    compose_line, down_args, engine_or_default, openclaw_probes, planned_project, probes,
    service_container, wait_container_healthy, Ctx,
};
use crate::build;
use crate::defaults::openclaw as facts;
use crate::engine::{self, Engine};
use crate::image;
use crate::settings::package_version;
use crate::tasks::{self, Command, Plan, Step};
use crate::tempdir::{random_hex, write_private, TempDir};
use crate::verify::secrets::mask;

/// Where the demo's secret files go in its temp directory (the compose file's `./secrets`).
pub(super) const SECRETS: &str = "secrets";

/// The forwarder and model service names of the demo stack.
fn forward_service(ctx: &Ctx) -> String {
    ctx.settings.egress_service_name.clone()
}

fn gateway_addr(ctx: &Ctx) -> SocketAddr {
    SocketAddr::new(ctx.settings.bind_address, ctx.settings.gateway_port)
}

/// The plan of the OpenClaw demo.
pub(super) fn plan(ctx: &Ctx, provision: bool) -> Result<Plan<Ctx>> {
    let mut plan = stack_plan(
        ctx,
        provision,
        format!("cargo xtask demo --app openclaw (project {})", ctx.name),
        false,
    )?;
    add_probes_and_verify(ctx, &mut plan);
    Ok(plan)
}

/// The demo's stack up to healthy: preflight, build, secrets and stack, start, wait.
/// `openai_http` (the bench only) also turns on OpenClaw's OpenAI-compatible endpoint.
pub(super) fn stack_plan(
    ctx: &Ctx,
    provision: bool,
    title: String,
    openai_http: bool,
) -> Result<Plan<Ctx>> {
    let s = &ctx.settings;
    let mut plan = super::plan_with_provision(ctx, provision, title);
    plan.commands(
        format!(
            "preflight (port {}:{} free, openclaw CLI and Chromium installed)",
            s.bind_address, s.gateway_port
        ),
        super::preflight_commands(ctx),
        preflight,
    );
    let version = package_version(&ctx.root)?;
    let stage_dir = ctx.root.join(crate::defaults::STAGE_DIR);
    let model_build = model_image_command(&image::image_ref(s, &version), &stage_dir);
    let oc_dir = ctx.root.join(facts::STAGE_DIR);
    let oc_build = crate::openclaw::image::build_command(s, &oc_dir);
    plan.commands(
        "build (the clawdbot model image; the OpenClaw image from its cached staging)",
        vec![build::compile_command(&ctx.root)?, model_build, oc_build],
        move |ctx, step, commands| build_images(ctx, step, commands, &version),
    );
    plan.task(
        "secrets and stack",
        format!(
            "write {dir}/{SECRETS}/ (mode 0600: random gateway token, random demo key), and render {dir}/docker-compose.yml and {dir}/openclaw.json from templates/openclaw/ (demo values)",
            dir = ctx.dir.display()
        ),
        move |ctx, step| secrets_and_stack(ctx, step, openai_http),
    );
    let which = format!("openclaw, model, {}", forward_service(ctx));
    super::start_and_wait(ctx, &mut plan, &which, wait_healthy)?;
    Ok(plan)
}

/// The demo's probes and `verify --runtime`, then its planned cleanups.
fn add_probes_and_verify(ctx: &Ctx, plan: &mut Plan<Ctx>) {
    let addr = gateway_addr(ctx);
    plan.task(
        "probes",
        format!(
            "GET http://{addr}/healthz; host CLI (token in a 0600 config): openclaw gateway health (ws://{addr}), openclaw agent --message (ws://<forwarder's bridge address>; its device approved once with `openclaw devices approve` inside); Control UI in headless Chromium: connects, chat shows the answer; openclaw security audit --json inside: 0 critical"
        ),
        run_probes,
    );
    let verify =
        Command::xtask(&["verify", "--runtime", "--project", &ctx.name]).current_dir(&ctx.root);
    plan.task("verify --runtime", verify.to_string(), move |_, step| {
        let out = verify.output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        step.note(text.trim_end());
        if !out.status.success() {
            bail!(
                "verify --runtime reported findings:\n{}",
                tasks::tail(&out, 20)
            );
        }
        Ok(())
    });
    if !ctx.keep {
        plan.planned_cleanup("compose down", compose_line(ctx, &down_args()));
        plan.planned_cleanup("remove temp dir", format!("rm -rf {}", ctx.dir.display()));
    }
}

/// `docker build` of the clawdbot image (the model service) from its staged files.
fn model_image_command(reference: &str, stage_dir: &std::path::Path) -> Command {
    Command::program(
        "docker",
        &["build", "--tag", reference, "--file", "Dockerfile", "."],
    )
    .current_dir(stage_dir)
}

fn preflight(ctx: &mut Ctx, step: &mut Step, commands: &[Command]) -> Result<()> {
    let engine = Engine::detect()?;
    step.note(engine.describe());
    let planned = engine_or_default(ctx).compose;
    if engine.compose != planned {
        bail!(
            "the plan runs {planned} but this machine has {} (set {}=v1 or v2)",
            engine.compose,
            engine::COMPOSE_ENV
        );
    }
    ctx.engine = Some(engine);
    let a = gateway_addr(ctx);
    TcpListener::bind(a).map(drop).map_err(|e| {
        anyhow::anyhow!("port {a} is not free ({e}); stop what listens there and rerun")
    })?;
    step.note(format!("port {a} is free"));
    if probes::openclaw_cli().is_none() {
        bail!("the openclaw CLI is not installed (run scripts/install-node-tools.sh, or `cargo xtask demo --provision`)");
    }
    if !openclaw_probes::browser_available() {
        bail!("Chromium or playwright-core is missing (apt-get install chromium; scripts/install-node-tools.sh)");
    }
    step.note("openclaw CLI, Chromium and playwright-core are installed");
    super::check_generated(step, commands, "cargo xtask init --app openclaw")
}

fn build_images(ctx: &mut Ctx, step: &mut Step, commands: &[Command], version: &str) -> Result<()> {
    let [_, model_build, oc_build] = commands else {
        bail!("the build step plans three commands");
    };
    let binary = build::compile(&ctx.root, step)?;
    let staged = image::stage(&ctx.root, &ctx.settings, &binary)?;
    let dockerfile = crate::init::render_clawdbot_dockerfile(&ctx.settings, version)?;
    std::fs::write(staged.join("Dockerfile"), dockerfile)
        .with_context(|| format!("writing {}/Dockerfile", staged.display()))?;
    model_build.capture()?;
    let reference = image::image_ref(&ctx.settings, version);
    let (_, size) = image::image_info(&reference)?;
    step.note(format!(
        "model image {reference} ({})",
        image::human_size(size)
    ));
    let oc = crate::openclaw::stage(&ctx.root, &ctx.settings)?;
    step.note(format!(
        "openclaw root filesystem {} {}",
        if oc.reused {
            "reused from"
        } else {
            "staged into"
        },
        oc.cache_entry.display()
    ));
    let dir = ctx.root.join(facts::STAGE_DIR);
    let dockerfile = crate::init::render_openclaw_dockerfile(&ctx.settings, version, ".")?;
    std::fs::write(dir.join("Dockerfile"), dockerfile)
        .with_context(|| format!("writing {}/Dockerfile", dir.display()))?;
    oc_build.capture()?;
    let reference = crate::openclaw::image::image_ref(&ctx.settings);
    let (_, size) = image::image_info(&reference)?;
    step.note(format!(
        "openclaw image {reference} ({})",
        image::human_size(size)
    ));
    Ok(())
}

/// Writes a secret or config file the containers (uid `uid`) read through a bind mount:
/// mode 0600, handed to that user when this runs as root.
fn write_for_container(ctx: &Ctx, path: &std::path::Path, text: &str) -> Result<()> {
    write_private(path, text)?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        std::os::unix::fs::chown(path, Some(ctx.settings.uid), Some(ctx.settings.gid))
            .with_context(|| {
                format!("{}: cannot hand it to the container's user", path.display())
            })?;
    } else {
        // Another user: the container's user must still read it.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))?;
    }
    Ok(())
}

fn secrets_and_stack(ctx: &mut Ctx, step: &mut Step, openai_http: bool) -> Result<()> {
    let dir = TempDir::new_at(&ctx.dir)?;
    let path = dir.into_path();
    if !ctx.keep {
        let p = path.clone();
        step.on_cleanup(
            "remove temp dir",
            format!("rm -rf {}", path.display()),
            move || {
                std::fs::remove_dir_all(&p).with_context(|| format!("removing {}", p.display()))
            },
        );
    }
    let version = package_version(&ctx.root)?;
    for (name, text) in crate::init::render_openclaw_demo(&ctx.settings, &version)? {
        let target = path.join(name);
        if name.ends_with(".json") {
            let text = if openai_http {
                super::openclaw_bench::enable_openai_http(&text)?
            } else {
                text
            };
            write_for_container(ctx, &target, &text)?;
        } else {
            std::fs::write(&target, text)
                .with_context(|| format!("writing {}", target.display()))?;
        }
    }
    // Compose reads an env file for interpolation; the stack needs none.
    write_private(
        &path.join(".env"),
        "# cargo xtask demo: no variable (the secrets are files)\n",
    )?;
    let secrets = path.join(SECRETS);
    std::fs::DirBuilder::new()
        .mode(0o755)
        .create(&secrets)
        .with_context(|| format!("creating {}", secrets.display()))?;
    let token = random_hex(24)?;
    // The model service refuses a placeholder-looking token: random hex, like the token.
    let key = random_hex(24)?;
    write_for_container(ctx, &secrets.join(facts::TOKEN_SECRET), &token)?;
    write_for_container(ctx, &secrets.join(crate::init::DEMO_KEY_SECRET), &key)?;
    let project = planned_project(ctx);
    super::on_cleanup_down(ctx, step, &project)?;
    step.note(format!(
        "{}: gateway token {}, demo key {} (mode 0600, owner {}:{}); stack rendered from templates/openclaw/",
        secrets.display(),
        mask(&token),
        mask(&key),
        ctx.settings.uid,
        ctx.settings.gid
    ));
    ctx.token = Some(token);
    ctx.project = Some(project);
    Ok(())
}

fn wait_healthy(ctx: &mut Ctx, step: &mut Step) -> Result<()> {
    for service in [
        crate::init::DEMO_MODEL_SERVICE.to_owned(),
        facts::SERVICE_NAME.to_owned(),
        forward_service(ctx),
    ] {
        let id = service_container(ctx, &service)?;
        if service == facts::SERVICE_NAME {
            ctx.container = Some(id.clone());
        }
        wait_container_healthy(ctx, step, &service, &id)?;
    }
    Ok(())
}

/// The forwarder's address on its bridge network (reachable from this host, not
/// loopback) and the port it forwards to OpenClaw.
pub(super) fn forward_addr(ctx: &Ctx) -> Result<SocketAddr> {
    let id = service_container(ctx, &forward_service(ctx))?;
    let network = format!("{}_{}", ctx.name, crate::init::DEMO_FORWARD_NETWORK);
    let format = format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}");
    let out = Command::program("docker", &["inspect", "--format", &format, &id]).read()?;
    let ip: std::net::IpAddr = out
        .trim()
        .parse()
        .with_context(|| format!("the forwarder's address on {network}: {out:?}"))?;
    Ok(SocketAddr::new(ip, ctx.settings.gateway_port))
}

fn run_probes(ctx: &mut Ctx, step: &mut Step) -> Result<()> {
    let addr = gateway_addr(ctx);
    let token = ctx.token.clone().context("no token")?;
    let container = ctx.container.clone().context("no container")?;
    let health = probes::http_get_json(addr, facts::HEALTH_PATH)?;
    step.note(format!(
        "GET http://{addr}{} -> 200 {health}",
        facts::HEALTH_PATH
    ));
    let cli = probes::openclaw_cli().context("the openclaw CLI is not installed")?;
    let health = openclaw_probes::gateway_health(&cli, addr, &token)?;
    step.note(format!(
        "openclaw gateway health (real CLI, host, ws://{addr}, token from its 0600 config) -> {health}"
    ));
    let forward = forward_addr(ctx)?;
    let agent = openclaw_probes::agent_paired(&cli, forward, &token, &container)?;
    if let Some(request) = &agent.approved {
        step.note(format!(
            "openclaw agent: pairing required for the host CLI's device; approved request {request} with `cargo xtask openclaw devices approve` (the in-container CLI, over the container's loopback)"
        ));
    }
    step.note(format!(
        "openclaw agent --agent main --message ... (real CLI, host, ws://{forward}) -> {}",
        agent.answer
    ));
    let ui = openclaw_probes::control_ui_chat(addr, &token)?;
    step.note(format!(
        "Control UI (headless Chromium, http://{addr}/): connected; chat -> {ui}"
    ));
    let audit = openclaw_probes::security_audit(&container)?;
    step.note(format!(
        "openclaw security audit --json (in the container): {} critical, {} warn, {} info",
        audit.0, audit.1, audit.2
    ));
    if audit.0 != 0 {
        bail!("the security audit reports {} critical finding(s)", audit.0);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{App, Settings};
    use serde_json::Value;

    fn settings() -> Settings {
        Settings::from_manifest("[workspace.metadata.deploy]\napp = \"openclaw\"\n").unwrap()
    }

    /// The demo stack as the renderer writes it: OpenClaw and the model only on the
    /// internal network, no published port but the forwarder's, on loopback.
    #[test]
    fn demo_stack_isolates_openclaw_and_publishes_loopback_only() {
        let s = settings();
        assert_eq!(s.app, App::Openclaw);
        let files = crate::init::render_openclaw_demo(&s, "0.1.0").unwrap();
        let compose = &files
            .iter()
            .find(|(n, _)| *n == "docker-compose.yml")
            .unwrap()
            .1;
        let doc: Value = serde_saphyr::from_str(compose).unwrap();
        let services = &doc["services"];
        let net = format!("{}-net", facts::SERVICE_NAME);
        assert_eq!(doc["networks"][&net]["internal"], true, "{compose}");
        let oc = &services[facts::SERVICE_NAME];
        assert!(oc.get("ports").is_none(), "{compose}");
        assert_eq!(oc["networks"], serde_json::json!([net]));
        let model = &services[crate::init::DEMO_MODEL_SERVICE];
        assert!(model.get("ports").is_none(), "{compose}");
        assert_eq!(model["networks"], serde_json::json!([net]));
        assert_eq!(model["read_only"], true);
        assert!(model["command"].to_string().contains("--openai-api"));
        let fwd = &services[s.egress_service_name.as_str()];
        assert_eq!(
            fwd["ports"],
            serde_json::json!([format!("127.0.0.1:{0}:{0}", s.gateway_port)])
        );
        let cmd = fwd["command"].to_string();
        assert!(
            cmd.contains(&format!(
                "{}=openclaw:{}",
                s.gateway_port,
                facts::GATEWAY_PORT
            )),
            "{cmd}"
        );
        // Only the token and the demo key are secrets; no real provider key is asked for.
        let secrets: Vec<&String> = doc["secrets"].as_object().unwrap().keys().collect();
        assert_eq!(secrets, [crate::init::DEMO_KEY_SECRET, facts::TOKEN_SECRET]);
        let config = &files.iter().find(|(n, _)| *n == "openclaw.json").unwrap().1;
        clawdbot_verify::input::json5::parse(config, 0).expect("openclaw.json parses");
        assert!(
            config.contains("\"baseUrl\": \"http://model:18789/v1\""),
            "{config}"
        );
        assert!(
            config.contains("\"primary\": \"clawdbot-demo/demo\""),
            "{config}"
        );
        assert!(
            config.contains("\"api\": \"openai-completions\""),
            "{config}"
        );
    }

    #[test]
    fn dry_run_plan_names_every_step() {
        let ctx = Ctx {
            root: env!("CARGO_MANIFEST_DIR").into(),
            settings: settings(),
            name: "openclaw-demo-abcd".into(),
            dir: "/tmp/openclaw-demo-abcd".into(),
            engine: None,
            project: None,
            token: None,
            container: None,
            timeout: std::time::Duration::from_secs(5),
            keep: false,
            break_healthcheck: false,
        };
        let text = plan(&ctx, false).unwrap().render();
        for name in [
            "preflight",
            "build",
            "secrets and stack",
            "start the stack",
            "wait until healthy",
            "probes",
            "verify --runtime",
            "cleanup: compose down",
            "cleanup: remove temp dir",
        ] {
            assert!(text.contains(name), "{name} in\n{text}");
        }
        assert!(
            text.contains("-f /tmp/openclaw-demo-abcd/docker-compose.yml up -d --no-build"),
            "{text}"
        );
    }
}
