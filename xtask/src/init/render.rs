//! Rendering: the embedded `templates/*.tera` (or a directory given with `--templates`)
//! rendered with tera from one typed [`TemplateContext`]. Undefined variables are errors.

use std::path::Path;

use anyhow::{bail, Context as _, Result};
use include_dir::{include_dir, Dir};
use tera::{Context, ErrorKind, Tera};

use super::context::{FileContext, TemplateContext};
use super::files::FileSpec;
use super::merge::UserLines;

static TEMPLATES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../templates");

/// The loaded templates plus the values every template may use.
pub(crate) struct Renderer {
    tera: Tera,
    base: TemplateContext,
    origin: String,
    sources: Vec<(String, String)>,
}

impl Renderer {
    /// Loads the embedded templates, or every `*.tera` file of `dir` when given.
    pub(crate) fn new(base: TemplateContext, dir: Option<&Path>) -> Result<Self> {
        let mut sources: Vec<(String, String)> = Vec::new();
        let origin = match dir {
            None => {
                embedded(&TEMPLATES, &mut sources)?;
                "templates".to_owned()
            }
            Some(dir) => {
                from_dir(dir, "", &mut sources)?;
                dir.display().to_string()
            }
        };
        let mut tera = Tera::new();
        tera.autoescape_on(Vec::<&'static str>::new());
        for (name, text) in &sources {
            tera.add_raw_template(name, text)
                .map_err(|e| anyhow::anyhow!("{}", one_line(&origin, name, &e)))?;
        }
        Ok(Renderer {
            tera,
            base,
            origin,
            sources,
        })
    }

    /// Renders one file. `user` holds the kept lines of a merged file.
    pub(crate) fn render(&self, spec: &FileSpec, user: &UserLines) -> Result<String> {
        let name = spec.template;
        if !self.tera.contains_template(name) {
            bail!(
                "{}/{name}: template missing (restore it from git)",
                self.origin
            );
        }
        let ctx = Context::from_serialize(&FileContext {
            base: &self.base,
            user_lines_before: &user.before,
            user_lines_after: &user.after,
        })
        .context("the template context")?;
        // tera reports an undefined variable only when it is printed; also refuse one that
        // is merely tested (`{% if typo %}`), so a typo can never silently drop a line.
        let vars = self
            .tera
            .get_template_variables(name)
            .map_err(|e| anyhow::anyhow!("{}", one_line(&self.origin, name, &e)))?;
        let mut missing: Vec<&str> = vars.into_iter().filter(|v| !ctx.contains_key(v)).collect();
        missing.sort_unstable();
        if let Some(var) = missing.first() {
            let line = self
                .tera_source_line(name, var)
                .map(|l| format!("{l}: "))
                .unwrap_or_default();
            bail!(
                "{}/{name}:{line}undefined variable `{var}` (use a settings key; see `cargo xtask init --print-settings`)",
                self.origin
            );
        }
        let text = self
            .tera
            .render(name, &ctx)
            .map_err(|e| anyhow::anyhow!("{}", one_line(&self.origin, name, &e)))?;
        Ok(text)
    }

    /// Line of the first tag in template `name` that mentions `var`.
    fn tera_source_line(&self, name: &str, var: &str) -> Option<usize> {
        let (_, text) = self.sources.iter().find(|(n, _)| n == name)?;
        let word = regex::Regex::new(&format!(r"\{{[{{%].*\b{}\b", regex::escape(var))).ok()?;
        text.lines().position(|l| word.is_match(l)).map(|i| i + 1)
    }
}

/// Every `*.tera` of the embedded templates, named by their path under `templates/`
/// (`openclaw/docker-compose.yml.tera` for the OpenClaw app's).
fn embedded(dir: &Dir<'static>, sources: &mut Vec<(String, String)>) -> Result<()> {
    for file in dir
        .files()
        .filter(|f| f.path().extension().is_some_and(|e| e == "tera"))
    {
        let name = file.path().to_string_lossy().into_owned();
        let text = file
            .contents_utf8()
            .with_context(|| format!("templates/{name}: not UTF-8"))?;
        sources.push((name, text.to_owned()));
    }
    for sub in dir.dirs() {
        embedded(sub, sources)?;
    }
    Ok(())
}

/// Every `*.tera` under `dir` (`--templates`), named by its path relative to it, the way
/// the embedded ones are. Symlinks are not followed.
fn from_dir(dir: &Path, prefix: &str, sources: &mut Vec<(String, String)>) -> Result<()> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot read the template directory", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("{}: cannot list", dir.display()))?;
        let path = entry.path();
        let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
        let kind = entry
            .file_type()
            .with_context(|| format!("{}: cannot inspect", path.display()))?;
        if kind.is_dir() {
            from_dir(&path, &format!("{name}/"), sources)?;
        } else if kind.is_file() && path.extension().is_some_and(|e| e == "tera") {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("{}: cannot read", path.display()))?;
            sources.push((name, text));
        }
    }
    Ok(())
}

/// A tera error as one line: `<origin>/<template>:<line>: <message>`.
fn one_line(origin: &str, name: &str, err: &tera::Error) -> String {
    match err.kind() {
        ErrorKind::SyntaxError(r) | ErrorKind::RenderingError(r) => format!(
            "{origin}/{name}:{}: {} (fix the template)",
            r.span().start_line,
            r.message()
        ),
        other => format!("{origin}/{name}: {other} (fix the template)"),
    }
}
