//! Env files found by name, not only through `env_file:`: the root `.env`, `*.env` in
//! the project root and `env/*.env`. They are judged like the files compose names when
//! they are or would be committed ("tracked"):
//! - in a git work tree: the index lists them (an ignore rule does not untrack a file
//!   git already tracks);
//! - outside one: they exist and the root `.gitignore` does not ignore them (judged in
//!   `rules::file_rules`, as for `env_file:` files outside git).
//!
//! The root `.env` is added only when git tracks it: untracked, it is the intended
//! channel for keys (`env-not-gitignored` judges whether it is ignored). Example files
//! (`example.env`, `sample.env`, `*.template.env`) are committed on purpose and left out.

use std::path::Path;

use crate::input::git_state;

/// Names that say a file is an example to copy, not the file in use.
const EXAMPLE_WORDS: &[&str] = &["example", "sample", "template"];

/// `/`-separated paths, relative to `root`, of the env files found by name.
fn candidates(root: &Path) -> Vec<String> {
    let mut found = vec![".env".to_string()];
    for dir in ["", "env"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file() || t.is_symlink()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.len() > ".env".len() && n.ends_with(".env"))
            .filter(|n| {
                let lower = n.to_ascii_lowercase();
                !EXAMPLE_WORDS.iter().any(|w| lower.contains(w))
            })
            .collect();
        names.sort();
        found.extend(names.into_iter().map(|n| match dir {
            "" => n,
            d => format!("{d}/{n}"),
        }));
    }
    found
}

/// A tracked env file found by name: path relative to the root, git's `(tracked,
/// ignored)` (`(None, None)` outside a work tree).
pub type Found = (String, Option<bool>, Option<bool>);

/// The tracked env files in `root` other than those `named` (the `env_file:` paths,
/// as files), given git's state of the root `.env` (`None`: not a work tree).
pub fn find(root: &Path, dotenv: git_state::EnvState, named: &[&Path]) -> Vec<Found> {
    let in_git = dotenv.0.is_some();
    let mut out = Vec::new();
    for rel in candidates(root) {
        let path = root.join(&rel);
        let is_named = named.iter().any(|other| {
            *other == path
                || matches!((other.canonicalize(), path.canonicalize()), (Ok(a), Ok(b)) if a == b)
        });
        if is_named {
            continue;
        }
        let (tracked, ignored) = if rel == ".env" {
            dotenv
        } else if in_git {
            git_state::path_state(root, &rel)
        } else {
            (None, None)
        };
        // In git: what the index lists; outside: every file but the root `.env`.
        if tracked.unwrap_or(rel != ".env") {
            out.push((rel, tracked, ignored));
        }
    }
    out
}
