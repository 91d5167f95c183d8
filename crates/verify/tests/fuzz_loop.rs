//! Stable-Rust property loop standing in for `cargo fuzz` (see `fuzz/`): every fixture
//! file is mutated bytewise, deterministically, `FUZZ_ITERS` times (default 30) and fed
//! through the parsers and the whole rule/suppression/report pipeline; nothing may
//! panic. Inputs saved in `crates/verify/tests/fixtures/fuzz-regressions/` (crashes found by
//! `fuzz/run.sh`) are replayed first.

use std::path::{Path, PathBuf};

use clawdbot_verify::input::compose;
use clawdbot_verify::input::dockerfile;
use clawdbot_verify::input::interp::{self, Env};
use clawdbot_verify::input::project::{Project, SourceFile};
use clawdbot_verify::report::{Format, Report};
use clawdbot_verify::{report::suppress, rules, Severity};

// The unit tests' support file: its deterministic generator (the temp dirs go unused).
#[path = "../src/test_support.rs"]
mod test_support;
use test_support::Rng;

/// Tokens that tend to reach interesting parser states.
const DICT: &[&[u8]] = &[
    b"\\\n",
    b"\n",
    b"${",
    b"}",
    b"${A:-",
    b"${A:?x}",
    b"$$",
    b":",
    b"[",
    b"]",
    b"{",
    b"<<EOF\n",
    b"\nEOF\n",
    b"<<-",
    b"&a ",
    b"*a",
    b"<<: *a\n",
    b"\"",
    b"'",
    b"# escape=`\n",
    b"`",
    b"- ",
    b"  ",
    b"FROM ",
    b" AS ",
    b"USER 0\n",
    b"--",
    b"=",
    b"# verify: ignore=",
    b"\t",
    b"\r\n",
    b"\xff",
    b"\0",
    b"!",
];

fn mutate(input: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(6) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 => {
                let tok = DICT[rng.below(DICT.len())];
                v.splice(at..at, tok.iter().copied());
            }
            2 if !v.is_empty() => {
                let end = (at + rng.below(16)).min(v.len());
                v.drain(at.min(end)..end);
            }
            3 if !v.is_empty() => {
                let start = rng.below(v.len());
                let end = (start + rng.below(64)).min(v.len());
                let chunk: Vec<u8> = v[start..end].to_vec();
                v.splice(at..at, chunk);
            }
            4 => v.insert(at, rng.next() as u8),
            _ => v.truncate(at),
        }
    }
    v
}

/// Runs the whole static pipeline on in-memory texts; must never panic.
fn pipeline(dockerfile_text: Option<&str>, compose_text: Option<&str>, example: Option<&str>) {
    let root = PathBuf::from("/nonexistent-fuzz-root");
    let mut files = Vec::new();
    let mut dockerfiles = Vec::new();
    let mut compose_files = Vec::new();
    let mut model = None;
    if let Some(t) = dockerfile_text {
        if let Ok(df) = dockerfile::parse(t) {
            dockerfiles.push((files.len(), df));
            files.push(SourceFile {
                display: "Dockerfile".into(),
                path: root.join("Dockerfile"),
                text: t.into(),
            });
        }
    }
    if let Some(t) = compose_text {
        let env = Env::new(Some("A=1\nBIND=0.0.0.0\n"));
        if let Ok(node) = compose::parse_file(t, 0, &env) {
            let mut merged = node.clone();
            compose::merge(&mut merged, node, "");
            model = Some(compose::model(&merged));
            compose_files.push(files.len());
            files.push(SourceFile {
                display: "compose.yaml".into(),
                path: root.join("compose.yaml"),
                text: t.into(),
            });
        }
    }
    let env_example = example.map(|t| {
        files.push(SourceFile {
            display: ".env.example".into(),
            path: root.join(".env.example"),
            text: t.into(),
        });
        files.len() - 1
    });
    let project = Project {
        root,
        files,
        dockerfiles,
        compose_files,
        compose: model,
        env_example,
        dotenv_exists: true,
        dotenv_used: true,
        // The settings' image is the fixtures' gateway image: its root Dockerfile counts.
        settings: Some(clawdbot_verify::input::settings::Settings {
            image_name: "clawdbot".into(),
            ..Default::default()
        }),
        ..Project::default()
    };
    let mut findings = rules::run(&project);
    suppress::apply(&mut findings, &project.files);
    clawdbot_verify::fill_evidence(&project, &mut findings);
    let report = Report {
        findings: &findings,
        fail_on: Severity::Warning,
        color: false,
    };
    for format in [
        Format::Human,
        Format::Json,
        Format::Sarif,
        Format::Junit,
        Format::Github,
    ] {
        let _ = report.render(format);
    }
}

/// `include:`/`extends:` over in-memory files: every path opens `text` itself (so
/// includes and extends of any file name resolve, cycles included).
fn expand_in_memory(text: &str) {
    struct Same<'a>(&'a str, usize);
    impl clawdbot_verify::input::compose::expand::Source for Same<'_> {
        fn open(
            &mut self,
            path: &str,
            _env: Option<&str>,
        ) -> Result<Option<clawdbot_verify::input::yaml::Node>, compose::ComposeError> {
            self.1 += 1;
            let (mut n, _) = compose::parse_file_noting(self.0, self.1, &Env::default())?;
            clawdbot_verify::input::compose::expand::rebase(
                &mut n,
                clawdbot_verify::input::compose::expand::dir_of(path),
            );
            Ok(Some(n))
        }
    }
    if let Ok((mut root, _)) = compose::parse_file_noting(text, 0, &Env::default()) {
        if clawdbot_verify::input::compose::expand::expand(&mut root, &mut Same(text, 0)).is_ok() {
            let _ = compose::model(&root);
        }
    }
}

fn feed(name: &str, bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let _ = interp::parse_dotenv(text);
    let _ = interp::interpolate_noting(text, &Env::default(), &mut Vec::new());
    if name.contains("compose") || name.ends_with(".yml") || name.ends_with(".yaml") {
        // The YAML fast path reads whatever it accepts exactly as the full parser does.
        if let Some(fast) = clawdbot_verify::input::yaml::fast::parse(text) {
            match clawdbot_verify::input::yaml::parse_full(text) {
                Ok(full) => assert_eq!(fast, full, "fast and full YAML differ on {text:?}"),
                Err(e) => {
                    panic!("the full parser refused what the fast path took ({e:?}): {text:?}")
                }
            }
        }
        pipeline(None, Some(text), None);
        expand_in_memory(text);
    } else if name.contains("env") {
        pipeline(None, None, Some(text));
    } else {
        pipeline(Some(text), None, None);
    }
}

fn fixture_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if !p.ends_with("sarif") {
                fixture_files(&p, out);
            }
        } else {
            out.push(p);
        }
    }
}

#[test]
fn fuzz_property_loop_over_mutated_fixtures_never_panics() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut files = Vec::new();
    fixture_files(&base, &mut files);
    files.sort();
    assert!(
        files.len() > 50,
        "fixtures not found under {}",
        base.display()
    );
    let iters: usize = std::env::var("FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut total = 0;
    let mut seen = std::collections::HashSet::new();
    for path in &files {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let bytes = std::fs::read(path).unwrap_or_default();
        if path
            .components()
            .any(|c| c.as_os_str() == "fuzz-regressions")
        {
            let kind = path
                .extension()
                .map(|e| e.to_string_lossy().to_string())
                .unwrap_or_default();
            feed(&format!("regression.{kind}"), &bytes);
            continue;
        }
        // Many fixtures share files with the base project: mutate each content once.
        if !seen.insert(bytes.clone()) {
            continue;
        }
        feed(&name, &bytes);
        for _ in 0..iters {
            let m = mutate(&bytes, &mut rng);
            feed(&name, &m);
            total += 1;
        }
    }
    eprintln!(
        "fuzz property loop: {total} mutated inputs over {} fixture files",
        files.len()
    );
}

#[test]
fn deeply_nested_and_pathological_inputs_do_not_panic() {
    feed("compose.yaml", "a: ".repeat(2000).as_bytes());
    feed("compose.yaml", &b"[".repeat(100_000));
    feed("compose.yaml", b"x: &a [*a]\n");
    feed(
        "compose.yaml",
        b"include: [a/b.yml]\nservices:\n  a: {extends: {file: c.yml, service: a}}\n  b: {extends: a}\n",
    );
    feed("compose.yaml", b"a: &a [1,2]\nb: &b [*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c]\nservices: {}\n");
    feed("Dockerfile", &b"FROM x\nRUN a \\\n".repeat(10_000));
    feed("Dockerfile", b"FROM x\nRUN <<A <<B\nx\nA\n");
    feed(
        "Dockerfile",
        format!("FROM x\nUSER {}\n", "${A:-".repeat(5000)).as_bytes(),
    );
    feed("Dockerfile", "FROM x\nENV é=ü ß=\"\nUSER ${é}\n".as_bytes());
    feed(".env.example", b"=\n==\nexport\nA=\"\n");
}
