//! `cargo xtask verify`: the `clawdbot-verify` library with this workspace's settings
//! (runtime verify reads `[workspace.metadata.deploy]` through `Settings`) and the
//! repository's `docs/rules.md`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub use clawdbot_verify::{
    input::compose, input::dockerfile, input::interp, input::project, model::secrets, verify_files,
    Args,
};
use clawdbot_verify::{Context, Error, Profile, RuntimeConfig};

use crate::settings::{self, Settings};

/// What runtime verify reads of the settings.
fn runtime_config(s: Settings) -> RuntimeConfig {
    RuntimeConfig {
        service_name: s.service_name,
        egress_service_name: s.egress_service_name,
        profile: match s.profile {
            settings::Profile::Local => Profile::Local,
            settings::Profile::Isolated => Profile::Isolated,
        },
        allow_public_bind: s.allow_public_bind,
        secrets: s.secrets,
        token_var: s.token_var,
        provider_key_vars: s.provider_key_vars,
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let load = |root: &Path| {
        Settings::load(root)
            .map(runtime_config)
            .map_err(|e| Error::Settings(e.into()))
    };
    let cx = Context {
        program: "cargo xtask verify",
        docs_path: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/rules.md"),
        runtime_config: &load,
        // `main` returns right after: the model is not freed (see `Context::exits_after`).
        exits_after: true,
    };
    Ok(clawdbot_verify::run(&args, &cx)?)
}
