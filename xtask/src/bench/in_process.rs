//! In-process timing of the verify pipeline, run inside the *release* xtask binary
//! (`xtask bench-in-process DIR`, hidden from help) so the figures describe the shipped
//! build rather than the debug build `cargo xtask` runs. Prints one JSON object of
//! medians in seconds; `verify_speed` spawns it and reads that back.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, Context, Result};
use serde::{Deserialize, Serialize};

use super::timing;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Project directory (a compose file, optionally a Dockerfile).
    pub dir: PathBuf,
    /// Timed repetitions of each measurement (after one warm-up).
    #[arg(long, default_value_t = 30)]
    pub runs: u32,
}

/// Medians in seconds, as printed by `xtask bench-in-process`.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Medians {
    /// `debug build` or `release build`.
    pub profile: String,
    pub runs: u32,
    /// `verify::compose::parse_file` + `model` of the compose file.
    pub parse_model: f64,
    /// `verify::verify_files`: load, parse, rules, suppressions.
    pub pipeline: f64,
    /// `verify::dockerfile::parse` of the Dockerfile, when there is one.
    pub dockerfile_parse: Option<f64>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let m = measure(&args.dir, args.runs)?;
    println!("{}", serde_json::to_string(&m)?);
    Ok(ExitCode::SUCCESS)
}

pub fn measure(dir: &Path, runs: u32) -> Result<Medians> {
    use crate::verify::{compose, dockerfile, interp::Env, project::Selection, verify_files};
    let compose_path = dir.join("docker-compose.yml");
    let compose_text = std::fs::read_to_string(&compose_path)
        .with_context(|| format!("reading {}", compose_path.display()))?;
    let env = Env::new(None);
    let parse = timing::time_fn(runs, || {
        let node = compose::parse_file(&compose_text, 0, &env).map_err(|e| anyhow!("{e:?}"))?;
        std::hint::black_box(compose::model(&node));
        Ok(())
    })?;
    let sel = Selection {
        root: dir.to_path_buf(),
        dockerfile: None,
        compose_files: Vec::new(),
        swarm: false,
        k8s: None,
    };
    let whole = timing::time_fn(runs, || {
        std::hint::black_box(verify_files(&sel).map_err(|e| anyhow!("{e:?}"))?);
        Ok(())
    })?;
    let dockerfile_parse = match std::fs::read_to_string(dir.join("Dockerfile")) {
        Ok(text) => Some(
            timing::time_fn(runs * 10, || {
                std::hint::black_box(dockerfile::parse(&text).map_err(|e| anyhow!("{e:?}"))?);
                Ok(())
            })?
            .median,
        ),
        Err(_) => None,
    };
    Ok(Medians {
        profile: if cfg!(debug_assertions) {
            "debug build"
        } else {
            "release build"
        }
        .into(),
        runs: whole.runs,
        parse_model: parse.median,
        pipeline: whole.median,
        dockerfile_parse,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_the_repository_and_round_trips_as_json() {
        let root = crate::workspace::root();
        let m = measure(&root, 2).unwrap();
        assert_eq!(m.profile, "debug build");
        assert!(m.parse_model > 0.0 && m.pipeline > 0.0, "{m:?}");
        assert!(m.dockerfile_parse.is_some_and(|d| d > 0.0), "{m:?}");
        let back: Medians = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(back, m);
    }
}
