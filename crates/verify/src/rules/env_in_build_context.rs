//! `env-in-build-context`, per Dockerfile: a `COPY`/`ADD` that sends a `.env` into the
//! image. A source is the whole context (`.`, `./`, `*`), a named directory that holds a
//! `.env` (`COPY server .` with `server/.env`), or `.env` itself; the `.env` counts when
//! it exists (an error) or when the project's documented flow creates it there (a
//! warning: a `.env.example`, `.env.sample`, `.env.template` or `.env.dist` beside it, or,
//! in the project root, an `env_file: .env`), and the context's ignore file does not
//! exclude it. A copy into a build stage the final image is not built `FROM` is a
//! warning (the final image takes only what it copies from it, but build tools bake
//! `.env` values into their output). A Dockerfile that copies only named paths without
//! a `.env` sends none into the image: silent, whatever the context holds. A context
//! whose Dockerfile verify cannot read is judged as a whole at its `build:`.
//! Fixtures: `crates/verify/tests/fixtures/env-in-build-context/`.

use std::path::Path;

use super::file_rules::{ignores, literally_ignores_env};
use super::Out;
use crate::input::dockerfile::{Dockerfile, Form};
use crate::input::project::{env_file_paths, BuildContext, Project};
use crate::vocab::catalog::RuleId;
use crate::Severity;

/// Files that document a `.env` the project's flow creates beside them.
const EXAMPLES: &[&str] = &[".env.example", ".env.sample", ".env.template", ".env.dist"];

/// What the project says about `.env` files, found once per run.
struct Seen<'a> {
    p: &'a Project,
    /// Some service has `env_file: .env`: the root `.env` is part of the flow.
    root_named: bool,
}

impl Seen<'_> {
    /// Whether a `.env` in `dir` exists (`Some(true)`), is created by the documented
    /// flow (`Some(false)`), or neither (`None`).
    fn dotenv_in(&self, dir: &Path) -> Option<bool> {
        if dir.join(".env").is_file() {
            return Some(true);
        }
        let documented = EXAMPLES.iter().any(|e| dir.join(e).is_file())
            || (self.root_named && same_dir(dir, &self.p.root));
        documented.then_some(false)
    }
}

/// An `env_file: .env` of some service: compose needs the root `.env` to exist.
fn compose_names_root_dotenv(p: &Project) -> bool {
    p.compose.as_ref().is_some_and(|c| {
        c.services.iter().any(|s| {
            env_file_paths(s)
                .iter()
                .any(|r| r.trim_start_matches("./") == ".env")
        })
    })
}

fn same_dir(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

/// What one `COPY`/`ADD` source sends of the context: `Some("")` for the whole context,
/// `Some("dir")` for a named directory, `Some(".env")`-ended paths for a `.env` itself;
/// `None` for anything else (named files, globs, variables, URLs, paths outside).
fn copied_dir(src: &str) -> Option<&str> {
    let s = src.trim_start_matches("./");
    if matches!(s, "" | "." | "*") {
        return Some("");
    }
    if s.contains(['*', '?', '[', '$'])
        || s.contains("://")
        || s.starts_with('/')
        || s.split('/').any(|c| c == "..")
    {
        return None;
    }
    Some(s.trim_end_matches('/'))
}

/// The `.env` files one source sends: (path relative to the context, exists). The whole
/// context sends its own `.env` and the project root's when the root lies inside it.
fn env_sent(seen: &Seen, ctx: &BuildContext, src: &str) -> Vec<(String, bool)> {
    let p = seen.p;
    let Some(dir) = copied_dir(src) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    if dir == ".env" || dir.ends_with("/.env") {
        let dir_of = Path::new(dir).parent().unwrap_or(Path::new(""));
        if let Some(exists) = seen.dotenv_in(&ctx.dir.join(dir_of)) {
            found.push((dir.to_string(), exists));
        }
        return found;
    }
    let path = ctx.dir.join(dir);
    if !path.is_dir() {
        return found;
    }
    let rel = |d: &str| {
        if d.is_empty() {
            ".env".to_string()
        } else {
            format!("{d}/.env")
        }
    };
    if let Some(exists) = seen.dotenv_in(&path) {
        found.push((rel(dir), exists));
    }
    if dir.is_empty() && !same_dir(&ctx.dir, &p.root) {
        if let Ok(inner) = p.root.strip_prefix(&ctx.dir) {
            let inner = inner.to_string_lossy().replace('\\', "/");
            if let Some(exists) = seen.dotenv_in(&p.root) {
                found.push((rel(&inner), exists));
            }
        }
    }
    found
}

pub fn check(out: &mut Out) {
    let p = out.project;
    if p.build_contexts.is_empty() {
        return;
    }
    let seen = Seen {
        p,
        root_named: compose_names_root_dotenv(p),
    };
    for ctx in &p.build_contexts {
        let df = ctx
            .dockerfile
            .and_then(|i| p.dockerfiles.iter().find(|(f, _)| *f == i));
        match df {
            Some((file, df)) => per_copy(out, &seen, ctx, *file, df),
            None => whole_context(out, &seen, ctx),
        }
    }
}

/// Why the ignore file lets `rel` through.
fn why(p: &Project, ctx: &BuildContext, rel: &str) -> String {
    match ctx.ignore {
        Some(i) => format!("{} does not exclude {rel}", p.files[i].display),
        None => "no .dockerignore".to_string(),
    }
}

fn excluded(p: &Project, ctx: &BuildContext, rel: &str) -> bool {
    ctx.ignore.is_some_and(|i| {
        let t = p.files[i].text.as_str();
        (rel == ".env" && literally_ignores_env(t)) || ignores(&ctx.dir, t, rel)
    })
}

/// Which stages end up in the final image: the last one and the stages it is built
/// `FROM`, by name.
fn in_final_image(df: &Dockerfile) -> Vec<bool> {
    let mut keep = vec![false; df.stages.len()];
    let mut at = df.stages.len().checked_sub(1);
    while let Some(i) = at {
        if keep[i] {
            break;
        }
        keep[i] = true;
        let base = &df.stages[i].image;
        at = df.stages[..i].iter().rposition(|st| {
            st.name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(base))
        });
    }
    keep
}

/// One finding at the first `COPY`/`ADD` that sends each `.env`.
fn per_copy(out: &mut Out, seen: &Seen, ctx: &BuildContext, file: usize, df: &Dockerfile) {
    let p = out.project;
    // (rel, in the final image) of each finding: a `.env` is reported once, at the first
    // COPY of a build stage and again only at the first into the final image.
    let mut reported: Vec<(String, bool)> = Vec::new();
    let final_image = in_final_image(df);
    let instrs = df
        .stages
        .iter()
        .enumerate()
        .flat_map(|(i, st)| st.instrs.iter().map(move |ins| (i, st, ins)));
    for (stage, st, ins) in instrs {
        if !matches!(ins.keyword.as_str(), "COPY" | "ADD") || ins.flag("from").is_some() {
            continue;
        }
        let words = match &ins.form {
            Form::Json(v) => v.clone(),
            Form::Shell(_) => ins.words(),
        };
        let srcs = &words[..words.len().saturating_sub(1)];
        for src in srcs {
            for (rel, exists) in env_sent(seen, ctx, src) {
                let fin = final_image[stage];
                if reported.iter().any(|(r, f)| *r == rel && (*f || !fin)) || excluded(p, ctx, &rel)
                {
                    continue;
                }
                let why = why(p, ctx, &rel);
                let what = match copied_dir(src) {
                    Some("") => format!("the whole build context with its {rel}"),
                    Some(d) if d == rel => rel.clone(),
                    Some(d) => format!("{d}/ with its {rel}"),
                    None => continue,
                };
                let (severity, message) = if exists && final_image[stage] {
                    (
                        Severity::Error,
                        format!("{why}, and this copies {what} (it exists) into the image"),
                    )
                } else if exists {
                    let name = st.name.clone().unwrap_or_else(|| stage.to_string());
                    (
                        Severity::Warning,
                        format!("{why}, and this copies {what} (it exists) into build stage `{name}`: the final image gets only what it copies from there, but build tools (Vite, Next.js, ...) bake .env values into their output"),
                    )
                } else {
                    (
                        Severity::Warning,
                        format!("{why}, and this copies {what} into the image: {rel} does not exist yet, but the project's documented flow creates it there"),
                    )
                };
                out.push(
                    RuleId::EnvInBuildContext,
                    severity,
                    file,
                    ins.line,
                    ins.column,
                    message,
                );
                reported.push((rel, fin));
            }
        }
    }
}

/// A context whose Dockerfile is not read: its own `.env`, or the project's when the
/// root lies inside it, is judged at the `build:` that names it.
fn whole_context(out: &mut Out, seen: &Seen, ctx: &BuildContext) {
    let p = out.project;
    let Some(pos) = ctx.pos else { return };
    let Some((rel, exists)) = env_sent(seen, ctx, ".")
        .into_iter()
        .find(|(rel, _)| !excluded(p, ctx, rel))
    else {
        return;
    };
    let why = why(p, ctx, &rel);
    let (sev, msg) = if exists {
        (
            Severity::Error,
            format!("{why}: {rel} is sent to the Docker daemon with this build context"),
        )
    } else {
        (
            Severity::Warning,
            format!("{why}: once {rel} exists (the project's documented flow creates it), it is sent to the Docker daemon with this build context"),
        )
    };
    out.yaml_sev(RuleId::EnvInBuildContext, sev, pos, msg);
}

/// The rule's spec (`rules::spec`); whole-project cases are in `tests/fixtures/`.
#[cfg(test)]
mod spec {
    use crate::rules::spec::{self, Case};
    use crate::{RuleId, Severity};

    const RULE: RuleId = RuleId::EnvInBuildContext;

    /// (severity, line) of each env-in-build-context finding.
    fn found(case: Case) -> Vec<(Severity, usize)> {
        case.findings()
            .into_iter()
            .filter(|f| f.rule == RULE)
            .map(|f| (f.severity, f.location.line))
            .collect()
    }

    /// The hardened base without its `.dockerignore`, the Dockerfile's line 4 replaced.
    fn copying(line4: &str) -> Case {
        spec::hardened().without(".dockerignore").edit(
            "Dockerfile",
            "COPY target/docker-context/passwd /etc/passwd\n",
            &format!("{line4}\n"),
        )
    }

    #[test]
    fn catches() {
        // The whole context with an existing `.env`: an error at the COPY.
        assert_eq!(found(copying("COPY . /src")), [(Severity::Error, 4)]);
        assert_eq!(found(copying("ADD ./ /src")), [(Severity::Error, 4)]);
        assert_eq!(
            found(copying(r#"COPY ["*", "/src/"]"#)),
            [(Severity::Error, 4)]
        );
        // `.env` named itself.
        assert_eq!(
            found(copying("COPY .env /app/.env")),
            [(Severity::Error, 4)]
        );
        // Before `.env` exists, when the project documents creating it: a warning.
        let before = copying("COPY . /src").without(".env");
        assert_eq!(found(before), [(Severity::Warning, 4)]);
        let only_env_file = copying("COPY . /src")
            .without(".env")
            .without(".env.example");
        assert_eq!(found(only_env_file), [(Severity::Warning, 4)]);
        // In a build stage the final image does not build on: a warning; in one it is
        // built FROM: an error.
        let builder = |final_from: &str| {
            copying("COPY . /src").edit(
                "Dockerfile",
                "FROM scratch\n",
                &format!("FROM scratch AS build\nCOPY . /src\nFROM {final_from}\n"),
            )
        };
        assert_eq!(
            found(builder("scratch")),
            [(Severity::Warning, 4), (Severity::Error, 6)]
        );
        assert_eq!(found(builder("build")), [(Severity::Error, 4)]);
        // Reported once, at the first COPY that sends it.
        let twice = copying("COPY . /src").edit(
            "Dockerfile",
            "USER 1000:1000\n",
            "COPY . /again\nUSER 1000:1000\n",
        );
        assert_eq!(found(twice), [(Severity::Error, 4)]);
    }

    #[test]
    fn catches_not() {
        spec::catches_not(RULE, spec::hardened());
        // Only named paths are copied: nothing sends `.env`, with or without an ignore file.
        spec::catches_not(RULE, spec::hardened().without(".dockerignore"));
        // Excluded by the ignore file.
        spec::catches_not(RULE, copying("COPY . /src").with(".dockerignore", ".env\n"));
        // From another stage, from a URL, a glob of named files.
        for line in [
            "COPY --from=build / /",
            "ADD https://example.com/a.tar.gz /",
            "COPY *.json /app/",
        ] {
            spec::catches_not(RULE, copying(line));
        }
        // No `.env` and nothing in the project creates one.
        spec::catches_not(
            RULE,
            copying("COPY . /src")
                .without(".env")
                .without(".env.example")
                .edit("docker-compose.yml", "    env_file: .env\n", ""),
        );
    }
}
