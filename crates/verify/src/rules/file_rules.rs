//! Rules on the project's other files: `.gitignore`, `.dockerignore`, `.env.example`
//! and git state.

use std::path::Path;

use ignore::gitignore::GitignoreBuilder;

use super::super::dockerfile::Form;
use super::super::interp::parse_dotenv_lines;
use super::super::secrets;
use super::Out;
use crate::catalog::RuleId;

/// Whether the ignore file (gitignore semantics) at `file` ignores `root/.env`.
fn ignores_env(root: &Path, text: &str) -> bool {
    if literally_ignores_env(text) {
        return true;
    }
    let mut b = GitignoreBuilder::new(root);
    for line in text.lines() {
        // A bad pattern is skipped, as git and docker do.
        let _ = b.add_line(None, line);
    }
    match b.build() {
        Ok(gi) => gi.matched(root.join(".env"), false).is_ignore(),
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
    // env-not-gitignored
    match p.gitignore {
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
            for h in secrets::in_assignment(&k, &v) {
                let col = text
                    .lines()
                    .nth(line - 1)
                    .and_then(|l| l.find(&h.secret))
                    .map(|c| c + 1)
                    .unwrap_or(1);
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
    // env-in-build-context
    if !p.dockerfiles.is_empty() {
        let excluded = p
            .dockerignore
            .is_some_and(|i| ignores_env(&p.root, &p.files[i].text));
        if !excluded {
            let mut copy_all = None;
            for (file, df) in &p.dockerfiles {
                for st in &df.stages {
                    for ins in &st.instrs {
                        if matches!(ins.keyword.as_str(), "COPY" | "ADD")
                            && ins.flag("from").is_none()
                        {
                            let words = match &ins.form {
                                Form::Json(v) => v.clone(),
                                Form::Shell(_) => ins.words(),
                            };
                            let srcs = &words[..words.len().saturating_sub(1)];
                            if srcs
                                .iter()
                                .any(|s| matches!(s.as_str(), "." | "./" | "*" | "./*" | ".env"))
                                && copy_all.is_none()
                            {
                                copy_all = Some((*file, ins.line, ins.column));
                            }
                        }
                    }
                }
            }
            let why = if p.dockerignore.is_some() {
                ".dockerignore does not exclude .env"
            } else {
                "no .dockerignore"
            };
            match copy_all {
                Some((file, line, col)) => out.at(
                    RuleId::EnvInBuildContext,
                    file,
                    line,
                    col,
                    format!("{why}, and this copies the whole build context (including .env) into the image"),
                ),
                None if p.dotenv_exists => {
                    let f = p.files[p.dockerfiles[0].0].display.clone();
                    out.path(RuleId::EnvInBuildContext, &f, format!("{why}: .env is sent to the Docker daemon with the build context"));
                }
                None => {}
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
