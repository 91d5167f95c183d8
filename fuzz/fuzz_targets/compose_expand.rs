#![no_main]
//! Compose `include:`/`extends:` resolution and `env_file:` contents: the input is up to
//! four parts separated by a line `---8<---`: the main compose file, `common.yml`,
//! `sub/compose.yaml` (files the main one may include or extend) and an env file, which
//! is parsed and run through the secret detector as `env_file:` contents are.

use clawdbot_verify::input::compose::{self, ComposeError};
use clawdbot_verify::input::compose::expand::{self as compose_expand, Source};
use clawdbot_verify::input::interp::{parse_dotenv_lines, Env};
use clawdbot_verify::model::secrets;
use clawdbot_verify::input::yaml::Node;
use libfuzzer_sys::fuzz_target;

struct Mem<'a> {
    parts: Vec<(&'static str, &'a str)>,
    opened: Vec<String>,
}

impl Source for Mem<'_> {
    fn open(&mut self, path: &str, env_file: Option<&str>) -> Result<Option<Node>, ComposeError> {
        let Some((_, text)) = self.parts.iter().find(|(p, _)| *p == path) else {
            return Ok(None);
        };
        let index = match self.opened.iter().position(|p| p == path) {
            Some(i) => i + 1,
            None => {
                self.opened.push(path.to_string());
                self.opened.len()
            }
        };
        let env = Env::new(env_file.map(|_| "A=1\n"));
        let (mut node, _) = compose::parse_file_noting(text, index, &env)?;
        compose_expand::rebase(&mut node, compose_expand::dir_of(path));
        Ok(Some(node))
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parts: Vec<&str> = text.splitn(4, "\n---8<---\n").collect();
    let env = Env::new(Some("A=1\nBIND=0.0.0.0\n"));
    let Ok((mut root, _)) = compose::parse_file_noting(parts[0], 0, &env) else {
        return;
    };
    let mut mem = Mem {
        parts: ["common.yml", "sub/compose.yaml"]
            .into_iter()
            .zip(parts.iter().skip(1).copied())
            .collect(),
        opened: Vec::new(),
    };
    if compose_expand::expand(&mut root, &mut mem).is_ok() {
        let model = compose::model(&root);
        for s in &model.services {
            let _ = s.networks();
        }
    }
    if let Some(env_text) = parts.get(3) {
        for (k, v, _) in parse_dotenv_lines(env_text) {
            for h in secrets::in_assignment(&k, &v) {
                let _ = secrets::mask(&h.secret);
            }
        }
    }
});
