//! `cargo xtask verify`: the `clawdbot-verify` library with this workspace's settings
//! (runtime verify reads `[workspace.metadata.deploy]` through the one loader,
//! `Settings::load`) and the repository's `docs/rules.md`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub use clawdbot_verify::{
    input::compose, input::dockerfile, input::interp, input::project, model::secrets, verify_files,
    Args,
};
use clawdbot_verify::{Context, Error};

use crate::settings::Settings;

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let load = |root: &Path| Settings::load(root).map_err(|e| Error::Settings(e.into()));
    let cx = Context {
        program: "cargo xtask verify",
        docs_path: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/rules.md"),
        runtime_config: &load,
        // `main` returns right after: the model is not freed (see `Context::exits_after`).
        exits_after: true,
        before_parse: &|_| {},
    };
    Ok(clawdbot_verify::run(&args, &cx)?)
}
