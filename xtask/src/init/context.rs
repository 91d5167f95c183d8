//! The one typed context every template is rendered with: the effective settings (their
//! keys as they are in `[workspace.metadata.deploy]`), the facts of `defaults` and
//! `files`, the secrets and provider keys, and the values derived for the Swarm and
//! Kubernetes targets (seconds, bytes, Kubernetes quantities) from the typed settings.
//! A template variable is a field here; `render` refuses one that is not.

use serde::Serialize;

use super::files::{BLOCK_BEGIN, BLOCK_END, HEADER, STAGED_FILES};
use super::openclaw::OpenclawContext;
use super::secrets::{key_doc, secret_files, SecretFile};
use super::target::Target;
use crate::defaults;
use crate::settings::Settings;

/// Everything a template may use, for one deployment target.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TemplateContext {
    #[serde(flatten)]
    pub settings: Settings,
    /// The package version: the image tag.
    pub version: String,
    pub target: Target,
    /// First line of every generated file.
    pub header: &'static str,
    pub block_begin: &'static str,
    pub block_end: &'static str,
    /// The host part of a compose port mapping (`[::1]` for IPv6).
    pub bind_host: String,
    pub stage_dir: &'static str,
    /// The image's directory for the `sessions_persist` volume and the sessions dir in it.
    pub data_dir: &'static str,
    pub sessions_dir: &'static str,
    pub staged_files: &'static [&'static str],
    pub image_binary: &'static str,
    pub min_token_len: usize,
    pub token_placeholder: &'static str,
    pub provider_keys: Vec<ProviderKey>,
    pub secret_files: Vec<SecretFile>,
    /// The OpenClaw app's values (`oc.*` in `templates/openclaw/`).
    pub oc: OpenclawContext,
    #[serde(flatten)]
    pub derived: Derived,
}

/// One provider key of `.env.example`: its variable, what it is for, its placeholder.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ProviderKey {
    pub name: String,
    pub doc: &'static str,
    pub placeholder: &'static str,
}

/// Values the Swarm and Kubernetes templates need in other units than the settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Derived {
    /// `tmpfs_size` in bytes (Swarm's tmpfs `size`).
    pub tmpfs_bytes: u64,
    pub k8s_namespace: String,
    pub k8s_secret_name: String,
    /// `memory` as a `Mi` quantity (the limit), and a quarter of it (at least 16Mi) as the request.
    pub k8s_memory: String,
    pub memory_request: String,
    /// A quarter of `cpus` in millicores (at least 10m): the request.
    pub cpu_request: String,
    pub k8s_tmpfs: String,
    pub stop_grace_seconds: u64,
    pub start_period_seconds: u64,
    pub interval_seconds: u64,
    pub timeout_seconds: u64,
}

impl Derived {
    fn of(s: &Settings) -> Derived {
        let memory = s.memory.mebibytes();
        Derived {
            tmpfs_bytes: s.tmpfs_size.bytes(),
            k8s_namespace: s.service_name.clone(),
            k8s_secret_name: format!("{}-secrets", s.service_name),
            k8s_memory: format!("{memory}Mi"),
            memory_request: format!("{}Mi", (memory / 4).max(16)),
            cpu_request: format!("{}m", s.cpus.request_millis()),
            k8s_tmpfs: format!("{}Mi", s.tmpfs_size.mebibytes()),
            stop_grace_seconds: s.stop_grace_period.whole_seconds(),
            start_period_seconds: s.healthcheck_start_period.whole_seconds(),
            interval_seconds: s.healthcheck_interval.whole_seconds(),
            timeout_seconds: s.healthcheck_timeout.whole_seconds(),
        }
    }
}

impl TemplateContext {
    pub(crate) fn new(settings: &Settings, version: &str, target: Target) -> TemplateContext {
        let provider_keys = settings
            .provider_key_vars
            .iter()
            .map(|name| {
                let (doc, placeholder) = key_doc(name);
                ProviderKey {
                    name: name.clone(),
                    doc,
                    placeholder,
                }
            })
            .collect();
        TemplateContext {
            settings: settings.clone(),
            version: version.to_owned(),
            target,
            header: HEADER,
            block_begin: BLOCK_BEGIN,
            block_end: BLOCK_END,
            bind_host: settings.bind_host(),
            stage_dir: defaults::STAGE_DIR,
            data_dir: defaults::DATA_DIR,
            sessions_dir: defaults::SESSIONS_DIR,
            staged_files: STAGED_FILES,
            image_binary: defaults::IMAGE_BINARY,
            min_token_len: defaults::MIN_TOKEN_LEN,
            token_placeholder: token_placeholder(),
            provider_keys,
            secret_files: secret_files(settings),
            oc: OpenclawContext::of(settings),
            derived: Derived::of(settings),
        }
    }
}

/// The context of one file: the shared one plus the user's kept lines of a merged file.
#[derive(Serialize)]
pub(crate) struct FileContext<'a> {
    #[serde(flatten)]
    pub base: &'a TemplateContext,
    pub user_lines_before: &'a [String],
    pub user_lines_after: &'a [String],
}

/// The placeholder of the gateway token in `.env.example`.
fn token_placeholder() -> &'static str {
    defaults::PLACEHOLDERS
        .iter()
        .copied()
        .find(|p| p.contains("token"))
        .unwrap_or("change-me-to-a-long-random-token")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_values_round_up_and_convert() {
        let s = Settings::from_manifest(
            "[workspace.metadata.deploy]\nmemory = \"2G\"\ntmpfs_size = \"16m\"\ncpus = \"2.0\"\nstop_grace_period = \"1m30s\"\nhealthcheck_timeout = \"500ms\"\n",
        )
        .unwrap();
        let d = Derived::of(&s);
        assert_eq!(d.k8s_memory, "2048Mi");
        assert_eq!(d.memory_request, "512Mi");
        assert_eq!(d.cpu_request, "500m");
        assert_eq!((d.tmpfs_bytes, d.k8s_tmpfs.as_str()), (16 << 20, "16Mi"));
        assert_eq!((d.stop_grace_seconds, d.timeout_seconds), (90, 1));
    }

    #[test]
    fn every_field_is_a_top_level_template_variable() {
        let ctx = TemplateContext::new(&Settings::default(), "1.2.3", Target::Swarm);
        let value = serde_json::to_value(FileContext {
            base: &ctx,
            user_lines_before: &[],
            user_lines_after: &[],
        })
        .unwrap();
        for key in [
            "service_name",
            "memory",
            "restart",
            "version",
            "target",
            "bind_host",
            "tmpfs_bytes",
            "k8s_memory",
            "secret_files",
            "user_lines_after",
        ] {
            assert!(value.get(key).is_some(), "{key} missing: {value}");
        }
        assert_eq!(value["target"], "swarm");
        assert_eq!(value["memory"], "2G");
        assert_eq!(value["restart"], "unless-stopped");
        assert_eq!(value["bind_address"], "127.0.0.1");
    }
}
