//! Rules on the project's other files: `.gitignore`, `.env.example`, env files and git
//! state (`.dockerignore` per build context: `env_in_build_context`).

use std::path::Path;

use ignore::gitignore::GitignoreBuilder;

use super::Out;
use crate::input::interp::parse_dotenv_lines;
use crate::model::secrets;
use crate::rules::secret_in_environment::is_key_var;
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
pub(super) fn literally_ignores_env(text: &str) -> bool {
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

/// The env files that are or would be committed: `env_file:` files tracked by git, not
/// ignored by git, or outside a git work tree not ignored by the root `.gitignore`; and
/// the env files found by name (`input::tracked_env`: the root `.env`, `*.env`,
/// `env/*.env`) that git tracks or, outside git, `.gitignore` does not ignore. Each is
/// scanned like `environment:` (`secret-literal` per value); one that holds credential
/// names without a literal value is reported once as a file (`env-tracked` in git, else
/// `env-not-gitignored`), except the root `.env`, which those rules judge already.
/// Git-ignored env files are the intended channel for secrets.
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
        let what = if ef.named { "env_file" } else { "env file" };
        let text = &p.files[ef.file].text;
        let mut names: Vec<String> = Vec::new();
        let mut literal = false;
        for (k, v, line) in parse_dotenv_lines(text) {
            if is_key_var(&k) && !names.contains(&k) {
                names.push(k.clone());
            }
            for h in secrets::in_assignment(&k, &v) {
                literal = true;
                let col = column_of(text, line, &h.secret);
                out.at(
                    RuleId::SecretLiteral,
                    ef.file,
                    line,
                    col,
                    format!(
                        "{k} in {what} {}: {} ({}), and {how}",
                        ef.rel,
                        h.kind,
                        secrets::mask(&h.secret)
                    ),
                );
            }
        }
        if literal || names.is_empty() || ef.rel == ".env" || ef.tracked == Some(false) {
            continue;
        }
        credential_file(out, ef, &names);
    }
}

/// The one finding (a warning) for a committed env file that holds credential names
/// whose values are still empty or placeholders: the file users are told to fill in,
/// then commit. A file with literal values gets `secret-literal` per value instead.
fn credential_file(out: &mut Out, ef: &crate::input::project::EnvFile, names: &[String]) {
    const SHOWN: usize = 5;
    let mut listed = names[..names.len().min(SHOWN)].join(", ");
    if names.len() > SHOWN {
        listed.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    let (rule, whose) = if ef.tracked == Some(true) {
        (RuleId::EnvTracked, "git tracks")
    } else {
        (RuleId::EnvNotGitignored, "no .gitignore ignores")
    };
    let message = format!(
        "{whose} {}, which holds credential names ({listed}) with empty or placeholder values: what users fill in there gets committed",
        ef.rel
    );
    out.push(rule, Severity::Warning, ef.file, 0, 0, message);
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
