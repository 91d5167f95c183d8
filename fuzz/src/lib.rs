//! The verify parsers, compiled from the xtask's own source files (they depend only on
//! std, serde, serde_json and serde-saphyr), so the fuzz targets test the real code.

pub mod verify;
