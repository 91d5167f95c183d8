#![no_main]
//! `.env` parsing and compose variable interpolation.

use libfuzzer_sys::fuzz_target;
use clawdbot_verify::input::interp::{defaults_of, interpolate_noting, parse_dotenv, Env};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = Env::new(Some(text));
    let _ = parse_dotenv(text);
    let mut missing = Vec::new();
    let _ = interpolate_noting(text, &env, &mut missing);
    let _ = defaults_of(text);
});
