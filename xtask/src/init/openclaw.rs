//! The values only the OpenClaw app's templates (`templates/openclaw/`) use, derived from
//! the settings and `clawdbot_facts::openclaw`: names of its service, volume, network
//! and secrets; paths in its image and its build context; the V8 heap cap; the Control
//! UI's allowed origins; and the demo's extra values ([`DemoStack`], `oc.demo`), which
//! only `cargo xtask demo` sets.

use serde::Serialize;

use super::secrets::secret_files;
use crate::defaults::openclaw as facts;
use crate::settings::Settings;

/// Everything `templates/openclaw/*.tera` reads as `oc.*`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct OpenclawContext {
    pub service: &'static str,
    /// The named volume (compose, Swarm) or PVC (Kubernetes) of the state directory.
    pub volume: String,
    pub network: String,
    pub k8s_secret: String,
    /// `<IMAGE_NAME>:<openclaw_version>`.
    pub image: String,
    /// The directory holding the staged `rootfs/` and `state/`, relative to the build
    /// context (`target/openclaw-context` from the project root).
    pub context_dir: String,
    pub node_bin: &'static str,
    /// The CLI entry the image runs with Node, and the arguments that run the gateway.
    pub entry: &'static str,
    pub gateway_args: &'static [&'static str],
    /// The environment baked into the image, in order.
    pub env: Vec<EnvVar>,
    pub config_path: &'static str,
    pub state_dir: &'static str,
    /// The directory holding `state_dir` (the Dockerfile copies the staged state
    /// directory itself into it, keeping its mode).
    pub state_parent: String,
    pub secrets_dir: &'static str,
    pub container_port: u16,
    pub health_path: &'static str,
    pub healthcheck_script: &'static str,
    pub start_period_seconds: u64,
    /// Kubernetes startup probe: failures allowed at `healthcheck_interval` within the start period.
    pub startup_failures: u64,
    /// `--max-old-space-size`: three quarters of `memory`, so the heap stops before the limit.
    pub heap_mib: u64,
    /// `logging.maxFileBytes`: `log_max_size` in bytes.
    pub log_max_bytes: u64,
    /// Kubernetes memory request: half the limit (idle RSS is about 1 GiB of a 2 GiB limit).
    pub memory_request: String,
    /// The Control UI's allowed origins: the loopback origins of the published port.
    pub allowed_origins: Vec<String>,
    /// The `secrets.providers` id of the gateway token's file.
    pub token_provider: &'static str,
    /// Every secret file with the id of its `secrets.providers` entry in openclaw.json.
    pub secrets: Vec<SecretRef>,
    /// The provider keys only (model provider id and secret provider id).
    pub provider_keys: Vec<ProviderKeyRef>,
    /// `cargo xtask demo` only: the model service and the port forwarder (None for `init`).
    pub demo: Option<DemoStack>,
}

/// What the demo adds to the rendered stack (`oc.demo`): a `model` service (the clawdbot
/// image serving the demo provider over its OpenAI-compatible API) and a port forwarder
/// (clawdbot's `egress-proxy`), with OpenClaw only on the internal network.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct DemoStack {
    pub model_service: &'static str,
    /// The clawdbot image `<image_name>:<version>`.
    pub model_image: String,
    pub model_port: u16,
    pub model_health_port: u16,
    /// The variable (read as `<var>_FILE`) of the model service's token: the demo key.
    pub model_token_var: &'static str,
    pub image_binary: &'static str,
    /// The OpenClaw model provider id and the model, `provider/model_id` the default.
    pub provider: &'static str,
    pub model_id: &'static str,
    /// The secret file (and its `secrets.providers` id) of the demo key.
    pub key_secret: &'static str,
    pub forward_service: String,
    pub forward_network: String,
}

/// Names of the demo stack's additions.
pub(crate) const DEMO_MODEL_SERVICE: &str = "model";
pub(crate) const DEMO_PROVIDER: &str = "clawdbot-demo";
pub(crate) const DEMO_MODEL_ID: &str = "demo";
pub(crate) const DEMO_KEY_SECRET: &str = "demo_model_key";
/// The forwarder's bridge network (compose prefixes it with the project name).
pub(crate) const DEMO_FORWARD_NETWORK: &str = "openclaw-forward";

impl DemoStack {
    pub(crate) fn of(s: &Settings, version: &str) -> DemoStack {
        DemoStack {
            model_service: DEMO_MODEL_SERVICE,
            model_image: format!("{}:{version}", s.image_name),
            model_port: crate::defaults::GATEWAY_PORT,
            model_health_port: crate::defaults::HEALTH_PORT,
            model_token_var: crate::defaults::TOKEN_VARS[0],
            image_binary: crate::defaults::IMAGE_BINARY,
            provider: DEMO_PROVIDER,
            model_id: DEMO_MODEL_ID,
            key_secret: DEMO_KEY_SECRET,
            forward_service: s.egress_service_name.clone(),
            forward_network: DEMO_FORWARD_NETWORK.to_owned(),
        }
    }
}

impl OpenclawContext {
    /// The demo's context: `demo` set, and the secrets reduced to the gateway token and
    /// the demo key (no real provider is configured).
    pub(crate) fn with_demo(mut self, demo: DemoStack) -> OpenclawContext {
        self.secrets.retain(|s| s.provider == TOKEN_PROVIDER);
        self.secrets.push(SecretRef {
            name: demo.key_secret.to_owned(),
            provider: demo.key_secret.to_owned(),
        });
        self.provider_keys.clear();
        self.demo = Some(demo);
        self
    }
}

/// One `ENV` line of the Dockerfile.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct EnvVar {
    pub name: &'static str,
    pub value: &'static str,
}

/// One secret file and the file secret provider that reads it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SecretRef {
    pub name: String,
    pub provider: String,
}

/// A provider key: the OpenClaw model provider it authenticates, and its secret provider.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ProviderKeyRef {
    pub model_provider: String,
    pub provider: String,
}

/// The secret provider id of the gateway token in openclaw.json.
const TOKEN_PROVIDER: &str = "gateway_token";

impl OpenclawContext {
    pub(crate) fn of(s: &Settings) -> OpenclawContext {
        let memory = s.memory.mebibytes();
        let files = secret_files(s);
        let secrets: Vec<SecretRef> = files
            .iter()
            .map(|f| SecretRef {
                name: f.name.clone(),
                provider: if f.placeholder.is_none() {
                    TOKEN_PROVIDER.to_owned()
                } else {
                    f.name.clone()
                },
            })
            .collect();
        let provider_keys = files
            .iter()
            .filter(|f| f.placeholder.is_some())
            .map(|f| ProviderKeyRef {
                model_provider: model_provider(&f.var),
                provider: f.name.clone(),
            })
            .collect();
        let port = s.gateway_port;
        let mut allowed_origins = vec![format!("http://{}:{port}", s.bind_host())];
        if s.bind_address.is_loopback() {
            allowed_origins.push(format!("http://localhost:{port}"));
        }
        let interval = s.healthcheck_interval.whole_seconds().max(1);
        OpenclawContext {
            service: facts::SERVICE_NAME,
            volume: format!("{}-state", facts::SERVICE_NAME),
            network: format!("{}-net", facts::SERVICE_NAME),
            k8s_secret: format!("{}-secrets", facts::SERVICE_NAME),
            image: format!("{}:{}", facts::IMAGE_NAME, s.openclaw_version),
            context_dir: facts::STAGE_DIR.to_owned(),
            node_bin: facts::NODE_BIN,
            entry: facts::ENTRY,
            gateway_args: facts::GATEWAY_ARGS,
            env: facts::IMAGE_ENV
                .iter()
                .map(|&(name, value)| EnvVar { name, value })
                .collect(),
            config_path: facts::CONFIG_PATH,
            state_dir: facts::STATE_DIR,
            state_parent: std::path::Path::new(facts::STATE_DIR)
                .parent()
                .map_or_else(|| "/".to_owned(), |p| p.display().to_string()),
            secrets_dir: facts::SECRETS_DIR,
            container_port: facts::GATEWAY_PORT,
            health_path: facts::HEALTH_PATH,
            healthcheck_script: facts::HEALTHCHECK_SCRIPT,
            start_period_seconds: facts::HEALTH_START_PERIOD_SECONDS,
            startup_failures: facts::HEALTH_START_PERIOD_SECONDS.div_ceil(interval),
            heap_mib: memory * 3 / 4,
            log_max_bytes: s.log_max_size.bytes(),
            memory_request: format!("{}Mi", (memory / 2).max(16)),
            allowed_origins,
            token_provider: TOKEN_PROVIDER,
            secrets,
            provider_keys,
            demo: None,
        }
    }
}

/// `ANTHROPIC_API_KEY` → `anthropic`: the OpenClaw model provider a key variable is for.
fn model_provider(var: &str) -> String {
    let lower = var.to_ascii_lowercase();
    let base = lower
        .strip_suffix("_api_key")
        .or_else(|| lower.strip_suffix("_key"))
        .unwrap_or(&lower);
    base.replace('_', "-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_stays_below_the_limit_and_origins_are_loopback() {
        let s = Settings::from_manifest(
            "[workspace.metadata.deploy]\napp = \"openclaw\"\nmemory = \"2G\"\ngateway_port = 28789\n",
        )
        .unwrap();
        let oc = OpenclawContext::of(&s);
        assert_eq!(oc.heap_mib, 1536);
        assert_eq!(
            oc.allowed_origins,
            ["http://127.0.0.1:28789", "http://localhost:28789"]
        );
        assert_eq!(oc.secrets[0].name, facts::TOKEN_SECRET);
        assert_eq!(oc.secrets[0].provider, TOKEN_PROVIDER);
        let models: Vec<&str> = oc
            .provider_keys
            .iter()
            .map(|k| k.model_provider.as_str())
            .collect();
        assert_eq!(models, ["anthropic", "openai"]);
        assert_eq!(model_provider("MISTRAL_API_KEY"), "mistral");
    }
}
