//! Input: the project's files read safely and parsed into positioned models. The
//! parsers (`dockerfile`, `yaml` → `compose` with `interp`olation, `swarm`, `json5` for OpenClaw's config) sit below
//! `project`, which finds the files, reads them (`error` is the one error of reading)
//! and loads them with `settings`, `git_state` and `tracked_env` (env files found by name).

pub mod compose;
pub mod dockerfile;
pub mod error;
pub(crate) mod git_state;
pub mod interp;
pub mod json5;
pub mod openclaw;
pub mod project;
pub mod settings;
pub mod swarm;
mod tracked_env;
pub mod yaml;
