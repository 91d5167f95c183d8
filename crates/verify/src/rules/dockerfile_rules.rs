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

/// The effective `USER` of the final stage: `Some(Some(value))` when set and resolved,
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

pub use crate::posture::is_root_user;

fn user_root(out: &mut Out, file: usize, df: &Dockerfile) {
    let project = out.project;
    // The stages services build (`build.target`), unless a compose `user:` overrides the
    // image; the final stage when no service builds this Dockerfile.
    let mut targets: Vec<Option<String>> = Vec::new();
    let mut builders = 0;
    if let Some(c) = &project.compose {
        for s in &c.services {
            let Some(src) = project.image_source(s).filter(|i| i.file == Some(file)) else {
                continue;
            };
            builders += 1;
            let user_set = s
                .get("user")
                .and_then(|u| u.scalar())
                .is_some_and(|u| !u.trim().is_empty() && !is_root_user(&u));
            if !user_set && !targets.contains(&src.target) {
                targets.push(src.target);
            }
        }
    }
    if builders == 0 {
        targets.push(None);
    }
    for target in targets {
        let Some(idx) = stage_index(df, target.as_deref()) else {
            continue;
        };
        let which = match &target {
            Some(t) => format!("stage {t}"),
            None => "final stage".to_string(),
        };
        match final_user(df, target.as_deref()) {
            None => {
                let from = &df.stages[idx].from;
                out.at(
                    RuleId::UserRoot,
                    file,
                    from.line,
                    from.column,
                    format!("{which} sets no USER, so the container runs as root"),
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

pub use super::super::image_tags::unpinned;

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
