//! `secret-in-environment`: a workload that reads its secrets from files (`/run/secrets`)
//! still passes a key or token variable through its environment (`environment:`, an
//! `env_file:`, the container's `Config.Env`), where `docker inspect` shows it. Without
//! secrets, `env_file: .env` is the intended channel and nothing is reported. One
//! judgement for compose/Swarm services and running containers; values are never shown
//! (runtime evidence is masked).
//! Fixtures: `crates/verify/tests/fixtures/secret-in-environment/`.

use crate::defaults;
use crate::model::posture::{Kind, Verdict, Workload};
use crate::model::secrets;
use crate::vocab::catalog::RuleId;

/// True for a variable that carries a key or token itself (not its `_FILE` path).
pub fn is_key_var(name: &str) -> bool {
    !name.ends_with("_FILE")
        && (defaults::TOKEN_VARS.contains(&name)
            || [defaults::ANTHROPIC_KEY_VAR, defaults::OPENAI_KEY_VAR].contains(&name)
            || secrets::is_secret_name(name))
}

pub fn judge(w: &Workload) -> Vec<Verdict> {
    let mut out = Vec::new();
    if !w.uses_secrets {
        return out;
    }
    let carries_key = |key: &str, value: &str| {
        (is_key_var(key) || w.key_vars.iter().any(|k| k == key))
            && !value.trim().is_empty()
            && !defaults::is_placeholder(value)
    };
    let verdict = |at, message, evidence| Verdict {
        rule: RuleId::SecretInEnvironment,
        at,
        message,
        evidence,
        severity: None,
    };
    let mut i = 0;
    while i < w.env.len() {
        let e = &w.env[i];
        let (key, value) = (&e.value.key, &e.value.value);
        let Some(file) = &e.value.env_file else {
            i += 1;
            if !carries_key(key, value) {
                continue;
            }
            out.push(match w.kind {
                Kind::RunningContainer => verdict(
                    e.at,
                    format!("{key} is in the container environment (visible to `docker inspect`) although the service reads its keys from /run/secrets; pass {key}_FILE instead"),
                    Some(format!("{key}={}", secrets::mask(value))),
                ),
                _ => verdict(
                    e.at,
                    format!("{} reads secrets from /run/secrets but still passes {key} in `environment:`; pass {key}_FILE instead", w.subject),
                    None,
                ),
            });
            continue;
        };
        // The entries of one `env_file:` entry: one finding naming its keys.
        let mut keys: Vec<&str> = Vec::new();
        let at = e.at;
        while let Some(e) = w
            .env
            .get(i)
            .filter(|n| n.at == at && n.value.env_file.as_ref() == Some(file))
        {
            if carries_key(&e.value.key, &e.value.value)
                && keys.last() != Some(&e.value.key.as_str())
            {
                keys.push(&e.value.key);
            }
            i += 1;
        }
        if !keys.is_empty() {
            out.push(verdict(
                at,
                format!(
                    "{} reads secrets from /run/secrets but env_file {file} still passes {}; remove them from the file and use *_FILE variables",
                    w.subject,
                    keys.join(", ")
                ),
                None,
            ));
        }
    }
    out
}

/// The rule's spec (`rules::spec`); whole-project cases are in `tests/fixtures/`.
#[cfg(test)]
mod spec {
    use crate::rules::spec;
    use crate::RuleId;

    #[test]
    fn catches() {
        spec::catches(
            RuleId::SecretInEnvironment,
            spec::compose(
                "    env_file: .env\n",
                "    env_file: .env\n    secrets:\n      - gateway_token\n",
            )
            .edit(
                "docker-compose.yml",
                "\nnetworks:\n",
                "\nsecrets:\n  gateway_token:\n    file: ./token\n\nnetworks:\n",
            )
            .edit(
                ".env",
                "sk-ant-demo-placeholder",
                "sk-ant-api03-Xq7vR2mK9pL4wN8tY3zBcD5f",
            ),
        );
    }

    #[test]
    fn catches_not() {
        spec::catches_not(
            RuleId::SecretInEnvironment,
            spec::compose(
                "    env_file: .env\n",
                "    env_file: .env\n    environment:\n      RUST_LOG: info\n",
            ),
        );
    }
}
