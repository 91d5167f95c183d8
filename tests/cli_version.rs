//! `clawdbot version` and `--version` through the real binary.

use std::process::Command;

#[test]
fn version_prints_the_version() {
    let bin = env!("CARGO_BIN_EXE_clawdbot");
    let want = format!("clawdbot {}", env!("CARGO_PKG_VERSION"));
    for arg in ["version", "--version"] {
        let out = Command::new(bin).arg(arg).output().unwrap();
        assert!(out.status.success());
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), want);
    }
}
