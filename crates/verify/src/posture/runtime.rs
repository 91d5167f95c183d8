//! Adapter: a running container (`docker inspect`) → [`Workload`]. The engine's values
//! are effective ones: `Config.User` already holds the image's `USER`.

use super::{At, Field, Kind, User, Workload};
use crate::runtime::inspect::Container;

pub fn workload(c: &Container) -> Workload {
    let written = c.config.user.trim();
    let user = if written.is_empty() {
        User::DefaultRoot
    } else {
        User::Set(written.to_string())
    };
    Workload {
        kind: Kind::RunningContainer,
        subject: String::new(),
        user: Field::new(user, At::Container, written),
        privileged: Some(Field::new(
            c.host_config.privileged,
            At::Container,
            c.host_config.privileged.to_string(),
        )),
    }
}
