//! Rendering: the embedded `templates/*.tera` (or a directory given with `--templates`)
//! rendered with tera from the effective settings. Undefined variables are errors.

use std::path::Path;

use anyhow::{bail, Context as _, Result};
use include_dir::{include_dir, Dir};
use serde::Serialize;
use tera::{Context, ErrorKind, Tera};

use super::files::{FileSpec, BLOCK_BEGIN, BLOCK_END, HEADER, STAGED_FILES};
use super::merge::UserLines;
use crate::defaults;
use crate::settings::Settings;

static TEMPLATES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../templates");

/// One file-based secret: the variable the service reads (through `<var>_FILE`) and the
/// secret's name (file under `secrets/`, compose/Swarm secret, key of the k8s Secret).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SecretFile {
    pub var: String,
    pub name: String,
    /// Initial content written by `init --env`: empty for the token (a fresh one is
    /// generated), the provider's demo placeholder for a key.
    #[serde(skip)]
    pub placeholder: Option<&'static str>,
}

/// The gateway token first, then every provider key, with lower-case file names.
pub(crate) fn secret_files(settings: &Settings) -> Vec<SecretFile> {
    let mut out = vec![SecretFile {
        var: settings.token_var.clone(),
        name: settings.token_var.to_ascii_lowercase(),
        placeholder: None,
    }];
    for var in &settings.provider_key_vars {
        out.push(SecretFile {
            var: var.clone(),
            name: var.to_ascii_lowercase(),
            placeholder: Some(key_doc(var).1),
        });
    }
    out
}

fn key_doc(name: &str) -> (&'static str, &'static str) {
    if name == defaults::ANTHROPIC_KEY_VAR {
        (
            "Anthropic API key (used for Claude models).",
            defaults::DEMO_ANTHROPIC_KEY,
        )
    } else if name == defaults::OPENAI_KEY_VAR {
        (
            "OpenAI API key (used for GPT models).",
            defaults::DEMO_OPENAI_KEY,
        )
    } else {
        ("Provider API key.", defaults::DEMO_OPENAI_KEY)
    }
}

#[derive(Serialize)]
struct ProviderKey {
    name: String,
    doc: String,
    placeholder: &'static str,
}

/// The loaded templates plus the values every template may use.
pub(crate) struct Renderer {
    tera: Tera,
    base: Context,
    origin: String,
    sources: Vec<(String, String)>,
}

impl Renderer {
    /// Loads the embedded templates, or every `*.tera` file of `dir` when given.
    pub(crate) fn new(settings: &Settings, version: &str, dir: Option<&Path>) -> Result<Self> {
        let mut sources: Vec<(String, String)> = Vec::new();
        let origin = match dir {
            None => {
                for file in TEMPLATES
                    .files()
                    .filter(|f| f.path().extension().is_some_and(|e| e == "tera"))
                {
                    let name = file.path().to_string_lossy().into_owned();
                    let text = file
                        .contents_utf8()
                        .with_context(|| format!("templates/{name}: not UTF-8"))?;
                    sources.push((name, text.to_owned()));
                }
                "templates".to_owned()
            }
            Some(dir) => {
                let entries = std::fs::read_dir(dir).with_context(|| {
                    format!("{}: cannot read the template directory", dir.display())
                })?;
                for entry in entries {
                    let path = entry?.path();
                    if path.extension().is_some_and(|e| e == "tera") {
                        let text = std::fs::read_to_string(&path)
                            .with_context(|| format!("{}: cannot read", path.display()))?;
                        let name = path
                            .file_name()
                            .unwrap_or_default()
                            .to_string_lossy()
                            .into_owned();
                        sources.push((name, text));
                    }
                }
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
            base: base_context(settings, version)?,
            origin,
            sources,
        })
    }

    /// Sets a value every template sees (e.g. the deployment target).
    pub(crate) fn set(&mut self, key: &'static str, value: &str) {
        self.base.insert(key, value);
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
        let mut ctx = self.base.clone();
        ctx.insert("user_lines_before", &user.before);
        ctx.insert("user_lines_after", &user.after);
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

fn base_context(settings: &Settings, version: &str) -> Result<Context> {
    let mut ctx = Context::from_serialize(settings).context("settings to template context")?;
    ctx.insert("header", HEADER);
    // The host part of a compose port mapping: an IPv6 address needs brackets.
    let bind_host = match settings.bind_address.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(ip)) => format!("[{ip}]"),
        _ => settings.bind_address.clone(),
    };
    ctx.insert("bind_host", &bind_host);
    ctx.insert("block_begin", BLOCK_BEGIN);
    ctx.insert("block_end", BLOCK_END);
    ctx.insert("version", version);
    ctx.insert("stage_dir", defaults::STAGE_DIR);
    ctx.insert("staged_files", STAGED_FILES);
    ctx.insert("image_binary", defaults::IMAGE_BINARY);
    ctx.insert("min_token_len", &defaults::MIN_TOKEN_LEN);
    ctx.insert("token_placeholder", token_placeholder());
    let keys: Vec<ProviderKey> = settings
        .provider_key_vars
        .iter()
        .map(|name| {
            let (doc, placeholder) = key_doc(name);
            ProviderKey {
                name: name.clone(),
                doc: doc.to_owned(),
                placeholder,
            }
        })
        .collect();
    ctx.insert("provider_keys", &keys);
    super::target::insert_context(&mut ctx, settings);
    ctx.insert("secret_files", &secret_files(settings));
    Ok(ctx)
}

/// The placeholder of the gateway token in `.env.example`.
pub(crate) fn token_placeholder() -> &'static str {
    defaults::PLACEHOLDERS
        .iter()
        .copied()
        .find(|p| p.contains("token"))
        .unwrap_or("change-me-to-a-long-random-token")
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
