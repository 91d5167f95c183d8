//! Secret detection and the one masking function every secret passes through.

use super::secret_scan::{self, FORMATS};
use crate::defaults;

/// Vendor prefixes that identify a key's kind without revealing any of it.
const KNOWN_PREFIXES: &[&str] = &[
    "sk-ant-",
    "sk-proj-",
    "sk-",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "AKIA",
    "ASIA",
    "xoxb-",
    "xoxa-",
    "xoxp-",
    "xoxr-",
    "xoxs-",
];

/// Masks a secret: keeps only a public vendor prefix (e.g. `sk-ant-`), hides the rest.
pub fn mask(secret: &str) -> String {
    if secret.starts_with("-----BEGIN") {
        return "-----BEGIN ****".into();
    }
    let prefix = KNOWN_PREFIXES
        .iter()
        .find(|p| secret.starts_with(*p) && secret.len() > p.len() + 8)
        .copied()
        .unwrap_or("");
    format!("{prefix}****")
}

/// True when the variable name says its value is secret.
pub fn is_secret_name(name: &str) -> bool {
    secret_scan::is_secret_name(name)
}

/// Shannon entropy in bits per character.
pub fn entropy(s: &str) -> f64 {
    let mut counts = [0usize; 256];
    for b in s.bytes() {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

fn unquote(v: &str) -> &str {
    let v = v.trim();
    if v.len() >= 2
        && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\'')))
    {
        &v[1..v.len() - 1]
    } else {
        v
    }
}

/// A secret found in some text: what kind and the exact secret substring.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub kind: &'static str,
    pub secret: String,
}

/// Known-format secrets anywhere in `text` (placeholders excluded).
pub fn known_formats(text: &str) -> Vec<Hit> {
    let mut hits: Vec<Hit> = Vec::new();
    let found = FORMATS
        .iter()
        .map(|f| (f.kind, secret_scan::find_iter(f, text)))
        .chain([("private key", secret_scan::private_keys(text))]);
    for (kind, matches) in found {
        for s in matches {
            if defaults::is_placeholder(s) || hits.iter().any(|h| h.secret.contains(s)) {
                continue;
            }
            hits.push(Hit {
                kind,
                secret: s.to_string(),
            });
        }
    }
    hits
}

/// Secret in the value of variable `name` (known format, or high entropy when the name
/// says secret). `${VAR}` references and placeholders are not secrets.
pub fn in_assignment(name: &str, value: &str) -> Vec<Hit> {
    let value = unquote(value);
    let literal = secret_scan::strip_var_refs(value);
    if literal.trim().is_empty() || defaults::is_placeholder(value) {
        return Vec::new();
    }
    let hits = known_formats(value);
    if !hits.is_empty() {
        return hits;
    }
    let v = literal.trim();
    if is_secret_name(name)
        && v.len() >= 12
        && entropy(v) >= 3.0
        && !v.contains(' ')
        && !v.starts_with('/')
    {
        return vec![Hit {
            kind: "high-entropy value",
            secret: v.to_string(),
        }];
    }
    Vec::new()
}

/// Secrets in a free-form shell line (RUN): known formats plus `NAME=value` assignments.
pub fn in_shell(text: &str) -> Vec<Hit> {
    let mut hits = known_formats(text);
    for (name, value) in secret_scan::assignments(text) {
        for h in in_assignment(name, value) {
            if !hits
                .iter()
                .any(|x| x.secret.contains(&h.secret) || h.secret.contains(&x.secret))
            {
                hits.push(h);
            }
        }
    }
    hits
}

/// Masks every known-format secret and every secret-named assignment value in a line
/// (used on all evidence before it reaches any output).
pub fn redact(line: &str) -> String {
    let mut out = line.to_string();
    for h in in_shell(line) {
        out = out.replace(&h.secret, &mask(&h.secret));
    }
    // `NAME: value` (YAML) forms.
    if let Some((k, v)) = line.split_once(':') {
        let name = k.trim().trim_start_matches("- ").trim_matches('"');
        if !name.is_empty() && !name.contains(' ') {
            for h in in_assignment(name, v.trim()) {
                out = out.replace(&h.secret, &mask(&h.secret));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_formats_found_and_placeholders_not() {
        let k = "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz012345";
        assert_eq!(
            known_formats(&format!("KEY={k}"))[0].kind,
            "Anthropic API key"
        );
        assert_eq!(
            known_formats("AKIAIOSFODNN7EXAMPLE")[0].kind,
            "AWS access key id"
        );
        assert!(known_formats("sk-ant-demo-placeholder").is_empty());
        assert!(known_formats("-----BEGIN OPENSSH PRIVATE KEY-----").len() == 1);
        assert!(in_assignment("API_TOKEN", "${API_TOKEN}").is_empty());
        assert!(in_assignment("API_TOKEN", "change-me-to-a-long-random-token").is_empty());
        assert_eq!(in_assignment("API_TOKEN", "q8ZfT3vLx9Rk2PwYh7Nc").len(), 1);
        assert!(in_assignment("LOG_LEVEL", "q8ZfT3vLx9Rk2PwYh7Nc").is_empty());
        assert!(in_assignment("DB_PASSWORD", "aaaaaaaaaaaaaaa").is_empty());
    }

    #[test]
    fn redact_hides_secrets() {
        let k = "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz012345";
        let r = redact(&format!("ENV ANTHROPIC_API_KEY={k}"));
        assert!(!r.contains(k) && r.contains("****"), "{r}");
        let r = redact("      DB_PASSWORD: q8ZfT3vLx9Rk2PwYh7Nc");
        assert!(!r.contains("q8ZfT3vLx9Rk2PwYh7Nc"), "{r}");
        assert_eq!(mask("short"), "****");
        assert_eq!(mask("q8ZfT3vLx9Rk2PwYh7Nc"), "****");
        assert_eq!(mask(k), "sk-ant-****");
    }
}
