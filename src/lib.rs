//! clawdbot: a small hardened AI gateway speaking the OpenClaw gateway protocol.
//!
//! The binary (`src/main.rs`) is a thin clap front end over these modules.

pub mod cli;
pub mod config;
pub use clawdbot_facts as defaults;
pub mod egress;
pub mod evict_pool;
pub mod fdlimit;
pub mod gateway;
pub mod healthcheck;
pub mod lock;
pub mod logging;
pub mod logring;
pub mod openai;
pub mod prometheus;
pub mod protocol;
pub mod providers;
pub mod selfcheck;
pub mod sessions;
pub mod signals;
pub mod status;
