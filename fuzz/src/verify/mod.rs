//! Same module layout as `xtask/src/verify/` for the parser files.
#![allow(dead_code)]

#[path = "../../../xtask/src/verify/compose.rs"]
pub mod compose;
#[path = "../../../xtask/src/verify/dockerfile.rs"]
pub mod dockerfile;
#[path = "../../../xtask/src/verify/interp.rs"]
pub mod interp;
#[path = "../../../xtask/src/verify/yaml.rs"]
pub mod yaml;
