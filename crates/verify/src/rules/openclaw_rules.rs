//! Rules on the OpenClaw gateway's config (`openclaw.json`, found by
//! [`crate::input::openclaw`]): secrets written as literals, a non-loopback bind without
//! auth, insecure Control UI switches, and the host-reaching tools (operator terminal,
//! elevated mode, unrestricted exec). Defaults are OpenClaw 2026.9's documented ones:
//! `bind` loopback, `terminal.enabled` true, `tools.exec.security` full. Fixtures:
//! `crates/verify/tests/fixtures/openclaw-*/`.

use super::Out;
use crate::input::json5::{Node, Value};
use crate::input::openclaw::Config;
use crate::input::yaml::Pos;
use crate::model::secrets;
use crate::vocab::catalog::RuleId;

pub fn check(out: &mut Out) {
    for cfg in &out.project.openclaw {
        secret_literals(out, cfg.file, &cfg.root, "");
        bind_without_auth(out, cfg);
        control_ui(out, cfg);
        tools(out, cfg);
    }
}

/// `openclaw-secret-literal` at every string whose key names a credential (or whose
/// value has a known key format) and that is neither a SecretRef object nor an
/// environment reference (`${VAR}`, which the detector skips).
fn secret_literals(out: &mut Out, file: usize, node: &Node, path: &str) {
    match &node.value {
        Value::Object(members) => {
            for (k, _, v) in members {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if let Value::Str(s) = &v.value {
                    for h in secrets::in_assignment(&secrets::camel_to_snake(k), s) {
                        out.at(
                            RuleId::OpenclawSecretLiteral,
                            file,
                            v.pos.line,
                            v.pos.column,
                            format!(
                                "{p} holds a secret as a literal: {} ({})",
                                h.kind,
                                secrets::mask(&h.secret)
                            ),
                        );
                    }
                } else {
                    secret_literals(out, file, v, &p);
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let p = format!("{path}[{i}]");
                if let Value::Str(s) = &v.value {
                    for h in secrets::known_formats(s) {
                        out.at(
                            RuleId::OpenclawSecretLiteral,
                            file,
                            v.pos.line,
                            v.pos.column,
                            format!("{p} holds a {} ({})", h.kind, secrets::mask(&h.secret)),
                        );
                    }
                } else {
                    secret_literals(out, file, v, &p);
                }
            }
        }
        _ => {}
    }
}

/// The position of the deepest existing node on a dotted path (where a finding about
/// a missing key, i.e. a default, points).
fn nearest(root: &Node, dotted: &str) -> Pos {
    let mut at = root;
    for k in dotted.split('.') {
        match at.get(k) {
            Some(n) => at = n,
            None => break,
        }
    }
    at.pos
}

fn push(out: &mut Out, rule: RuleId, file: usize, pos: Pos, message: String) {
    out.at(rule, file, pos.line, pos.column, message);
}

/// `openclaw-bind-no-auth`: `gateway.bind` other than loopback (a `custom` host other
/// than 127.0.0.1) with `gateway.auth.mode: "none"`.
fn bind_without_auth(out: &mut Out, cfg: &Config) {
    let r = &cfg.root;
    let Some(mode) = r
        .path("gateway.auth.mode")
        .filter(|m| m.as_str() == Some("none"))
    else {
        return;
    };
    let bind = r
        .path("gateway.bind")
        .and_then(Node::as_str)
        .unwrap_or("loopback");
    let custom = r.path("gateway.customBindHost").and_then(Node::as_str);
    let loopback = bind == "loopback" || (bind == "custom" && custom == Some("127.0.0.1"));
    if loopback {
        return;
    }
    let at = r.path("gateway.bind").map(|n| n.pos).unwrap_or(mode.pos);
    push(
        out,
        RuleId::OpenclawBindNoAuth,
        cfg.file,
        at,
        format!("gateway.bind is \"{bind}\" (beyond loopback) and gateway.auth.mode is \"none\": anyone who reaches the port controls the gateway"),
    );
}

/// `openclaw-control-ui-insecure`: `gateway.controlUi.allowInsecureAuth` or any
/// `gateway.controlUi.dangerously*` switched on.
fn control_ui(out: &mut Out, cfg: &Config) {
    let Some(ui) = cfg.root.path("gateway.controlUi") else {
        return;
    };
    for (k, _, v) in ui.members() {
        if (k == "allowInsecureAuth" || k.starts_with("dangerously")) && v.as_bool() == Some(true) {
            push(
                out,
                RuleId::OpenclawControlUiInsecure,
                cfg.file,
                v.pos,
                format!("gateway.controlUi.{k} is true"),
            );
        }
    }
}

/// `openclaw-terminal-enabled`, `openclaw-elevated-enabled`, `openclaw-exec-unrestricted`.
fn tools(out: &mut Out, cfg: &Config) {
    let r = &cfg.root;
    let file = cfg.file;
    match r.path("gateway.terminal.enabled") {
        Some(n) if n.as_bool() == Some(false) => {}
        Some(n) => push(
            out,
            RuleId::OpenclawTerminalEnabled,
            file,
            n.pos,
            "gateway.terminal.enabled is on: operators get a host shell in the gateway's environment".into(),
        ),
        None => push(
            out,
            RuleId::OpenclawTerminalEnabled,
            file,
            nearest(r, "gateway.terminal.enabled"),
            "gateway.terminal.enabled is not set, and it defaults to on: operators get a host shell in the gateway's environment".into(),
        ),
    }
    match r.path("tools.elevated.enabled") {
        Some(n) if n.as_bool() == Some(false) => {}
        Some(n) => push(
            out,
            RuleId::OpenclawElevatedEnabled,
            file,
            n.pos,
            "tools.elevated.enabled is on: agents can escape the sandbox onto the host".into(),
        ),
        // `openclaw security audit` reports "tools.elevated: enabled" for an unset key.
        // A warning: the senders' allowlists (`tools.elevated.allowFrom`) are empty then.
        None => {
            let at = nearest(r, "tools.elevated.enabled");
            out.push(
                RuleId::OpenclawElevatedEnabled,
                crate::Severity::Warning,
                file,
                at.line,
                at.column,
                "tools.elevated.enabled is not set, and it defaults to on: a sender added to tools.elevated.allowFrom can escape the sandbox onto the host".into(),
            )
        }
    }
    let security = r.path("tools.exec.security");
    let mode = r.path("tools.exec.mode");
    let full = |n: Option<&Node>| n.and_then(Node::as_str) == Some("full");
    let (unrestricted, at, why) = match (security, mode) {
        (s, m) if full(s) || full(m) => {
            let n = if full(s) { s } else { m };
            let key = if full(s) { "security" } else { "mode" };
            (
                true,
                n.map(|n| n.pos),
                format!("tools.exec.{key} is \"full\""),
            )
        }
        (None, None) => (
            true,
            None,
            "tools.exec.security is not set, and it defaults to \"full\"".to_string(),
        ),
        _ => (false, None, String::new()),
    };
    if unrestricted {
        let at = at.unwrap_or_else(|| nearest(r, "tools.exec.security"));
        push(
            out,
            RuleId::OpenclawExecUnrestricted,
            file,
            at,
            format!("{why}: agents run any command on the gateway's host without an allowlist"),
        );
    }
}

/// The rules' specs (`rules::spec`): the hardened base plus an `openclaw.json`.
#[cfg(test)]
mod spec {
    use crate::rules::spec;
    use crate::RuleId;

    /// A hardened config (the shape `cargo xtask init --app openclaw` renders).
    pub const HARDENED: &str = r#"// hardened
{
  gateway: {
    bind: "lan",
    auth: { mode: "token", token: { source: "file", provider: "gw", id: "value" } },
    controlUi: { allowedOrigins: ["http://127.0.0.1:18789"] },
    terminal: { enabled: false },
  },
  models: { providers: { openai: { apiKey: "${OPENAI_API_KEY}" } } },
  tools: { exec: { security: "deny" }, elevated: { enabled: false } },
}
"#;

    fn with(find: &str, replace: &str) -> spec::Case {
        assert!(HARDENED.contains(find), "{find}");
        spec::hardened().with("openclaw.json", &HARDENED.replacen(find, replace, 1))
    }

    #[test]
    fn the_hardened_config_has_no_finding() {
        assert_eq!(with("", "").rules(), Vec::<RuleId>::new());
    }

    #[test]
    fn catches() {
        spec::catches(
            RuleId::OpenclawSecretLiteral,
            with(
                "\"${OPENAI_API_KEY}\"",
                "'sk-proj-abcdefghijklmnopqrstuvwxyz012345'",
            ),
        );
        spec::catches(
            RuleId::OpenclawSecretLiteral,
            with(
                "token: { source: \"file\", provider: \"gw\", id: \"value\" }",
                "token: 'a8f3k29dk3l0qpz7x1'",
            ),
        );
        spec::catches(
            RuleId::OpenclawBindNoAuth,
            with("mode: \"token\"", "mode: \"none\""),
        );
        spec::catches(
            RuleId::OpenclawControlUiInsecure,
            with("controlUi: {", "controlUi: { allowInsecureAuth: true,"),
        );
        spec::catches(
            RuleId::OpenclawControlUiInsecure,
            with(
                "controlUi: {",
                "controlUi: { dangerouslyDisableDeviceAuth: true,",
            ),
        );
        spec::catches(
            RuleId::OpenclawTerminalEnabled,
            with("enabled: false }", "enabled: true }"),
        );
        spec::catches(
            RuleId::OpenclawTerminalEnabled,
            with("terminal: { enabled: false },", ""),
        );
        spec::catches(
            RuleId::OpenclawElevatedEnabled,
            with(
                "elevated: { enabled: false }",
                "elevated: { enabled: true }",
            ),
        );
        spec::catches(
            RuleId::OpenclawExecUnrestricted,
            with("security: \"deny\"", "security: \"full\""),
        );
        spec::catches(
            RuleId::OpenclawExecUnrestricted,
            with("exec: { security: \"deny\" }, ", ""),
        );
    }

    #[test]
    fn catches_not() {
        spec::catches_not(
            RuleId::OpenclawBindNoAuth,
            with("bind: \"lan\",", "bind: \"loopback\", auth2: 1,").edit(
                "openclaw.json",
                "mode: \"token\"",
                "mode: \"none\"",
            ),
        );
        spec::catches_not(
            RuleId::OpenclawControlUiInsecure,
            with("controlUi: {", "controlUi: { allowInsecureAuth: false,"),
        );
        spec::catches_not(
            RuleId::OpenclawExecUnrestricted,
            with("security: \"deny\"", "security: \"allowlist\""),
        );
        spec::catches_not(
            RuleId::OpenclawSecretLiteral,
            with("\"${OPENAI_API_KEY}\"", "'change-me'"),
        );
    }
}
