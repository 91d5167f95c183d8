//! Rules on Dockerfiles: user-root, secret-literal, image-unpinned, add-remote, and the
//! image half of healthcheck-missing. The facts they read (the judged stage, its `USER`,
//! its HEALTHCHECK) are the model's, in `dockerfile.rs`.

use std::collections::HashMap;

use super::Out;
use crate::input::dockerfile::{
    final_user, has_healthcheck, pairs, stage_index, substitute, walk_stage, Dockerfile, Form,
    Instr, Stage,
};
use crate::model::secrets::{self, Hit};
use crate::vocab::catalog::RuleId;

pub fn check(out: &mut Out) {
    let project = out.project;
    for (file, df) in &project.dockerfiles {
        let file = *file;
        user_root(out, file, df);
        let globals = crate::input::dockerfile::global_vars(df);
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

pub use crate::model::posture::is_root_user;

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

pub use crate::vocab::image_tags::unpinned;

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

/// The rule's spec (`rules::spec`); whole-project cases are in `tests/fixtures/`.
#[cfg(test)]
mod spec {
    use crate::rules::spec;
    use crate::RuleId;

    #[test]
    fn catches() {
        spec::catches(
            RuleId::AddRemote,
            spec::dockerfile(
                "COPY target/docker-context/passwd /etc/passwd",
                "ADD https://example.com/passwd /etc/passwd",
            ),
        );
    }

    #[test]
    fn catches_not() {
        spec::catches_not(RuleId::AddRemote, spec::hardened());
    }
}
