//! The hardened OpenClaw image (the real `openclaw` npm gateway on Node 24), built from
//! registry packages only: [`stage`] stages its root filesystem into a cache keyed by
//! the pinned versions and exposes it as the build context, [`image`] renders
//! `templates/openclaw/Dockerfile.tera` and builds the image, [`sbom`] describes what is
//! in it (Node, the Debian packages, the npm tree).
//!
//! Paths inside the image and the pinned versions are facts
//! (`clawdbot_facts::openclaw`); the stack around it (compose, config, demo) is `init`'s;
//! [`cli`] is the `cargo xtask openclaw` passthrough to the CLI in the running container.

pub(crate) mod cli;
pub mod elf;
pub mod fetch;
pub mod image;
pub mod prune;
pub mod sbom;
pub mod stage;

pub use stage::{stage, StagedRootfs};
