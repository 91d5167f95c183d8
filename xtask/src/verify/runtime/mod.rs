//! Runtime verify (placeholder; the runtime helper's module replaces this file at merge).

use std::path::PathBuf;

use crate::settings::Settings;
use crate::verify::Finding;

/// Which running stack to inspect.
#[allow(dead_code)] // read by the runtime helper's implementation
pub struct RuntimeOptions {
    pub project: Option<String>,
    pub root: PathBuf,
}

/// Findings for the running stack.
pub fn collect(_opts: &RuntimeOptions, _settings: &Settings) -> anyhow::Result<Vec<Finding>> {
    anyhow::bail!("runtime verify not implemented yet")
}
