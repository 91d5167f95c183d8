//! Compose variable interpolation (`$VAR`, `${VAR}`, `${VAR:-d}`, `${VAR-d}`,
//! `${VAR:?err}`, `${VAR?err}`, `${VAR:+r}`, `${VAR+r}`, `$$`) and `.env` parsing.
//! Values from `.env` are used for decisions only and never printed.

use std::collections::HashMap;

/// Variables for interpolation: the process environment over the project's `.env`.
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl Env {
    /// `.env` values overridden by the process environment (compose's precedence).
    pub fn new(dotenv: Option<&str>) -> Env {
        let mut vars = dotenv
            .map(parse_dotenv)
            .unwrap_or_default()
            .into_iter()
            .collect::<HashMap<_, _>>();
        for (k, v) in std::env::vars() {
            vars.insert(k, v);
        }
        Env { vars }
    }

    #[cfg(test)]
    pub fn from_map(vars: HashMap<String, String>) -> Env {
        Env { vars }
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.vars.get(k).map(String::as_str)
    }
}

/// `KEY=VALUE` lines (optional `export `, quotes, `#` comments). Returns (key, value, line).
pub fn parse_dotenv_lines(text: &str) -> Vec<(String, String, usize)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let t = t.strip_prefix("export ").unwrap_or(t);
        let Some((k, v)) = t.split_once('=') else {
            continue;
        };
        let k = k.trim();
        if k.is_empty()
            || !k
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            continue;
        }
        let v = v.trim();
        let v = if v.len() >= 2
            && ((v.starts_with('"') && v.ends_with('"'))
                || (v.starts_with('\'') && v.ends_with('\'')))
        {
            v[1..v.len() - 1].to_string()
        } else {
            // Unquoted: an inline comment starts at ` #`.
            v.split(" #").next().unwrap_or("").trim().to_string()
        };
        out.push((k.to_string(), v, i + 1));
    }
    out
}

pub fn parse_dotenv(text: &str) -> Vec<(String, String)> {
    parse_dotenv_lines(text)
        .into_iter()
        .map(|(k, v, _)| (k, v))
        .collect()
}

/// Interpolates a compose string. The error names the variable, never its value. A
/// required variable without a value (`${VAR:?msg}`, `${VAR?msg}`) is an error here;
/// [`interpolate_noting`] records it instead and continues with the variable unset.
#[cfg(test)]
pub fn interpolate(s: &str, env: &Env) -> Result<String, String> {
    let mut missing = Vec::new();
    let v = interpolate_noting(s, env, &mut missing)?;
    match missing.first() {
        Some(m) => Err(format!(
            "required variable {} is missing a value: {}",
            m.name, m.message
        )),
        None => Ok(v),
    }
}

/// A required variable (`${VAR:?msg}` / `${VAR?msg}`) that has no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub name: String,
    /// The file's own message after `?` (never a value).
    pub message: String,
}

/// Interpolates like compose, except that a missing required variable is recorded in
/// `missing` and replaced by the empty string (the variable unset), as if the deployment
/// had not set it yet. Only malformed references are errors (compose rejects those
/// whatever the environment).
pub fn interpolate_noting(
    s: &str,
    env: &Env,
    missing: &mut Vec<Missing>,
) -> Result<String, String> {
    interpolate_at(s, env, 0, missing)
}

/// Nesting limit for `${A:-${B:-...}}`.
const MAX_DEPTH: usize = 16;

fn interpolate_at(
    s: &str,
    env: &Env,
    depth: usize,
    missing: &mut Vec<Missing>,
) -> Result<String, String> {
    if depth > MAX_DEPTH {
        return Err("interpolation nested too deeply".into());
    }
    if !s.contains('$') {
        return Ok(s.to_string());
    }
    let mut out = String::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '$' {
            out.push(c);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => {
                out.push('$');
                i += 2;
            }
            Some('{') => {
                let mut depth = 1;
                let mut j = i + 2;
                while j < chars.len() {
                    match chars[j] {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                if j >= chars.len() {
                    return Err(format!(
                        "invalid interpolation format in {s:?}: missing `}}`"
                    ));
                }
                let inner: String = chars[i + 2..j].iter().collect();
                out.push_str(&braced(&inner, env, depth, missing)?);
                i = j + 1;
            }
            Some(&n) if n.is_ascii_alphabetic() || n == '_' => {
                let mut j = i + 1;
                while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                let name: String = chars[i + 1..j].iter().collect();
                out.push_str(env.get(&name).unwrap_or(""));
                i = j;
            }
            _ => {
                out.push('$');
                i += 1;
            }
        }
    }
    Ok(out)
}

fn braced(
    inner: &str,
    env: &Env,
    depth: usize,
    missing: &mut Vec<Missing>,
) -> Result<String, String> {
    let mut interpolate = |s: &str, env: &Env| interpolate_at(s, env, depth + 1, missing);
    let end = inner
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(inner.len());
    let (name, op) = inner.split_at(end);
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!("invalid interpolation format: ${{{inner}}}"));
    }
    let val = env.get(name);
    let set_nonempty = val.is_some_and(|v| !v.is_empty());
    Ok(if op.is_empty() {
        val.unwrap_or("").to_string()
    } else if let Some(d) = op.strip_prefix(":-") {
        if set_nonempty {
            val.unwrap_or("").to_string()
        } else {
            interpolate(d, env)?
        }
    } else if let Some(d) = op.strip_prefix('-') {
        match val {
            Some(v) => v.to_string(),
            None => interpolate(d, env)?,
        }
    } else if let Some(m) = op.strip_prefix(":?") {
        if set_nonempty {
            val.unwrap_or("").to_string()
        } else {
            note_missing(missing, name, m);
            String::new()
        }
    } else if let Some(m) = op.strip_prefix('?') {
        match val {
            Some(v) => v.to_string(),
            None => {
                note_missing(missing, name, m);
                String::new()
            }
        }
    } else if let Some(r) = op.strip_prefix(":+") {
        if set_nonempty {
            interpolate(r, env)?
        } else {
            String::new()
        }
    } else if let Some(r) = op.strip_prefix('+') {
        if val.is_some() {
            interpolate(r, env)?
        } else {
            String::new()
        }
    } else {
        return Err(format!("invalid interpolation format: ${{{inner}}}"));
    })
}

fn note_missing(missing: &mut Vec<Missing>, name: &str, message: &str) {
    if !missing.iter().any(|m| m.name == name) {
        missing.push(Missing {
            name: name.to_string(),
            message: message.to_string(),
        });
    }
}

/// The literal defaults of `${NAME:-default}` / `${NAME-default}` references in `s`, as
/// `(NAME, default)`; nested references inside a default are not literals and skipped.
pub fn defaults_of(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(at) = rest.find("${") {
        let after = &rest[at + 2..];
        let name_len = after
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        let (name, op) = after.split_at(name_len);
        let default = op
            .strip_prefix(":-")
            .or_else(|| op.strip_prefix('-'))
            .and_then(|d| d.split_once('}').map(|(d, _)| d));
        if let Some(d) = default {
            if !name.is_empty() && !d.contains('$') {
                out.push((name.to_string(), d.to_string()));
            }
        }
        rest = after;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Env {
        Env::from_map(
            [("A", "1"), ("E", "")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn compose_forms() {
        let e = env();
        assert_eq!(interpolate("${A}:$A:$$A", &e).unwrap(), "1:1:$A");
        assert_eq!(
            interpolate("${E:-d}|${E-d}|${U-d}|${U:-${A}}", &e).unwrap(),
            "d||d|1"
        );
        assert_eq!(interpolate("${A:+x}${E:+y}${E+z}", &e).unwrap(), "xz");
        assert!(interpolate("${U:?set U}", &e).unwrap_err().contains("U"));
        assert!(interpolate("${E:?need}", &e).is_err());
        assert_eq!(interpolate("${E?need}", &e).unwrap(), "");
        assert!(interpolate("${A", &e).is_err());
        assert_eq!(interpolate("${U}", &e).unwrap(), "");
    }

    #[test]
    fn missing_required_variables_are_noted_and_unset() {
        let e = env();
        let mut missing = Vec::new();
        let v = interpolate_noting(
            "a${U:?set U}b${E:?need}c${U?again}${E?fine}",
            &e,
            &mut missing,
        )
        .unwrap();
        assert_eq!(v, "abc");
        let names: Vec<&str> = missing.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["U", "E"]);
        assert_eq!(missing[0].message, "set U");
        // Malformed references stay errors.
        assert!(interpolate_noting("${A", &e, &mut missing).is_err());
        assert!(interpolate_noting("${1A}", &e, &mut missing).is_err());
    }

    #[test]
    fn literal_defaults() {
        assert_eq!(
            defaults_of("${K:-0000}/${L-abc}/${M:-${N}}/${O}/${P:?x}"),
            vec![("K".into(), "0000".into()), ("L".into(), "abc".into())]
        );
    }

    #[test]
    fn dotenv() {
        let v = parse_dotenv("# c\nexport A=1\nB=\"two words\"\nC=x # note\nbad line\n");
        assert_eq!(
            v,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "x".into())
            ]
        );
    }
}
