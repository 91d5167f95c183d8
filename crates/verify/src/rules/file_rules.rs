//! Rules on the project's other files: `.gitignore`, `.dockerignore` (per build
//! context), `.env.example`, `env_file:` files and git state.

use std::path::Path;

use ignore::gitignore::GitignoreBuilder;

use super::Out;
use crate::input::dockerfile::Form;
use crate::input::interp::parse_dotenv_lines;
use crate::model::secrets;
use crate::vocab::catalog::RuleId;
use crate::Severity;

/// Whether the ignore file (gitignore semantics) at `file` ignores `root/.env`.
fn ignores_env(root: &Path, text: &str) -> bool {
    literally_ignores_env(text) || ignores(root, text, ".env")
}

/// Whether an ignore file in `dir` (gitignore semantics, as `.dockerignore` is close
/// enough to) ignores `dir/rel`.
pub fn ignores(dir: &Path, text: &str, rel: &str) -> bool {
    let mut b = GitignoreBuilder::new(dir);
    for line in text.lines() {
        // A bad pattern is skipped, as git and docker do.
        let _ = b.add_line(None, line);
    }
    match b.build() {
        Ok(gi) => gi
            .matched_path_or_any_parents(dir.join(rel), false)
            .is_ignore(),
        Err(_) => false,
    }
}

/// The common case, answered without compiling a matcher: a `.env` or `/.env` line and
/// no negation that could re-include it (a literal `!name` other than `.env` cannot).
fn literally_ignores_env(text: &str) -> bool {
    let mut ignored = false;
    for line in text.lines().map(str::trim_end) {
        if let Some(neg) = line.strip_prefix('!') {
            let literal = !neg.contains(['*', '?', '[', '\\']);
            if !literal || neg.trim_start_matches('/') == ".env" {
                return false;
            }
        } else if line == ".env" || line == "/.env" {
            ignored = true;
        }
    }
    ignored
}

pub fn check(out: &mut Out) {
    let p = out.project;
    env_files(out);
    // env-not-gitignored (only when a `.env` takes part in the deployment)
    match p.gitignore {
        _ if !p.dotenv_used => {}
        // Inside a git work tree, git itself also counts parent .gitignore files and
        // excludes; the root .gitignore alone is judged with the ignore crate.
        _ if p.env_git_ignored == Some(true) => {}
        Some(i) if ignores_env(&p.root, &p.files[i].text) => {}
        Some(i) => {
            let f = p.files[i].display.clone();
            out.path(
                RuleId::EnvNotGitignored,
                &f,
                ".gitignore does not ignore .env".into(),
            );
        }
        None => out.path(
            RuleId::EnvNotGitignored,
            ".gitignore",
            "no .gitignore, so .env is not ignored".into(),
        ),
    }
    // env-tracked
    if p.env_tracked == Some(true) {
        out.path(
            RuleId::EnvTracked,
            ".env",
            "git tracks .env (git ls-files lists it)".into(),
        );
    }
    // example-has-secret
    if let Some(i) = p.env_example {
        let text = p.files[i].text.clone();
        for (k, v, line) in parse_dotenv_lines(&text) {
            for h in secrets::in_example(&k, &v) {
                let col = column_of(&text, line, &h.secret);
                out.at(
                    RuleId::ExampleHasSecret,
                    i,
                    line,
                    col,
                    format!(
                        "{k} holds a real-looking secret: {} ({})",
                        h.kind,
                        secrets::mask(&h.secret)
                    ),
                );
            }
        }
    }
    build_contexts(out);
}

/// 1-based column of `secret` on `line`, searched after the `=` (the key may repeat it).
fn column_of(text: &str, line: usize, secret: &str) -> usize {
    text.lines()
        .nth(line.saturating_sub(1))
        .and_then(|l| {
            let from = l.find('=').map(|i| i + 1).unwrap_or(0);
            l[from..]
                .find(secret)
                .map(|c| l[..from + c].chars().count() + 1)
        })
        .unwrap_or(1)
}

/// `secret-literal` in an `env_file:` that is or would be committed: tracked by git,
/// not ignored by git, or outside a git work tree not ignored by the root `.gitignore`. Git-ignored env files are the
/// intended channel for secrets.
fn env_files(out: &mut Out) {
    let p = out.project;
    for ef in &p.env_files {
        let (committed, how) = match ef.tracked {
            Some(true) => (true, "git tracks it"),
            Some(false) => (
                ef.ignored == Some(false),
                "git does not ignore it (one `git add .` commits it)",
            ),
            None => {
                let ignored = p
                    .gitignore
                    .is_some_and(|i| ignores(&p.root, &p.files[i].text, &ef.rel));
                (!ignored, "no .gitignore ignores it")
            }
        };
        if !committed {
            continue;
        }
        let text = &p.files[ef.file].text;
        for (k, v, line) in parse_dotenv_lines(text) {
            for h in secrets::in_assignment(&k, &v) {
                let col = column_of(text, line, &h.secret);
                out.at(
                    RuleId::SecretLiteral,
                    ef.file,
                    line,
                    col,
                    format!(
                        "{k} in env_file {}: {} ({}), and {how}",
                        ef.rel,
                        h.kind,
                        secrets::mask(&h.secret)
                    ),
                );
            }
        }
    }
}

/// Whether a Dockerfile copies its whole build context (`COPY . .`, `ADD . /app`):
/// the position of the first such instruction.
fn copies_all(df: &crate::input::dockerfile::Dockerfile) -> Option<(usize, usize)> {
    for st in &df.stages {
        for ins in &st.instrs {
            if matches!(ins.keyword.as_str(), "COPY" | "ADD") && ins.flag("from").is_none() {
                let words = match &ins.form {
                    Form::Json(v) => v.clone(),
                    Form::Shell(_) => ins.words(),
                };
                let srcs = &words[..words.len().saturating_sub(1)];
                if srcs
                    .iter()
                    .any(|s| matches!(s.as_str(), "." | "./" | "*" | "./*" | ".env"))
                {
                    return Some((ins.line, ins.column));
                }
            }
        }
    }
    None
}

/// env-in-build-context (error) at each COPY/ADD of a named directory of the context
/// that holds a `.env` its ignore file does not exclude (`COPY server .` with
/// `server/.env`): that file exists and goes into the image. Whole-context copies (`.`)
/// are judged by [`build_contexts`].
fn copied_dirs_with_env(out: &mut Out, ctx: &crate::input::project::BuildContext) {
    let p = out.project;
    let Some((file, df)) = ctx
        .dockerfile
        .and_then(|i| p.dockerfiles.iter().find(|(f, _)| *f == i))
    else {
        return;
    };
    let ignore_text = ctx.ignore.map(|i| p.files[i].text.as_str());
    for ins in df.stages.iter().flat_map(|st| &st.instrs) {
        if !matches!(ins.keyword.as_str(), "COPY" | "ADD") || ins.flag("from").is_some() {
            continue;
        }
        let words = match &ins.form {
            Form::Json(v) => v.clone(),
            Form::Shell(_) => ins.words(),
        };
        let srcs = &words[..words.len().saturating_sub(1)];
        for src in srcs {
            let dir = src.trim_start_matches("./").trim_end_matches('/');
            if dir.is_empty()
                || dir == "."
                || dir.contains(['*', '?', '$'])
                || dir.contains("://")
                || dir.starts_with('/')
                || dir.split('/').any(|c| c == "..")
            {
                continue;
            }
            let rel = format!("{dir}/.env");
            if !ctx.dir.join(&rel).is_file()
                || ignore_text.is_some_and(|t| ignores(&ctx.dir, t, &rel))
            {
                continue;
            }
            let why = match ctx.ignore {
                Some(i) => format!("{} does not exclude {rel}", p.files[i].display),
                None => "no .dockerignore".to_string(),
            };
            out.push(
                RuleId::EnvInBuildContext,
                Severity::Error,
                *file,
                ins.line,
                ins.column,
                format!("{why}, and this copies {dir}/ with its {rel} (it exists) into the image"),
            );
        }
    }
}

/// env-in-build-context, per build context: a context holding the project's `.env`
/// (or one of its own) that its ignore file does not exclude.
fn build_contexts(out: &mut Out) {
    let p = out.project;
    let root_env = p.root.join(".env");
    for ctx in &p.build_contexts {
        copied_dirs_with_env(out, ctx);
        let own_env = ctx.dir.join(".env");
        // The `.env` files this context would send: the project's (when the context
        // contains the root) and its own.
        let mut envs: Vec<(String, bool)> = Vec::new();
        if let Ok(rel) = root_env.strip_prefix(&ctx.dir) {
            envs.push((rel.to_string_lossy().replace('\\', "/"), p.dotenv_exists));
        }
        if own_env != root_env && own_env.exists() {
            if let Ok(rel) = own_env.strip_prefix(&ctx.dir) {
                if !envs.iter().any(|(r, _)| r == ".env") {
                    envs.push((rel.to_string_lossy().replace('\\', "/"), true));
                }
            }
        }
        let ignore_text = ctx.ignore.map(|i| p.files[i].text.as_str());
        let Some((rel, exists)) = envs.into_iter().find(|(rel, _)| {
            !ignore_text.is_some_and(|t| {
                (rel == ".env" && literally_ignores_env(t)) || ignores(&ctx.dir, t, rel)
            })
        }) else {
            continue;
        };
        let why = match ctx.ignore {
            Some(i) => format!("{} does not exclude {rel}", p.files[i].display),
            None => "no .dockerignore".to_string(),
        };
        let df = ctx
            .dockerfile
            .and_then(|i| p.dockerfiles.iter().find(|(f, _)| *f == i));
        let copy = df.and_then(|(f, d)| copies_all(d).map(|(l, c)| (*f, l, c)));
        match (copy, ctx.dockerfile) {
            (Some((file, line, col)), _) => out.at(
                RuleId::EnvInBuildContext,
                file,
                line,
                col,
                format!("{why}, and this copies the whole build context (including {rel}) into the image"),
            ),
            (None, Some(file)) => {
                let f = p.files[file].display.clone();
                let (sev, msg) = if exists {
                    (Severity::Error, format!("{why}: {rel} is sent to the Docker daemon with the build context"))
                } else {
                    (Severity::Warning, format!("{why}: once {rel} exists (the guide creates it in the project root), it is sent to the Docker daemon with the build context"))
                };
                out.push_path(RuleId::EnvInBuildContext, sev, f, 0, 0, msg);
            }
            (None, None) => {
                let Some(pos) = ctx.pos else { continue };
                let (sev, msg) = if exists {
                    (Severity::Error, format!("{why}: {rel} is sent to the Docker daemon with this build context"))
                } else {
                    (Severity::Warning, format!("{why}: once {rel} exists, it is sent to the Docker daemon with this build context"))
                };
                out.yaml_sev(RuleId::EnvInBuildContext, sev, pos, msg);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shortcut only ever says "ignored" when the full gitignore matcher agrees.
    #[test]
    fn literal_shortcut_agrees_with_the_matcher() {
        let root = Path::new("/project");
        let full = |text: &str| {
            let mut b = GitignoreBuilder::new(root);
            for line in text.lines() {
                let _ = b.add_line(None, line);
            }
            b.build()
                .map(|g| g.matched(root.join(".env"), false).is_ignore())
                .unwrap_or(false)
        };
        let cases = [
            (".env\n.env.*\n!.env.example\n", true),
            ("/.env\n", true),
            (".env  \n", true),
            (".env\n!.env\n", false),
            (".env\n!/.env\n", false),
            (".env\n!*\n", false),
            (".env\n!.e[n]v\n", false),
            ("# .env\n", false),
            (".env/\n", false),
            ("sub/.env\n", false),
        ];
        for (text, shortcut) in cases {
            assert_eq!(literally_ignores_env(text), shortcut, "{text:?}");
            if shortcut {
                assert!(full(text), "{text:?}");
            }
            assert_eq!(ignores_env(root, text), full(text), "{text:?}");
        }
    }
}

/// The rule's spec (`rules::spec`); whole-project cases are in `tests/fixtures/`.
#[cfg(test)]
mod spec {
    use crate::rules::spec;
    use crate::RuleId;

    #[test]
    fn catches() {
        spec::catches(
            RuleId::EnvNotGitignored,
            spec::hardened().edit(".gitignore", ".env", ""),
        );
    }

    #[test]
    fn catches_not() {
        spec::catches_not(RuleId::EnvNotGitignored, spec::hardened());
    }
}
