//! What runtime verify expects of the deployment (service names, profile, secrets
//! mode, variable names): the deployment settings of `clawdbot-settings`, the one typed
//! loader the xtask uses too. The xtask passes its loaded settings; the standalone binary
//! loads `[workspace.metadata.deploy]` of `<root>/Cargo.toml` with the same loader
//! (`RuntimeConfig::load`: no manifest or no table gives the defaults).

pub use clawdbot_settings::{Profile, Settings as RuntimeConfig};
