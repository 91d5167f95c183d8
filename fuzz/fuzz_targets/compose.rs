#![no_main]
//! Compose parser: YAML span tree, interpolation, merge with itself, model.

use libfuzzer_sys::fuzz_target;
use clawdbot_verify::{input::compose, input::interp::Env};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = Env::new(Some("A=1\nBIND=0.0.0.0\n"));
    let Ok(node) = compose::parse_file(text, 0, &env) else {
        return;
    };
    let mut merged = node.clone();
    compose::merge(&mut merged, node, "");
    let model = compose::model(&merged);
    for s in &model.services {
        let _ = s.networks();
        if let Some(e) = s.get("environment") {
            let _ = compose::Service::pairs_of(e);
        }
    }
});
