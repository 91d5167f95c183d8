//! The OpenClaw demo stack for `cargo xtask bench`: the very stack `cargo xtask demo --app
//! openclaw` runs (its plan up to healthy), with OpenClaw's OpenAI-compatible endpoint
//! turned on in the rendered config, and the caller's measuring step in place of the
//! probes. Compose down and the temp dir are removed always, whatever the step returns.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::{openclaw, Ctx};
use crate::defaults::openclaw as facts;
use crate::engine::Engine;
use crate::settings::{App, Settings};
use crate::tempdir::random_hex;

/// What the measuring step gets from the running stack.
pub(crate) struct BenchStack {
    /// OpenClaw, through the forwarder's loopback port.
    pub openclaw: SocketAddr,
    /// OpenClaw's gateway token.
    pub token: String,
    /// The forwarder's CONNECT proxy (its bridge address), which allows only the model.
    pub proxy: SocketAddr,
    /// The model service as the proxy and OpenClaw name it (`model:18789`).
    pub model: String,
    /// The model service's token (the demo key OpenClaw sends it).
    pub model_key: String,
}

/// The key the bench adds to the rendered `gateway` object.
const OPENAI_HTTP: &str = r#""http": { "endpoints": { "chatCompletions": { "enabled": true } } },"#;

/// The demo config with `gateway.http.endpoints.chatCompletions.enabled = true` (off in
/// the rendered baseline; the bench sends its requests there). Errors when the config
/// has no single `"gateway": {` to add it to.
pub(crate) fn enable_openai_http(config: &str) -> Result<String> {
    const OPEN: &str = "\"gateway\": {";
    if config.matches(OPEN).count() != 1 {
        bail!("the rendered openclaw.json has no single `{OPEN}` to enable the OpenAI-compatible endpoint in");
    }
    Ok(config.replacen(OPEN, &format!("{OPEN}\n    {OPENAI_HTTP}"), 1))
}

/// Runs the demo stack up to healthy, then `measure`, then the cleanups.
pub(crate) fn with_openclaw_stack(
    root: &Path,
    settings: &Settings,
    measure: impl FnOnce(&BenchStack) -> Result<()> + 'static,
) -> Result<()> {
    let mut settings = settings.clone();
    settings.app = App::Openclaw;
    let name = format!("{}-bench-{}", facts::SERVICE_NAME, random_hex(4)?);
    let mut ctx = Ctx {
        root: root.to_path_buf(),
        settings,
        dir: std::env::temp_dir().join(&name),
        name,
        engine: Engine::detect().ok(),
        project: None,
        token: None,
        container: None,
        timeout: Duration::from_secs(super::OPENCLAW_TIMEOUT_SECS),
        keep: false,
        break_healthcheck: false,
    };
    let title = format!(
        "the OpenClaw demo stack for cargo xtask bench (project {})",
        ctx.name
    );
    let mut plan = openclaw::stack_plan(&ctx, false, title, true)?;
    plan.task(
        "measure",
        "first-token latency through OpenClaw and through the model service",
        move |ctx, step| {
            let stack = bench_stack(ctx)?;
            step.note(format!(
                "OpenClaw at {}, model {} via proxy {}",
                stack.openclaw, stack.model, stack.proxy
            ));
            measure(&stack)
        },
    );
    let outcome = plan.run(&mut ctx);
    if let Some(e) = outcome.error {
        return Err(e);
    }
    if !outcome.ok() {
        bail!("the OpenClaw demo stack did not run to the end");
    }
    Ok(())
}

fn bench_stack(ctx: &Ctx) -> Result<BenchStack> {
    let key_file = ctx
        .dir
        .join(openclaw::SECRETS)
        .join(crate::init::DEMO_KEY_SECRET);
    let model_key = std::fs::read_to_string(&key_file)
        .with_context(|| format!("reading {}", key_file.display()))?
        .trim()
        .to_owned();
    let proxy = SocketAddr::new(
        openclaw::forward_addr(ctx)?.ip(),
        ctx.settings.egress_proxy_port,
    );
    Ok(BenchStack {
        openclaw: SocketAddr::new(ctx.settings.bind_address, ctx.settings.gateway_port),
        token: ctx.token.clone().context("no token")?,
        proxy,
        model: format!(
            "{}:{}",
            crate::init::DEMO_MODEL_SERVICE,
            crate::defaults::GATEWAY_PORT
        ),
        model_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bench_config_enables_chat_completions_in_the_gateway() {
        let s =
            Settings::from_manifest("[workspace.metadata.deploy]\napp = \"openclaw\"\n").unwrap();
        let files = crate::init::render_openclaw_demo(&s, "0.1.0").unwrap();
        let config = &files.iter().find(|(n, _)| *n == "openclaw.json").unwrap().1;
        assert!(!config.contains("chatCompletions"), "{config}");
        let on = enable_openai_http(config).unwrap();
        let value = clawdbot_verify::input::json5::parse(&on, 0).expect("still JSON5");
        let text = format!("{value:?}");
        assert!(text.contains("chatCompletions"), "{text}");
        assert!(enable_openai_http("{}").is_err());
    }
}
