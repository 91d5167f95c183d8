//! Secret detection and the one masking function every secret passes through.
//!
//! One detector for every file kind (compose `environment`/`labels`/`args`, Dockerfile
//! `ENV`/`ARG`/`LABEL`/`RUN`, env files, `.env.example`, Kubernetes `env`):
//! - known key formats anywhere (Anthropic, OpenAI, AWS, GitHub, Slack, private keys);
//! - the literal value of a credential-named key ([`is_secret_name`]) whatever its
//!   entropy, unless it is a reference (`${VAR}`, a `*_FILE`/`/run/secrets/...` path)
//!   or a placeholder (`defaults::is_placeholder`, the one vocabulary);
//! - a password inside a URL (`postgresql://user:pass@db/app`);
//! - a literal default of an interpolation whose variable or key is credential-named
//!   (`${ENCRYPTION_KEY:-0000...}`).
//!
//! In an example file (`.env.example`, committed to be copied) a value that only names
//! what belongs there (`mmuser_password`, `super-secret-key`: letters and separators) is
//! a placeholder too; in a deployed file the same literal is the credential in use.

use crate::defaults;
use crate::input::interp;
use crate::model::secret_scan::{self, FORMATS};

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

/// Name segments that make a key credential-named (`DB_PASSWORD`, `HF_TOKEN`,
/// `SMTP_PASS`, `GOOGLE_CREDENTIALS`).
const CREDENTIAL_SEGMENTS: &[&str] = &[
    "PASSWORD",
    "PASSWD",
    "PASS",
    "PASSPHRASE",
    "SECRET",
    "TOKEN",
    "CREDENTIAL",
    "CREDENTIALS",
    "APIKEY",
    "PRIVATEKEY",
];

/// Last name segments that say the value is about a credential, not the credential
/// (`PASSWORD_MIN_LENGTH`, `TOKEN_EXPIRY`, `POSTGRES_PASSWORD_FILE`, `AWS_ACCESS_KEY_ID`).
const QUALIFIER_SEGMENTS: &[&str] = &[
    "FILE",
    "PATH",
    "DIR",
    "LENGTH",
    "LEN",
    "MIN",
    "MAX",
    "LIMIT",
    "SIZE",
    "COUNT",
    "EXPIRE",
    "EXPIRES",
    "EXPIRY",
    "EXPIRATION",
    "TTL",
    "TIMEOUT",
    "SECONDS",
    "MINUTES",
    "HOURS",
    "DAYS",
    "AGE",
    "LIFETIME",
    "ENABLED",
    "ENABLE",
    "DISABLED",
    "DISABLE",
    "REQUIRED",
    "HEADER",
    "NAME",
    "TYPE",
    "ALGORITHM",
    "ID",
    "URL",
    "HOST",
    "PORT",
    "USER",
    "USERNAME",
    "PREFIX",
    "POLICY",
    "MODE",
    "METHOD",
    "FORMAT",
    "VERSION",
    "PROVIDER",
    "STORE",
    "BACKEND",
    "ROUNDS",
    "SIZE",
    "BYTES",
    "BITS",
];

/// Name segments that switch a feature rather than hold a credential (`ENABLE_AUTH`,
/// `REQUIRE_AUTH`, `AUTH_DISABLED`).
const SWITCH_SEGMENTS: &[&str] = &[
    "ENABLE", "ENABLED", "DISABLE", "DISABLED", "REQUIRE", "REQUIRED", "USE", "SKIP", "NO",
];

/// True when the variable name says its value is a credential: a segment of
/// [`CREDENTIAL_SEGMENTS`], `PASSWORD`/`SECRET`/`SALT` inside a word (`MYSQLPASSWORD`,
/// `PASSWORD_SALT`, `HASHSALT`), a last segment `KEY` (`*_KEY`, `SECRET_KEY_BASE`) or
/// `AUTH` (`REDIS_AUTH`, not a feature switch like `ENABLE_AUTH`); not when the last
/// segment is a qualifier ([`QUALIFIER_SEGMENTS`]), the name says `PUBLIC`, or it names
/// an identifier (`*_ACCESS_KEY`, `*_KEY_ID`: the id half of a key pair, whose secret half
/// says `SECRET`).
pub fn is_secret_name(name: &str) -> bool {
    let up = name.to_ascii_uppercase();
    let segs: Vec<&str> = up
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|s| !s.is_empty())
        .collect();
    let Some(last) = segs.last() else {
        return false;
    };
    if QUALIFIER_SEGMENTS.contains(last) || segs.contains(&"PUBLIC") {
        return false;
    }
    let identifier = segs.ends_with(&["ACCESS", "KEY"]) && !up.contains("SECRET");
    let switch = segs.iter().any(|s| SWITCH_SEGMENTS.contains(s));
    segs.iter().any(|s| CREDENTIAL_SEGMENTS.contains(s))
        || up.contains("PASSWORD")
        || up.contains("SECRET")
        || up.contains("SALT")
        || (*last == "KEY" && !identifier)
        || (*last == "AUTH" && segs.len() > 1 && !switch)
        || segs
            .windows(2)
            .any(|w| w == ["PRIVATE", "KEY"] || w == ["API", "KEY"])
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

/// Where a value was written: a file that deploys it, or an example to be copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Compose, Dockerfile, env files, manifests: the value is the one in use.
    Deployed,
    /// `.env.example`: committed on purpose; a value that only names its content
    /// (`mmuser_password`) is a placeholder.
    Example,
}

/// A value that is a reference to a secret kept elsewhere: `${VAR}`/`$VAR`, a path
/// (`/run/secrets/db`, `./secrets/key`), a `file:`/`vault:` style URI.
fn is_reference(value: &str) -> bool {
    let v = value.trim();
    v.starts_with('/')
        || v.starts_with("./")
        || v.starts_with("../")
        || v.starts_with("~/")
        || v.contains('$')
        || ["file:", "vault:", "secret:", "env:"]
            .iter()
            .any(|p| v.to_ascii_lowercase().starts_with(p))
}

/// Values that switch something, not secrets (`true`, `no`, `none`).
fn is_switch(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "true" | "false" | "yes" | "no" | "on" | "off" | "none" | "null" | "nil" | "~"
    )
}

/// A value made only of letters and separators (`mmuser_password`, `super-secret-key`):
/// in an example file it names what belongs there.
fn is_descriptive(value: &str) -> bool {
    let v = value.trim();
    !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphabetic() || matches!(c, '-' | '_' | '.' | ' '))
}

/// Whether a literal counts as a secret value of a credential-named key.
fn literal_is_secret(value: &str, origin: Origin) -> bool {
    let v = value.trim();
    !(v.is_empty()
        || defaults::is_placeholder(v)
        || is_reference(v)
        || is_switch(v)
        || (origin == Origin::Example && is_descriptive(v)))
}

/// Passwords inside URLs (`scheme://user:password@host`), as written.
pub fn url_passwords(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find("://") {
        let start = from + at + 3;
        let rest = &text[start..];
        let auth_end = rest
            .find(['/', '?', '#', ' ', '"', '\'', ',', ';'])
            .unwrap_or(rest.len());
        let authority = &rest[..auth_end];
        if let Some(at_sign) = authority.rfind('@') {
            if let Some((_, pass)) = authority[..at_sign].split_once(':') {
                if !pass.is_empty() {
                    out.push(pass);
                }
            }
        }
        from = start;
    }
    out
}

/// Secrets in the value of variable `name` in a deployed file (see [`in_value`]).
pub fn in_assignment(name: &str, value: &str) -> Vec<Hit> {
    in_value(name, value, Origin::Deployed)
}

/// Secrets in the value of `name` in an example file (see [`Origin::Example`]).
pub fn in_example(name: &str, value: &str) -> Vec<Hit> {
    in_value(name, value, Origin::Example)
}

/// The one detector (module header): what in `value`, assigned to `name`, is a secret.
pub fn in_value(name: &str, value: &str, origin: Origin) -> Vec<Hit> {
    let value = unquote(value);
    if value.trim().is_empty() {
        return Vec::new();
    }
    let mut hits = known_formats(value);
    let add = |hits: &mut Vec<Hit>, kind: &'static str, secret: &str| {
        if !hits
            .iter()
            .any(|h| h.secret.contains(secret) || secret.contains(h.secret.as_str()))
        {
            hits.push(Hit {
                kind,
                secret: secret.to_string(),
            });
        }
    };
    for pass in url_passwords(value) {
        if literal_is_secret(pass, origin) {
            add(&mut hits, "password in a URL", pass);
        }
    }
    for (var, default) in interp::defaults_of(value) {
        if (is_secret_name(&var) || is_secret_name(name)) && literal_is_secret(&default, origin) {
            add(&mut hits, "secret as an interpolation default", &default);
        }
    }
    let v = value.trim();
    if hits.is_empty() && is_secret_name(name) && literal_is_secret(v, origin) {
        let kind = if v.len() >= 12 && entropy(v) >= 3.0 && !v.contains(' ') {
            "high-entropy value"
        } else {
            "literal credential"
        };
        add(&mut hits, kind, v);
    }
    hits
}

/// Secrets in a free-form shell line (RUN): known formats, passwords in URLs, and
/// `NAME=value` assignments judged as [`in_assignment`].
pub fn in_shell(text: &str) -> Vec<Hit> {
    let mut hits = known_formats(text);
    let url = url_passwords(text)
        .into_iter()
        .filter(|p| literal_is_secret(p, Origin::Deployed))
        .map(|p| Hit {
            kind: "password in a URL",
            secret: p.to_string(),
        });
    let assigned = secret_scan::assignments(text)
        .into_iter()
        .flat_map(|(name, value)| in_assignment(name, value));
    for h in url.chain(assigned).collect::<Vec<_>>() {
        if !hits
            .iter()
            .any(|x| x.secret.contains(&h.secret) || h.secret.contains(&x.secret))
        {
            hits.push(h);
        }
    }
    hits
}

/// `line` with every occurrence of `secret` after the first `=` or `:` masked (the key
/// name before it stays readable even when the value repeats it).
fn mask_in(line: &str, secret: &str) -> String {
    if secret.is_empty() {
        return line.to_string();
    }
    let start = line.find(['=', ':']).map(|i| i + 1).unwrap_or(0);
    let (head, tail) = line.split_at(start);
    format!("{head}{}", tail.replace(secret, &mask(secret)))
}

/// `apiKey` -> `api_Key`: camelCase keys (OpenClaw's config) read as the detector's
/// variable names.
pub fn camel_to_snake(key: &str) -> String {
    let mut s = String::new();
    for (i, c) in key.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            s.push('_');
        }
        s.push(c);
    }
    s
}

/// The `key: value` pairs of a line with inline mappings (`a: { token: "x", id: 'y' }`):
/// each key (bare or quoted) before a `:` and the quoted string or bare word after it.
fn inline_members(line: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    for (i, _) in line.match_indices(':') {
        let before = line[..i].trim_end();
        let key = before
            .trim_end_matches(['"', '\''])
            .rsplit(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
            .next()
            .unwrap_or_default();
        if key.is_empty() {
            continue;
        }
        let rest = line[i + 1..].trim_start();
        let value = match rest.as_bytes().first() {
            Some(&q @ (b'"' | b'\'')) => rest[1..].split(q as char).next().unwrap_or_default(),
            Some(_) => rest.split([',', '}', ']', ' ']).next().unwrap_or_default(),
            None => "",
        };
        if !value.is_empty() {
            out.push((key, value));
        }
    }
    out
}

/// Masks every secret the detector finds in a line (used on all evidence before it
/// reaches any output): `NAME=value` and `NAME: value` forms, URLs, known formats.
pub fn redact(line: &str) -> String {
    let mut hits = in_shell(line);
    // `NAME: value` (YAML) forms.
    if let Some((k, v)) = line.split_once(':') {
        let name = k.trim().trim_start_matches("- ").trim_matches(['"', '\'']);
        if !name.is_empty() && !name.contains(' ') {
            hits.extend(in_assignment(name, v.trim()));
        }
    }
    // `key: "value"` members of JSON5/JSON/YAML flow mappings (`{token: "..."}`).
    for (k, v) in inline_members(line) {
        hits.extend(in_assignment(&camel_to_snake(k), v));
    }
    let mut out = line.to_string();
    for h in hits {
        out = if h.secret.starts_with("-----BEGIN") || known_formats(&h.secret).len() == 1 {
            out.replace(&h.secret, &mask(&h.secret))
        } else {
            mask_in(&out, &h.secret)
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_masks_inline_mapping_members() {
        let line = r#"auth: { mode: "token", token: "9b1f4c7e2a6d8035c1e97f4a2b6d0e83" },"#;
        let out = redact(line);
        assert!(!out.contains("9b1f4c7e2a6d"), "{out}");
        assert!(out.contains(r#"mode: "token""#), "{out}");
        let out = redact("openai: { apiKey: 'q8ZfT3vLx9Rk2PwYh7Nc' }");
        assert!(!out.contains("q8ZfT3vLx9Rk"), "{out}");
        assert_eq!(
            redact("apiKey: \"${OPENAI_API_KEY}\""),
            "apiKey: \"${OPENAI_API_KEY}\""
        );
    }

    #[test]
    fn known_formats_found_and_placeholders_not() {
        let k = "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz012345";
        assert_eq!(
            known_formats(&format!("KEY={k}"))[0].kind,
            "Anthropic API key"
        );
        assert_eq!(
            known_formats("AKIAQ3EGRFBZ7NW5KT2M")[0].kind,
            "AWS access key id"
        );
        assert!(known_formats("sk-ant-demo-placeholder").is_empty());
        assert!(known_formats("-----BEGIN OPENSSH PRIVATE KEY-----").len() == 1);
        assert!(in_assignment("API_TOKEN", "${API_TOKEN}").is_empty());
        assert!(in_assignment("API_TOKEN", "change-me-to-a-long-random-token").is_empty());
        assert_eq!(in_assignment("API_TOKEN", "q8ZfT3vLx9Rk2PwYh7Nc").len(), 1);
        assert!(in_assignment("LOG_LEVEL", "q8ZfT3vLx9Rk2PwYh7Nc").is_empty());
        assert_eq!(in_assignment("DB_PASSWORD", "aaaaaaaaaaaaaaa").len(), 1);
    }

    /// Credential-named keys: any literal is a finding, whatever its entropy.
    #[test]
    fn credential_literals_whatever_their_entropy() {
        for (k, v) in [
            ("POSTGRES_PASSWORD", "mypassword"),
            ("KHOJ_ADMIN_PASSWORD", "password"),
            ("SECRET_KEY", "secret"),
            ("SECRET_KEY_BASE", "abc"),
            ("SMTP_PASS", "hunter2"),
            ("HF_TOKEN", "'tok'"),
            ("GOOGLE_CREDENTIALS", "\"{}\""),
            ("mysqlpassword", "root"),
            ("NEXTAUTH_SECRET", "super-secret-key"),
            ("JWT_KEY", "0000"),
            ("REDIS_AUTH", "myredissecret"),
            ("BASIC_AUTH", "admin:hunter2"),
            ("PASSWORD_SALT", "salty"),
            ("SALT", "x9f3"),
            ("HASHSALT", "abcdef"),
            ("RELAY_SHARED_SECRET", "supersecret"),
            ("MQTT_PASS", "guest1"),
            ("AWS_SECRET_ACCESS_KEY", "abc123"),
        ] {
            let hits = in_assignment(k, v);
            assert_eq!(hits.len(), 1, "{k}={v}: {hits:?}");
        }
        for (k, v) in [
            ("POSTGRES_PASSWORD", "${POSTGRES_PASSWORD}"),
            ("POSTGRES_PASSWORD", "$POSTGRES_PASSWORD"),
            ("POSTGRES_PASSWORD_FILE", "/run/secrets/db_password"),
            ("DB_PASSWORD", "/run/secrets/db"),
            ("PASSWORD_MIN_LENGTH", "8"),
            ("ACCESS_TOKEN_EXPIRE_MINUTES", "30"),
            ("AWS_ACCESS_KEY_ID", "abc"),
            ("OPENAI_MAX_TOKENS", "4096"),
            ("TOKENIZER", "gpt2"),
            ("MONKEY", "banana"),
            ("PUBLIC_KEY", "abc"),
            ("KEYCLOAK_REALM", "master"),
            ("REDIS_PASSWORD", ""),
            ("ADMIN_PASSWORD", "changeme"),
            ("SECRET_KEY", "generate_a_new_key"),
            ("OPENAI_API_KEY", "sk-proj-REPLACE_ME"),
            ("API_KEY", "user_provided"),
            ("API_KEY", "<your key>"),
            ("TOKEN_AUTH_ENABLED", "true"),
            ("SECRET_KEY", "dummy"),
            ("PWD", "/app"),
            ("AWS_ACCESS_KEY", "AKIAEXAMPLEID"),
            ("MINIO_ACCESS_KEY", "minio-admin"),
            ("S3_KEY_ID", "abc"),
            ("ENABLE_AUTH", "true"),
            ("REQUIRE_AUTH", "1"),
            ("AUTH_DISABLED", "false"),
            ("SALT_ROUNDS", "10"),
        ] {
            assert!(in_assignment(k, v).is_empty(), "{k}={v}");
        }
    }

    /// Example files: names of what belongs there are placeholders, real values are not.
    #[test]
    fn example_files_accept_descriptive_values() {
        for (k, v) in [
            ("MM_PASSWORD", "mmuser_password"),
            ("SECRET_KEY", "super-secret-key"),
            ("POSTGRES_PASSWORD", "postgres"),
            ("OPENAI_API_KEY", "user_provided"),
            ("SECRET", "generate_a_new_key"),
            (
                "DATASOURCE",
                "postgres://mmuser:mmuser_password@db:5432/mattermost",
            ),
        ] {
            assert!(in_example(k, v).is_empty(), "{k}={v}");
        }
        assert_eq!(in_example("SECRET_KEY", "q8ZfT3vLx9Rk2PwYh7Nc").len(), 1);
        assert_eq!(in_example("DB_PASSWORD", "Passw0rd1").len(), 1);
        assert_eq!(in_example("X", "postgres://u:s3cr3t99@db/app").len(), 1);
    }

    #[test]
    fn urls_and_interpolation_defaults() {
        let h = in_assignment("DATABASE_URL", "postgresql://user:pass@db:5432/app");
        assert_eq!(
            (h.len(), h[0].kind, h[0].secret.as_str()),
            (1, "password in a URL", "pass")
        );
        assert!(
            in_assignment("DATABASE_URL", "postgresql://user:${DB_PASSWORD}@db/app").is_empty()
        );
        assert!(in_assignment("DATABASE_URL", "postgresql://user@db/app").is_empty());
        // Connection strings of each shape: an empty user (Redis), SRV records (MongoDB).
        for (url, password) in [
            ("redis://:r3d1s-pw@cache:6379/0", "r3d1s-pw"),
            ("rediss://default:r3d1s-pw@cache:6380", "r3d1s-pw"),
            (
                "mongodb+srv://notes:m0ng0-pw@cluster0.example.net/notes?retryWrites=true",
                "m0ng0-pw",
            ),
            ("postgres://u:pw@h/db", "pw"),
            ("amqp://app:s3cret@rabbit:5672/", "s3cret"),
        ] {
            let h = in_assignment("CACHE", url);
            assert_eq!(h.len(), 1, "{url}: {h:?}");
            assert_eq!(
                (h[0].kind, h[0].secret.as_str()),
                ("password in a URL", password)
            );
        }
        for url in [
            "redis://cache:6379/0",
            "redis://:@cache:6379",
            "mongodb+srv://notes:${MONGO_PASSWORD}@cluster0.example.net/notes",
            "mongodb://cluster0.example.net:27017/notes",
        ] {
            assert!(in_assignment("CACHE", url).is_empty(), "{url}");
        }
        assert!(in_assignment("URL", "https://example.com/a:b@c").is_empty());
        let h = in_assignment("ENCRYPTION_KEY", "${ENCRYPTION_KEY:-0000000000000000}");
        assert_eq!(
            (h.len(), h[0].kind),
            (1, "secret as an interpolation default")
        );
        let h = in_assignment("DB", "${DB_PASSWORD-postgres}");
        assert_eq!(h.len(), 1);
        assert!(in_assignment("LOG_LEVEL", "${LOG_LEVEL:-info}").is_empty());
        assert!(in_assignment("DB_PASSWORD", "${DB_PASSWORD:-changeme}").is_empty());
        assert!(in_assignment("DB_PASSWORD", "${DB_PASSWORD:?set it}").is_empty());
        // RUN lines: assignments, URLs; build-time dummies are not secrets.
        assert!(in_shell("SECRET_KEY=dummy python manage.py collectstatic").is_empty());
        assert_eq!(
            in_shell("pip install -i https://bot:t0ps3cret@pypi.internal/simple x").len(),
            1
        );
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
        for line in [
            "      POSTGRES_PASSWORD: mypassword",
            "      - KHOJ_ADMIN_PASSWORD=password",
            "  DATABASE_URL: postgresql://user:pass@db/app",
            "  KEY: ${ENCRYPTION_KEY:-0000000000000000}",
        ] {
            let r = redact(line);
            assert!(r.contains("****"), "{line} -> {r}");
        }
        assert_eq!(
            redact("      - KHOJ_ADMIN_PASSWORD=password"),
            "      - KHOJ_ADMIN_PASSWORD=****"
        );
        assert!(!redact("  DATABASE_URL: postgresql://user:pass@db/app").contains(":pass@"));
    }
}
