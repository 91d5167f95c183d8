//! Dockerfile parser that keeps positions: parser directives (`# escape=`), comments,
//! line continuations, heredocs, JSON and shell forms, flags, multi-stage builds with
//! named stages, and ARG/ENV substitution for the values that decide a rule.
//!
//! Depends on std and serde_json only, so the fuzz targets can include it by path.

use std::collections::HashMap;
use std::fmt;

/// A parse error with a 1-based position.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

/// Arguments of an instruction.
#[derive(Debug, Clone, PartialEq)]
pub enum Form {
    /// `["a", "b"]`
    Json(Vec<String>),
    /// Everything after the keyword and flags, continuations joined with a space.
    Shell(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Heredoc {
    pub name: String,
    pub body: String,
    /// Line of the first body line.
    pub line: usize,
}

/// One instruction with its position (line and column of the keyword).
#[derive(Debug, Clone, PartialEq)]
pub struct Instr {
    /// Upper-case keyword, e.g. `RUN`.
    pub keyword: String,
    pub flags: Vec<(String, Option<String>)>,
    pub form: Form,
    pub heredocs: Vec<Heredoc>,
    pub line: usize,
    pub column: usize,
    /// Last physical line of the instruction (continuations, heredocs).
    pub end_line: usize,
}

impl Instr {
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_deref().unwrap_or(""))
    }

    /// Arguments as one string (JSON form joined with spaces).
    pub fn text(&self) -> String {
        match &self.form {
            Form::Json(v) => v.join(" "),
            Form::Shell(s) => s.clone(),
        }
    }

    /// Whitespace-separated words of the shell form (JSON elements for JSON form).
    pub fn words(&self) -> Vec<String> {
        match &self.form {
            Form::Json(v) => v.clone(),
            Form::Shell(s) => s.split_whitespace().map(str::to_owned).collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    /// The FROM instruction.
    pub from: Instr,
    /// Image reference as written (before substitution).
    pub image: String,
    pub name: Option<String>,
    pub instrs: Vec<Instr>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Dockerfile {
    pub escape: char,
    /// ARG instructions before the first FROM.
    pub global_args: Vec<Instr>,
    pub stages: Vec<Stage>,
}

const KEYWORDS: &[&str] = &[
    "FROM",
    "RUN",
    "CMD",
    "LABEL",
    "MAINTAINER",
    "EXPOSE",
    "ENV",
    "ADD",
    "COPY",
    "ENTRYPOINT",
    "VOLUME",
    "USER",
    "WORKDIR",
    "ARG",
    "ONBUILD",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
];

fn err(line: usize, column: usize, message: impl Into<String>) -> ParseError {
    ParseError {
        line,
        column,
        message: message.into(),
    }
}

/// Parses Dockerfile text.
pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let (escape, mut i) = directives(&lines)?;
    let mut df = Dockerfile {
        escape,
        ..Default::default()
    };
    while i < lines.len() {
        let raw = lines[i];
        let t = raw.trim_start();
        if t.is_empty() || t.starts_with('#') {
            i += 1;
            continue;
        }
        let start = i;
        let column = raw.len() - t.len() + 1;
        let logical = logical_line(&lines, &mut i, escape);
        let end_line = i.min(lines.len() - 1);
        i = end_line + 1;

        let (kw, rest) = match logical.find(char::is_whitespace) {
            Some(p) => (&logical[..p], logical[p..].trim()),
            None => (logical.as_str(), ""),
        };
        let keyword = kw.to_ascii_uppercase();
        if !KEYWORDS.contains(&keyword.as_str()) {
            return Err(err(
                start + 1,
                column,
                format!("unknown instruction {kw:?} (a typo, or a continuation line missing its trailing {escape})"),
            ));
        }
        let mut instr = parse_instr(&keyword, rest, start + 1, column, end_line + 1)?;
        // Heredocs (RUN, COPY, ADD): bodies follow the instruction.
        if matches!(keyword.as_str(), "RUN" | "COPY" | "ADD") {
            read_heredocs(&mut instr, &lines, &mut i, (start + 1, column))?;
        }
        place(&mut df, instr, &keyword, (start + 1, column))?;
    }
    if df.stages.is_empty() {
        return Err(err(1, 1, "no FROM instruction (file with no build stage)"));
    }
    Ok(df)
}

/// Parser directives, only at the very top (`# key=value`): the escape character and
/// the index of the first line after them.
fn directives(lines: &[&str]) -> Result<(char, usize), ParseError> {
    let mut escape = '\\';
    let mut i = 0;
    while i < lines.len() {
        let t = lines[i].trim();
        let Some(rest) = t.strip_prefix('#') else {
            break;
        };
        let Some((k, v)) = rest.split_once('=') else {
            break;
        };
        let k = k.trim().to_ascii_lowercase();
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphabetic()) {
            break;
        }
        if k == "escape" {
            escape = match v.trim() {
                "\\" => '\\',
                "`" => '`',
                other => {
                    return Err(err(
                        i + 1,
                        1,
                        format!("invalid escape directive {other:?} (use \\ or `)"),
                    ))
                }
            };
        }
        i += 1;
    }
    Ok((escape, i))
}

/// The instruction starting at `lines[*i]` with its continuation lines joined (comment
/// and empty lines inside a continuation skipped); `*i` is left on its last line.
fn logical_line(lines: &[&str], i: &mut usize, escape: char) -> String {
    let mut logical = String::new();
    let mut cur = lines[*i].trim().to_string();
    loop {
        if let Some(stripped) = cur.strip_suffix(escape) {
            logical.push_str(stripped);
            logical.push(' ');
            *i += 1;
            while *i < lines.len() {
                let n = lines[*i].trim();
                if n.is_empty() || n.starts_with('#') {
                    *i += 1;
                } else {
                    break;
                }
            }
            if *i >= lines.len() {
                break;
            }
            cur = lines[*i].trim().to_string();
        } else {
            logical.push_str(&cur);
            break;
        }
    }
    logical
}

/// Reads the heredoc bodies a shell-form RUN/COPY/ADD announces (`<<EOF`, `<<-EOF`),
/// from `lines[*i]` on; `at` is the instruction's line and column for errors.
fn read_heredocs(
    instr: &mut Instr,
    lines: &[&str],
    i: &mut usize,
    at: (usize, usize),
) -> Result<(), ParseError> {
    let Form::Shell(s) = &instr.form else {
        return Ok(());
    };
    for (name, strip_tabs) in heredoc_names(s) {
        let body_start = *i;
        let mut body = String::new();
        loop {
            if *i >= lines.len() {
                return Err(err(at.0, at.1, format!("unterminated heredoc <<{name}")));
            }
            let l = if strip_tabs {
                lines[*i].trim_start_matches('\t')
            } else {
                lines[*i]
            };
            *i += 1;
            if l == name {
                break;
            }
            body.push_str(l);
            body.push('\n');
        }
        instr.heredocs.push(Heredoc {
            name,
            body,
            line: body_start + 1,
        });
        instr.end_line = *i;
    }
    Ok(())
}

/// Puts an instruction in its place: a FROM opens a stage, others go to the current
/// stage, an ARG before the first FROM is global; `at` is its line and column.
fn place(
    df: &mut Dockerfile,
    instr: Instr,
    keyword: &str,
    at: (usize, usize),
) -> Result<(), ParseError> {
    if keyword == "FROM" {
        let words = instr.words();
        let Some(image) = words.first().cloned() else {
            return Err(err(at.0, at.1, "FROM needs an image"));
        };
        let name = match (words.get(1), words.get(2)) {
            (Some(a), Some(n)) if a.eq_ignore_ascii_case("as") => Some(n.to_ascii_lowercase()),
            (None, _) => None,
            _ => return Err(err(at.0, at.1, "FROM takes `image [AS name]`")),
        };
        df.stages.push(Stage {
            from: instr,
            image,
            name,
            instrs: Vec::new(),
        });
    } else if let Some(stage) = df.stages.last_mut() {
        stage.instrs.push(instr);
    } else if keyword == "ARG" {
        df.global_args.push(instr);
    } else {
        return Err(err(at.0, at.1, format!("{keyword} before the first FROM")));
    }
    Ok(())
}

fn parse_instr(
    keyword: &str,
    rest: &str,
    line: usize,
    column: usize,
    end_line: usize,
) -> Result<Instr, ParseError> {
    let mut rest = rest;
    let mut flags = Vec::new();
    if keyword != "ONBUILD" {
        while let Some(f) = rest.strip_prefix("--") {
            let end = f.find(char::is_whitespace).unwrap_or(f.len());
            let tok = &f[..end];
            match tok.split_once('=') {
                Some((n, v)) => flags.push((n.to_string(), Some(v.to_string()))),
                None => flags.push((tok.to_string(), None)),
            }
            rest = f[end..].trim_start();
        }
    }
    let json_ok = matches!(
        keyword,
        "RUN" | "CMD" | "ENTRYPOINT" | "SHELL" | "COPY" | "ADD" | "VOLUME"
    );
    let form = if json_ok && rest.starts_with('[') {
        match serde_json::from_str::<Vec<String>>(rest) {
            Ok(v) => Form::Json(v),
            // Docker falls back to the shell form when the JSON is invalid.
            Err(_) => Form::Shell(rest.to_string()),
        }
    } else {
        Form::Shell(rest.to_string())
    };
    Ok(Instr {
        keyword: keyword.to_string(),
        flags,
        form,
        heredocs: Vec::new(),
        line,
        column,
        end_line,
    })
}

/// Heredoc markers in a shell-form line: `<<EOF`, `<<-EOF`, `<<"EOF"`, `<<'EOF'`.
fn heredoc_names(s: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i + 2 < b.len() {
        if b[i] == b'<' && b[i + 1] == b'<' && (i == 0 || b[i - 1] != b'<') {
            let mut j = i + 2;
            let strip = j < b.len() && b[j] == b'-';
            if strip {
                j += 1;
            }
            let quote = if j < b.len() && (b[j] == b'"' || b[j] == b'\'') {
                Some(b[j])
            } else {
                None
            };
            if quote.is_some() {
                j += 1;
            }
            let st = j;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                j += 1;
            }
            if j > st && (quote.is_none() || (j < b.len() && Some(b[j]) == quote)) {
                out.push((s[st..j].to_string(), strip));
            }
            i = j.max(i + 2);
        } else {
            i += 1;
        }
    }
    out
}

/// Splits `k=v k2="v 2"` (ENV/ARG/LABEL) or the legacy `ENV k v` form into pairs.
/// A bare `ARG NAME` gives `(NAME, None)`.
pub fn pairs(text: &str) -> Vec<(String, Option<String>)> {
    let text = text.trim();
    let first = text.split_whitespace().next().unwrap_or("");
    if !first.contains('=') {
        // Legacy `ENV key value with spaces` or bare `ARG NAME`.
        let rest = text[first.len()..].trim();
        if first.is_empty() {
            return Vec::new();
        }
        return vec![(first.to_string(), (!rest.is_empty()).then(|| unquote(rest)))];
    }
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        let mut tok = String::new();
        let mut quote: Option<char> = None;
        while i < chars.len() {
            let c = chars[i];
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => tok.push(c),
                None if c == '"' || c == '\'' => quote = Some(c),
                None if c == '\\' && i + 1 < chars.len() => {
                    i += 1;
                    tok.push(chars[i]);
                }
                None if c.is_whitespace() => break,
                None => tok.push(c),
            }
            i += 1;
        }
        if tok.is_empty() {
            continue;
        }
        match tok.split_once('=') {
            Some((k, v)) => out.push((k.to_string(), Some(v.to_string()))),
            None => out.push((tok, None)),
        }
    }
    out
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    if v.len() >= 2
        && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\'')))
    {
        v[1..v.len() - 1].to_string()
    } else {
        v.to_string()
    }
}

/// Substitutes `$VAR`, `${VAR}`, `${VAR:-x}`, `${VAR-x}`, `${VAR:+x}`, `${VAR+x}`.
/// Returns `None` when a variable is unknown and has no default (the value is undecided).
pub fn substitute(s: &str, vars: &HashMap<String, String>) -> Option<String> {
    substitute_at(s, vars, 0)
}

/// Nesting limit for `${A:-${B:-...}}` (deeper input is undecided, not a stack overflow).
const MAX_DEPTH: usize = 16;

fn substitute_at(s: &str, vars: &HashMap<String, String>, depth: usize) -> Option<String> {
    if depth > MAX_DEPTH {
        return None;
    }
    let substitute = |s: &str, vars: &HashMap<String, String>| substitute_at(s, vars, depth + 1);
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek() == Some(&'$') {
            out.push('$');
            chars.next();
            continue;
        }
        if c != '$' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'{') {
            chars.next();
            let mut inner = String::new();
            let mut depth = 1;
            for c in chars.by_ref() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                inner.push(c);
            }
            let name_end = inner
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(inner.len());
            let (name, op) = inner.split_at(name_end);
            let val = vars.get(name);
            let resolved = if let Some(d) = op.strip_prefix(":-") {
                match val {
                    Some(v) if !v.is_empty() => v.clone(),
                    _ => substitute(d, vars)?,
                }
            } else if let Some(d) = op.strip_prefix('-') {
                match val {
                    Some(v) => v.clone(),
                    None => substitute(d, vars)?,
                }
            } else if let Some(a) = op.strip_prefix(":+") {
                match val {
                    Some(v) if !v.is_empty() => substitute(a, vars)?,
                    _ => String::new(),
                }
            } else if let Some(a) = op.strip_prefix('+') {
                match val {
                    Some(_) => substitute(a, vars)?,
                    None => String::new(),
                }
            } else {
                val?.clone()
            };
            out.push_str(&resolved);
        } else {
            let mut name = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_ascii_alphanumeric() || c == '_' {
                    name.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            if name.is_empty() {
                out.push('$');
            } else {
                out.push_str(vars.get(&name)?);
            }
        }
    }
    Some(out)
}

/// Variables visible at each instruction of a stage: global ARG defaults re-declared by
/// `ARG NAME`, stage `ARG NAME=default` and `ENV`. Calls `f(instr, vars)` in order.
pub fn walk_stage<'a>(
    df: &Dockerfile,
    stage: &'a Stage,
    mut f: impl FnMut(&'a Instr, &HashMap<String, String>),
) {
    let globals = global_vars(df);
    let mut vars: HashMap<String, String> = HashMap::new();
    for instr in &stage.instrs {
        f(instr, &vars);
        match instr.keyword.as_str() {
            "ARG" => {
                for (k, v) in pairs(&instr.text()) {
                    let value = match v {
                        Some(v) => substitute(&v, &vars),
                        None => globals.get(&k).cloned(),
                    };
                    if let Some(v) = value {
                        vars.insert(k, v);
                    }
                }
            }
            "ENV" => {
                for (k, v) in pairs(&instr.text()) {
                    if let Some(v) = v.and_then(|v| substitute(&v, &vars)) {
                        vars.insert(k, v);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Global ARG defaults (usable in FROM lines).
pub fn global_vars(df: &Dockerfile) -> HashMap<String, String> {
    let mut vars = HashMap::new();
    for a in &df.global_args {
        for (k, v) in pairs(&a.text()) {
            if let Some(v) = v.and_then(|v| substitute(&v, &vars)) {
                vars.insert(k, v);
            }
        }
    }
    vars
}

// What an image built from a Dockerfile is: the judged stage, its USER, its HEALTHCHECK.
// Read by the Dockerfile rules and by the posture adapters alike.

/// Index of the stage a build judges: the `target` stage (by name, ASCII case
/// ignored), else the final stage. `None` when the target names no stage.
pub fn stage_index(df: &Dockerfile, target: Option<&str>) -> Option<usize> {
    match target {
        None => df.stages.len().checked_sub(1),
        Some(t) => {
            let t = t.to_ascii_lowercase();
            df.stages
                .iter()
                .position(|s| s.name.as_deref() == Some(t.as_str()))
        }
    }
}

/// Chain of stages the judged stage builds on (that stage first).
fn lineage<'a>(df: &'a Dockerfile, target: Option<&str>) -> Vec<&'a Stage> {
    let mut chain = Vec::new();
    let mut cur = stage_index(df, target).and_then(|i| df.stages.get(i));
    while let Some(s) = cur {
        if chain.iter().any(|c: &&Stage| std::ptr::eq(*c, s)) {
            break;
        }
        chain.push(s);
        let parent = s.image.to_ascii_lowercase();
        cur = df
            .stages
            .iter()
            .find(|p| p.name.as_deref() == Some(parent.as_str()) && !std::ptr::eq(*p, s));
    }
    chain
}

/// True when the image's final stage (or a stage it builds on) has a HEALTHCHECK other
/// than `HEALTHCHECK NONE` as its last word on the matter.
pub fn has_healthcheck(df: &Dockerfile) -> bool {
    has_healthcheck_at(df, None)
}

/// [`has_healthcheck`] for the image of the `target` stage (`None`: the final stage).
pub fn has_healthcheck_at(df: &Dockerfile, target: Option<&str>) -> bool {
    for stage in lineage(df, target) {
        if let Some(h) = stage
            .instrs
            .iter()
            .rev()
            .find(|i| i.keyword == "HEALTHCHECK")
        {
            return !h.text().trim().eq_ignore_ascii_case("none");
        }
    }
    false
}

/// The effective `USER` of the judged stage (see [`stage_index`]): `Some(Some(value))` when set and resolved,
/// `Some(None)` when set but not resolvable, `None` when never set.
pub fn final_user<'a>(
    df: &'a Dockerfile,
    target: Option<&str>,
) -> Option<(Option<String>, &'a Instr)> {
    for stage in lineage(df, target) {
        let mut found = None;
        walk_stage(df, stage, |instr, vars| {
            if instr.keyword == "USER" {
                found = Some((substitute(instr.text().trim(), vars), instr));
            }
        });
        if let Some((v, i)) = found {
            return Some((v, i));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stages_continuations_heredocs_and_forms() {
        let text = "# syntax=docker/dockerfile:1\n# escape=\\\nARG BASE=alpine:3.20\nFROM ${BASE} AS build\nRUN apk add \\\n  # a comment\n  curl\nCOPY <<EOF /etc/x\nhello\nEOF\nFROM scratch\nCOPY --from=build /x /x\nUSER 1000:1000\nENTRYPOINT [\"/x\", \"serve\"]\n";
        let df = parse(text).unwrap();
        assert_eq!(df.stages.len(), 2);
        assert_eq!(df.stages[0].name.as_deref(), Some("build"));
        let run = &df.stages[0].instrs[0];
        assert_eq!((run.line, run.end_line), (5, 7));
        assert_eq!(run.text(), "apk add  curl");
        let copy = &df.stages[0].instrs[1];
        assert_eq!(copy.heredocs[0].body, "hello\n");
        assert_eq!(df.stages[1].from.line, 11);
        assert_eq!(df.stages[1].instrs[0].flag("from"), Some("build"));
        assert_eq!(
            df.stages[1].instrs[2].form,
            Form::Json(vec!["/x".into(), "serve".into()])
        );
        assert_eq!(
            substitute(&df.stages[0].image, &global_vars(&df)).unwrap(),
            "alpine:3.20"
        );
    }

    #[test]
    fn escape_directive_and_errors() {
        let df = parse("# escape=`\nFROM x\nRUN a `\n  b\n").unwrap();
        assert_eq!(df.stages[0].instrs[0].text(), "a  b");
        assert_eq!(parse("FROBNICATE x\n").unwrap_err().line, 1);
        assert_eq!(
            parse("").unwrap_err().message,
            "no FROM instruction (file with no build stage)"
        );
        assert_eq!(parse("FROM x\nRUN <<EOF\nno end\n").unwrap_err().line, 2);
        assert!(parse("RUN x\n").is_err());
    }

    #[test]
    fn substitution_and_pairs() {
        let mut v = HashMap::new();
        v.insert("UID".to_string(), "1000".to_string());
        assert_eq!(substitute("${UID}:${GID:-1000}", &v).unwrap(), "1000:1000");
        assert_eq!(substitute("$NOPE", &v), None);
        assert_eq!(
            pairs("A=1 B=\"two words\""),
            vec![
                ("A".into(), Some("1".into())),
                ("B".into(), Some("two words".into()))
            ]
        );
        assert_eq!(
            pairs("KEY some value"),
            vec![("KEY".into(), Some("some value".into()))]
        );
    }
}
