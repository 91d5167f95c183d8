#![no_main]
//! Dockerfile parser: parse, then walk every stage substituting ARG/ENV values.

use libfuzzer_sys::fuzz_target;
use clawdbot_verify::input::dockerfile::{global_vars, pairs, parse, substitute, walk_stage};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(df) = parse(text) else { return };
    let globals = global_vars(&df);
    for stage in &df.stages {
        let _ = substitute(&stage.image, &globals);
        walk_stage(&df, stage, |instr, vars| {
            let _ = substitute(&instr.text(), vars);
            let _ = pairs(&instr.text());
            let _ = instr.words();
        });
    }
});
