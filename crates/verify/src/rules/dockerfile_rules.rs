//! Rules on Dockerfiles: user-root, secret-literal, image-unpinned, add-remote, and the
//! image half of healthcheck-missing (used by the compose rules too).

use std::collections::HashMap;

use super::super::dockerfile::{pairs, substitute, walk_stage, Dockerfile, Form, Instr, Stage};
use super::super::secrets::{self, Hit};
use super::Out;
use crate::catalog::RuleId;

pub fn check(out: &mut Out) {
    let project = out.project;
    for (file, df) in &project.dockerfiles {
        let file = *file;
        user_root(out, file, df);
        let globals = super::super::dockerfile::global_vars(df);
        for a in &df.global_args {
            secrets_in(out, file, a, &HashMap::new());
        }
        for (i, stage) in df.stages.iter().enumerate() {
            from_pinned(out, file, df, i, stage, &globals);
            walk_stage(df, stage, |instr, vars| {
                secrets_in(out, file, instr, vars);
                if instr.keyword == "ADD" {
                    add_remote(out, file, instr);
                }
            });
        }
        // Without compose, the image alone must carry the health check.
        if project.compose.is_none() && !has_healthcheck(df) {
            let last = df.stages.last().map(|s| &s.from);
            if let Some(from) = last {
                out.at(
                    RuleId::HealthcheckMissing,
                    file,
                    from.line,
                    from.column,
                    "final stage has no HEALTHCHECK (and no compose file defines one)".into(),
                );
            }
        }
    }
}

/// Chain of stages the final stage builds on (final first).
fn lineage(df: &Dockerfile) -> Vec<&Stage> {
    let mut chain = Vec::new();
    let mut cur = df.stages.last();
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
    for stage in lineage(df) {
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

/// The effective `USER` of the final stage: `Some(Some(value))` when set and resolved,
/// `Some(None)` when set but not resolvable, `None` when never set.
fn final_user(df: &Dockerfile) -> Option<(Option<String>, &Instr)> {
    for stage in lineage(df) {
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

pub use crate::posture::is_root_user;

fn user_root(out: &mut Out, file: usize, df: &Dockerfile) {
    let project = out.project;
    // A compose `user:` on every service built from this Dockerfile overrides the image.
    if let Some(c) = &project.compose {
        let builders: Vec<_> = c
            .services
            .iter()
            .filter(|s| project.dockerfile_of(s).is_some_and(|(i, _)| i == file))
            .collect();
        if !builders.is_empty()
            && builders.iter().all(|s| {
                s.get("user")
                    .and_then(|u| u.scalar())
                    .is_some_and(|u| !u.trim().is_empty() && !is_root_user(&u))
            })
        {
            return;
        }
    }
    match final_user(df) {
        None => {
            let from = &df.stages[df.stages.len() - 1].from;
            out.at(
                RuleId::UserRoot,
                file,
                from.line,
                from.column,
                "final stage sets no USER, so the container runs as root".into(),
            );
        }
        Some((Some(u), instr)) if is_root_user(&u) => {
            out.at(
                RuleId::UserRoot,
                file,
                instr.line,
                instr.column,
                format!("USER {} is root", instr.text().trim()),
            );
        }
        _ => {}
    }
}

fn from_pinned(
    out: &mut Out,
    file: usize,
    df: &Dockerfile,
    index: usize,
    stage: &Stage,
    globals: &HashMap<String, String>,
) {
    let Some(image) = substitute(&stage.image, globals) else {
        return;
    };
    let lower = image.to_ascii_lowercase();
    if lower == "scratch"
        || df.stages[..index]
            .iter()
            .any(|s| s.name.as_deref() == Some(lower.as_str()))
    {
        return;
    }
    if let Some(why) = unpinned(&image) {
        out.at(
            RuleId::ImageUnpinned,
            file,
            stage.from.line,
            stage.from.column,
            format!("FROM {}: {why}", stage.image),
        );
    }
}

/// Why an image reference is not pinned (`None` when it has a tag other than latest, or a digest).
pub fn unpinned(image: &str) -> Option<&'static str> {
    if image.contains('@') {
        return None;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        None => Some("no tag (means latest); pin a version, a digest is best"),
        Some((_, "latest")) => {
            Some("tag `latest` is not a version; pin a version, a digest is best")
        }
        Some(_) => None,
    }
}

fn add_remote(out: &mut Out, file: usize, instr: &Instr) {
    if instr.flag("checksum").is_some() {
        return;
    }
    let words = instr.words();
    let sources = &words[..words.len().saturating_sub(1)];
    if let Some(url) = sources
        .iter()
        .find(|w| w.starts_with("http://") || w.starts_with("https://") || w.starts_with("git@"))
    {
        out.at(
            RuleId::AddRemote,
            file,
            instr.line,
            instr.column,
            format!("ADD downloads {url} without a checksum"),
        );
    }
}

/// Reports each secret at the physical line and column where it appears.
fn report_hits(out: &mut Out, file: usize, instr: &Instr, hits: Vec<Hit>, what: &str) {
    let text = out.project.files[file].text.clone();
    for h in hits {
        let (line, col) = text
            .lines()
            .enumerate()
            .skip(instr.line - 1)
            .take(instr.end_line.saturating_sub(instr.line) + 1)
            .find_map(|(i, l)| {
                l.find(&h.secret)
                    .map(|c| (i + 1, l[..c].chars().count() + 1))
            })
            .unwrap_or((instr.line, instr.column));
        out.at(
            RuleId::SecretLiteral,
            file,
            line,
            col,
            format!("{} in {what} ({})", h.kind, secrets::mask(&h.secret)),
        );
    }
}

fn secrets_in(out: &mut Out, file: usize, instr: &Instr, _vars: &HashMap<String, String>) {
    match instr.keyword.as_str() {
        "ENV" | "ARG" | "LABEL" => {
            let mut hits = Vec::new();
            for (k, v) in pairs(&instr.text()) {
                if let Some(v) = v {
                    hits.extend(secrets::in_assignment(&k, &v));
                }
            }
            let what = instr.keyword.clone();
            report_hits(out, file, instr, hits, &what);
        }
        "RUN" => {
            let mut text = match &instr.form {
                Form::Json(v) => v.join(" "),
                Form::Shell(s) => s.clone(),
            };
            for h in &instr.heredocs {
                text.push('\n');
                text.push_str(&h.body);
            }
            let hits = secrets::in_shell(&text);
            report_hits(out, file, instr, hits, "RUN");
        }
        _ => {}
    }
}
