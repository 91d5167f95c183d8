#![no_main]
//! YAML fast path against the full parser: whatever the fast path accepts, the full
//! parser accepts too and reads as the same tree (values, positions).

use clawdbot_verify::input::yaml::{self, fast as yaml_fast};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(fast) = yaml_fast::parse(text) {
        let full = yaml::parse_full(text).expect("the full parser refused what the fast path took");
        assert_eq!(fast, full);
    }
});
