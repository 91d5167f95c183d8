//! Deployment targets of `init --target`: the files each one renders, and the values its
//! templates need that derive from the settings (seconds, bytes, Kubernetes quantities).
//! Every target renders from the same settings and the same image.

use tera::Context;

use crate::settings::{parse_bytes, parse_duration_secs, Settings};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Target {
    /// docker-compose.yml for one host (compose v1 or v2).
    #[default]
    Compose,
    /// docker-stack.yml for `docker stack deploy` (external secrets, overlay network).
    Swarm,
    /// k8s/ manifests (Namespace, Deployment, Service, NetworkPolicy, PodDisruptionBudget).
    Kubernetes,
}

impl Target {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Target::Compose => "compose",
            Target::Swarm => "swarm",
            Target::Kubernetes => "kubernetes",
        }
    }
}

/// Whole seconds (at least 1) of a validated duration setting.
fn seconds(value: &str) -> u64 {
    parse_duration_secs(value).map_or(1, |s| (s.ceil() as u64).max(1))
}

/// Mebibytes (at least 1) of a validated size setting, as a Kubernetes quantity.
fn mebibytes(value: &str) -> u64 {
    parse_bytes(value).map_or(1, |b| (b >> 20).max(1))
}

/// Values derived from the settings for the Swarm and Kubernetes templates.
pub(crate) fn insert_context(ctx: &mut Context, settings: &Settings) {
    ctx.insert("target", Target::Compose.name());
    ctx.insert(
        "tmpfs_bytes",
        &parse_bytes(&settings.tmpfs_size).unwrap_or(16 << 20),
    );
    ctx.insert("k8s_namespace", &settings.service_name);
    ctx.insert(
        "k8s_secret_name",
        &format!("{}-secrets", settings.service_name),
    );
    let memory = mebibytes(&settings.memory);
    ctx.insert("k8s_memory", &format!("{memory}Mi"));
    ctx.insert("memory_request", &format!("{}Mi", (memory / 4).max(16)));
    let cpus: f64 = settings.cpus.parse().unwrap_or(1.0);
    let millis = ((cpus * 1000.0) / 4.0).round().max(10.0) as u64;
    ctx.insert("cpu_request", &format!("{millis}m"));
    ctx.insert(
        "k8s_tmpfs",
        &format!("{}Mi", mebibytes(&settings.tmpfs_size)),
    );
    ctx.insert("stop_grace_seconds", &seconds(&settings.stop_grace_period));
    ctx.insert(
        "start_period_seconds",
        &seconds(&settings.healthcheck_start_period),
    );
    ctx.insert("interval_seconds", &seconds(&settings.healthcheck_interval));
    ctx.insert("timeout_seconds", &seconds(&settings.healthcheck_timeout));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_values_round_up_and_convert() {
        assert_eq!(seconds("500ms"), 1);
        assert_eq!(seconds("1m30s"), 90);
        assert_eq!(mebibytes("2G"), 2048);
        assert_eq!(mebibytes("16m"), 16);
    }
}
