//! Adapter: a service of the merged compose model (or a Swarm stack's) → [`Workload`].

use super::{At, Field, Kind, User, Workload};
use crate::compose::Service;
use crate::yaml::Node;

fn text(n: &Node) -> String {
    n.scalar().unwrap_or_default()
}

/// The text as written in the file (interpolation references, never resolved values).
fn shown(n: &Node) -> String {
    n.raw_str()
        .map(str::to_owned)
        .or_else(|| n.scalar())
        .unwrap_or_default()
}

pub fn workload(s: &Service) -> Workload {
    let user = match s.get("user") {
        // An empty `user:` (e.g. an unset variable) keeps the image's USER.
        Some(u) if !text(u).trim().is_empty() => {
            Field::new(User::Set(text(u)), At::Compose(u.pos), shown(u))
        }
        Some(u) => Field::new(User::FromImage, At::Compose(u.pos), shown(u)),
        None => Field::new(User::FromImage, At::Compose(s.pos), ""),
    };
    let privileged = s
        .get("privileged")
        .map(|p| Field::new(p.is_true(), At::Compose(p.pos), shown(p)));
    Workload {
        kind: Kind::ComposeService,
        subject: format!("service {}", s.name),
        user,
        privileged,
    }
}
