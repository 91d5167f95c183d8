//! `secret-in-environment` (static, note): a service that has compose `secrets:` but
//! still passes a key or token variable through `environment:` or an `env_file:`.
//! Without `secrets:`, `env_file: .env` is the intended channel and nothing is reported.

use super::super::compose::Service;
use super::super::interp::parse_dotenv_lines;
use super::super::project::read_text;
use super::super::secrets;
use super::super::yaml::Node;
use super::Out;
use crate::catalog::RuleId;
use crate::defaults;

/// True for a variable that carries a key or token itself (not its `_FILE` path).
pub fn is_key_var(name: &str) -> bool {
    !name.ends_with("_FILE")
        && (defaults::TOKEN_VARS.contains(&name)
            || [defaults::ANTHROPIC_KEY_VAR, defaults::OPENAI_KEY_VAR].contains(&name)
            || secrets::is_secret_name(name))
}

pub fn check(out: &mut Out, s: &Service) {
    let uses_secrets = s
        .get("secrets")
        .is_some_and(|n| !n.as_seq().is_empty() || !n.entries().is_empty());
    if !uses_secrets {
        return;
    }
    let name = &s.name;
    if let Some(env) = s.get("environment") {
        for (k, v) in Service::pairs_of(env) {
            let value = v.scalar().unwrap_or_default();
            if is_key_var(&k) && !value.trim().is_empty() {
                out.yaml(
                    RuleId::SecretInEnvironment,
                    v.pos,
                    format!(
                        "service {name} reads secrets from /run/secrets but still passes {k} in `environment:`; pass {k}_FILE instead"
                    ),
                );
            }
        }
    }
    for file in env_files(s) {
        let Some(path) = file.scalar() else { continue };
        // An env file that does not exist (yet) or cannot be read passes nothing we can see.
        let Ok(Some(src)) = read_text(&out.project.root, &out.project.root.join(&path)) else {
            continue;
        };
        let mut keys: Vec<String> = parse_dotenv_lines(&src.text)
            .into_iter()
            .filter(|(k, v, _)| is_key_var(k) && !v.trim().is_empty())
            .map(|(k, _, _)| k)
            .collect();
        keys.dedup();
        if !keys.is_empty() {
            out.yaml(
                RuleId::SecretInEnvironment,
                file.pos,
                format!(
                    "service {name} reads secrets from /run/secrets but env_file {path} still passes {}; remove them from the file and use *_FILE variables",
                    keys.join(", ")
                ),
            );
        }
    }
}

/// `env_file:` as a string, a list of strings, or a list of `{path: ...}` maps.
fn env_files(s: &Service) -> Vec<Node> {
    match s.get("env_file") {
        None => Vec::new(),
        Some(n) if n.scalar().is_some() => vec![n.clone()],
        Some(n) => n
            .as_seq()
            .iter()
            .map(|e| e.get("path").cloned().unwrap_or_else(|| e.clone()))
            .collect(),
    }
}
