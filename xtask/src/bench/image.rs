//! Section 1: binary size, image size and layers, and what each release-profile option
//! is worth (binaries built with `CARGO_PROFILE_RELEASE_*` overrides in a separate target
//! directory, so the shipped build is untouched).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};

use super::report::{Figure, Section};
use super::timing::ratio;
use super::{mib, Ctx};
use crate::build::Toolchain;
use crate::tasks::Command;

/// Image target: at most 4 MB (decimal megabytes, the stricter reading; issue 24 item 12).
const IMAGE_MAX_BYTES: u64 = 4_000_000;
const IMAGE_MAX_RATIO: f64 = 1.2;

/// One release-profile option changed from the shipped profile, at a time.
const VARIANTS: &[(&str, &str, &str)] = &[
    ("lto off", "CARGO_PROFILE_RELEASE_LTO", "false"),
    (
        "codegen-units 16",
        "CARGO_PROFILE_RELEASE_CODEGEN_UNITS",
        "16",
    ),
    ("panic unwind", "CARGO_PROFILE_RELEASE_PANIC", "unwind"),
    ("strip off", "CARGO_PROFILE_RELEASE_STRIP", "false"),
];
/// Only with --cold (each is another full release build).
const EXTRA_VARIANTS: &[(&str, &str, &str)] = &[
    ("opt-level s", "CARGO_PROFILE_RELEASE_OPT_LEVEL", "s"),
    ("opt-level z", "CARGO_PROFILE_RELEASE_OPT_LEVEL", "z"),
];

/// `[profile.release]` of the workspace manifest in one line: its keys, then the crates
/// `[profile.release.package]` builds at another opt-level, grouped by level.
fn release_profile(root: &Path) -> Result<String> {
    let path = root.join("Cargo.toml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let manifest: toml::Value = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message()))?;
    Ok(describe_profile(
        manifest.get("profile").and_then(|p| p.get("release")),
    ))
}

fn describe_profile(release: Option<&toml::Value>) -> String {
    let Some(table) = release.and_then(toml::Value::as_table) else {
        return "cargo's defaults".to_string();
    };
    let mut parts: Vec<String> = table
        .iter()
        .filter(|(key, _)| key.as_str() != "package")
        .map(|(key, value)| format!("{key} {value}"))
        .collect();
    let mut by_level: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let packages = table.get("package").and_then(toml::Value::as_table);
    for (name, settings) in packages.into_iter().flatten() {
        if let Some(level) = settings.get("opt-level") {
            by_level.entry(level.to_string()).or_default().push(name);
        }
    }
    for (level, names) in by_level {
        parts.push(format!(
            "opt-level {level} for {} crates ({})",
            names.len(),
            names.join(", ")
        ));
    }
    parts.join(", ")
}

pub fn run(ctx: &mut Ctx) -> Result<Section> {
    let mut s = Section::new("image", "Image and binary size");
    ctx.ensure_built()?;
    let binary = ctx.staged_binary();
    let bin_size = std::fs::metadata(&binary)
        .with_context(|| format!("{}: missing after `cargo xtask build`", binary.display()))?
        .len();
    let version = crate::settings::package_version(&ctx.root)?;
    let reference = crate::image::image_ref(&ctx.settings, &version);
    let format = "{{.Size}}|{{len .RootFS.Layers}}";
    let out = Command::program(
        "docker",
        &["image", "inspect", "--format", format, &reference],
    )
    .read()
    .with_context(|| format!("inspecting {reference}"))?;
    let (size, layers) = out.trim().split_once('|').unwrap_or(("0", "0"));
    let image_size: u64 = size.parse().unwrap_or(0);
    let layers: u64 = layers.parse().unwrap_or(0);
    let r = image_size as f64 / bin_size.max(1) as f64;

    let tc = Toolchain::choose();
    s.push(Figure::new(
        "binary size (shipped release profile)",
        format!("{} ({bin_size} bytes)", mib(bin_size as f64)),
        format!(
            "cargo xtask build; stat -c %s {}",
            crate::defaults::STAGE_DIR.to_string() + "/clawdbot"
        ),
    ));
    s.push(
        Figure::new(
            "image size",
            format!("{} ({image_size} bytes)", mib(image_size as f64)),
            format!("docker image inspect --format '{{{{.Size}}}}' {reference}"),
        )
        .target(
            "≤ 4 MB (4,000,000 bytes)",
            Some(image_size <= IMAGE_MAX_BYTES),
        ),
    );
    s.push(
        Figure::new("image / binary", format!("{r:.3}"), "")
            .ratio(format!("{r:.3}×"))
            .target("≤ 1.2× the binary", Some(r <= IMAGE_MAX_RATIO)),
    );
    s.push(Figure::new(
        "image layers",
        layers.to_string(),
        format!("docker image inspect --format '{{{{len .RootFS.Layers}}}}' {reference}"),
    ));
    s.note(format!(
        "Shipped profile (`[profile.release]` in Cargo.toml): {}; built with cargo auditable; target {}.",
        release_profile(&ctx.root)?,
        tc.target
    ));
    if let Some(n) = &tc.note {
        s.note(n.clone());
    }

    if ctx.quick {
        s.note("Release-profile variants skipped (--quick).");
        return Ok(s);
    }
    let mut variants: Vec<_> = VARIANTS.to_vec();
    if ctx.cold {
        variants.extend_from_slice(EXTRA_VARIANTS);
    } else {
        s.note("opt-level s and z variants run only with --cold (each is a full release build).");
    }
    let target_dir = crate::workspace::target_dir(&ctx.root).join("bench-profiles");
    let target = tc.target;
    for (name, var, value) in variants {
        eprintln!("bench: release build with {var}={value}");
        let started = Instant::now();
        let mut c = Command::cargo(&["build", "--release", "--package", "clawdbot"])
            .args(["--target", target])
            .env("CARGO_TARGET_DIR", &target_dir.to_string_lossy())
            .env(var, value)
            .current_dir(&ctx.root);
        if let Some(flags) = tc.rustflags {
            c = c.env("RUSTFLAGS", flags);
        }
        let command = format!(
            "{var}={value} CARGO_TARGET_DIR=target/bench-profiles cargo build --release -p clawdbot --target {target}"
        );
        match c.capture() {
            Ok(_) => {
                let took = started.elapsed().as_secs_f64();
                let path = target_dir.join(target).join("release").join("clawdbot");
                let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                s.push(
                    Figure::new(
                        format!("binary, {name}"),
                        format!(
                            "{} (build {took:.0} s, incremental in target/bench-profiles)",
                            mib(size as f64)
                        ),
                        command,
                    )
                    .ratio(format!(
                        "{} of shipped",
                        ratio(size as f64, bin_size as f64)
                    )),
                );
            }
            Err(e) => s.push(Figure::new(
                format!("binary, {name}"),
                format!("build failed: {e}"),
                command,
            )),
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_note_names_the_keys_and_the_crates_built_at_another_level() {
        let manifest: toml::Value = toml::from_str(
            "[profile.release]\nopt-level = 3\nlto = \"fat\"\n\
             [profile.release.package]\nrustls = { opt-level = \"z\" }\nurl = { opt-level = \"z\" }\n\
             ring = { opt-level = \"s\" }\n",
        )
        .unwrap();
        let release = manifest.get("profile").and_then(|p| p.get("release"));
        let note = describe_profile(release);
        assert!(note.contains("opt-level 3"), "{note}");
        assert!(note.contains("lto \"fat\""), "{note}");
        assert!(
            note.contains("opt-level \"z\" for 2 crates (rustls, url)"),
            "{note}"
        );
        assert!(
            note.contains("opt-level \"s\" for 1 crates (ring)"),
            "{note}"
        );
        assert!(!note.contains("package"), "{note}");
        assert_eq!(describe_profile(None), "cargo's defaults");
    }
}
