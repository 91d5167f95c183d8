//! The hardened OpenClaw app: the `cargo xtask openclaw` passthrough to the CLI in the
//! running container (`cli`).

pub(crate) mod cli;
