//! One-shot services: jobs that run to completion (migrations, setup, model pulls, CLI
//! tools run on demand, interactive containers), which need no health check.

use crate::input::compose::{Compose, Service};
use crate::input::yaml::Node;

/// Profiles that mark a service as a tool run on demand, not a long-running service.
pub const TOOL_PROFILES: &[&str] = &[
    "tools",
    "tool",
    "cli",
    "setup",
    "init",
    "migrate",
    "migration",
    "migrations",
    "admin",
    "manual",
    "job",
    "jobs",
    "oneshot",
    "one-shot",
    "run",
    "debug",
    "test",
    "tests",
    "backup",
    "maintenance",
];

/// Why `s` is a one-shot service (`None`: it is meant to keep running):
/// `restart: "no"`/`on-failure`, a `deploy.restart_policy` other than `any`, every
/// profile a tool profile, interactive (`stdin_open` and `tty`: a CLI container run
/// with `docker compose run`), or another service waits for it to complete.
pub fn is_one_shot(s: &Service, compose: &Compose) -> Option<&'static str> {
    let text = |n: &Node| n.scalar().unwrap_or_default().to_ascii_lowercase();
    if let Some(r) = s.get("restart").map(text) {
        if r == "no" || r == "false" || r.starts_with("on-failure") {
            return Some("restart policy runs it to completion");
        }
    }
    if let Some(c) = s
        .get("deploy")
        .and_then(|d| d.get("restart_policy"))
        .and_then(|p| p.get("condition"))
        .map(text)
    {
        if c == "none" || c == "on-failure" {
            return Some("restart policy runs it to completion");
        }
    }
    let profiles: Vec<String> = s
        .get("profiles")
        .map(|p| p.as_seq().iter().map(text).collect())
        .unwrap_or_default();
    if !profiles.is_empty() && profiles.iter().all(|p| TOOL_PROFILES.contains(&p.as_str())) {
        return Some("it only runs on demand (tool profile)");
    }
    let on = |key: &str| s.get(key).is_some_and(Node::is_true);
    if on("stdin_open") && on("tty") {
        return Some("it is interactive (stdin_open and tty), run on demand");
    }
    let awaited = compose.awaited.contains(&s.name);
    awaited.then_some("other services wait for it to complete")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::compose::{model, parse_file};
    use crate::input::interp::Env;

    #[test]
    fn one_shot_forms() {
        let c = model(
            &parse_file(
                "services:\n  a: {image: x:1, restart: \"no\"}\n  b: {image: x:1, restart: on-failure:3}\n  c: {image: x:1, profiles: [cli]}\n  d: {image: x:1}\n  e:\n    image: x:1\n    depends_on:\n      d: {condition: service_completed_successfully}\n  f: {image: x:1, restart: unless-stopped, profiles: [cli, web]}\n  g: {image: x:1, deploy: {restart_policy: {condition: none}}}\n  h: {image: x:1, stdin_open: true, tty: true}\n  i: {image: x:1, tty: true}\n",
                0,
                &Env::default(),
            )
            .unwrap(),
        );
        let got: Vec<bool> = c
            .services
            .iter()
            .map(|s| is_one_shot(s, &c).is_some())
            .collect();
        assert_eq!(
            got,
            [true, true, true, true, false, false, true, true, false]
        );
    }
}
