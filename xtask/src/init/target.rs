//! Deployment targets of `init --target`. Every target renders from the same settings and
//! the same image; `files::files` lists what each renders and `context` the values its
//! templates need.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// docker-compose.yml for one host (compose v1 or v2).
    #[default]
    Compose,
    /// docker-stack.yml for `docker stack deploy` (external secrets, overlay network).
    Swarm,
    /// k8s/ manifests (Namespace, Deployment, Service, NetworkPolicy, PodDisruptionBudget).
    Kubernetes,
}
