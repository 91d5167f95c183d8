//! The OpenClaw image: `templates/openclaw/Dockerfile.tera`, rendered by init's renderer
//! (`init::render_openclaw_dockerfile`) into the private context `target/openclaw-context/`,
//! and `docker build` of that context, tagged `openclaw-hardened:<openclaw_version>`.

use std::path::Path;

use anyhow::{Context, Result};

use crate::defaults::openclaw as facts;
use crate::settings::Settings;
use crate::tasks::Command;

/// `<IMAGE_NAME>:<openclaw_version>`.
pub fn image_ref(settings: &Settings) -> String {
    format!("{}:{}", facts::IMAGE_NAME, settings.openclaw_version)
}

/// `docker build` of the private context `dir` (holding `Dockerfile`, `rootfs/`, `state/`).
pub fn build_command(settings: &Settings, dir: &Path) -> Command {
    let reference = image_ref(settings);
    Command::program(
        "docker",
        &["build", "--tag", &reference, "--file", "Dockerfile", "."],
    )
    .current_dir(dir)
}

/// Writes the private context's Dockerfile into `<root>/target/openclaw-context`, builds
/// and returns the image's (id, size in bytes).
pub fn build(root: &Path, settings: &Settings) -> Result<(String, u64)> {
    let dir = root.join(facts::STAGE_DIR);
    let version = crate::settings::package_version(root)?;
    let dockerfile = crate::init::render_openclaw_dockerfile(settings, &version, ".")?;
    std::fs::write(dir.join("Dockerfile"), dockerfile)
        .with_context(|| format!("writing {}/Dockerfile", dir.display()))?;
    let reference = image_ref(settings);
    let previous = image_info(&reference).ok().map(|(id, _)| id);
    build_command(settings, &dir).stream()?;
    let (id, size) = image_info(&reference)?;
    // A rebuild moves the tag: drop the image it left without any (`docker image rm`
    // refuses one that still has a tag or a container).
    if let Some(old) = previous.filter(|old| *old != id) {
        let tags = Command::program(
            "docker",
            &["image", "inspect", "--format", "{{len .RepoTags}}", &old],
        )
        .capture();
        if tags.is_ok_and(|t| String::from_utf8_lossy(&t.stdout).trim() == "0") {
            let _ = Command::program("docker", &["image", "rm", &old]).capture();
        }
    }
    Ok((id, size))
}

/// Id and size (bytes) of a local image.
pub fn image_info(reference: &str) -> Result<(String, u64)> {
    let out = Command::program(
        "docker",
        &[
            "image",
            "inspect",
            "--format",
            "{{.Id}} {{.Size}}",
            reference,
        ],
    )
    .capture()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let (id, size) = text
        .trim()
        .split_once(' ')
        .with_context(|| format!("docker image inspect {reference}: unexpected {text:?}"))?;
    Ok((id.to_owned(), size.parse().unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerfile_is_scratch_non_root_exec_form_with_a_start_period() {
        let s = Settings::default();
        let text = crate::init::render_openclaw_dockerfile(&s, "1.2.3", "target/openclaw-context")
            .unwrap();
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(lines[0], "FROM scratch");
        assert!(
            text.contains("\nCOPY target/openclaw-context/rootfs/ /\n"),
            "{text}"
        );
        assert!(
            text.contains("\nCOPY --chown=1000:1000 target/openclaw-context/state/ /var/lib/\n")
        );
        assert!(text.contains("\nUSER 1000:1000\n"));
        assert!(text.contains("--start-period=90s"));
        assert!(text.contains(&format!(
            "CMD [\"/usr/local/bin/node\", \"-e\", \"{}\"]",
            facts::HEALTHCHECK_SCRIPT
        )));
        assert!(text.contains(
            "ENTRYPOINT [\"/usr/local/bin/node\", \"/opt/openclaw/node_modules/openclaw/openclaw.mjs\", \"gateway\", \"run\", \"--port\", \"18789\", \"--bind\", \"lan\"]"
        ));
        assert!(text.contains("\nENV OPENCLAW_CONFIG_READONLY=1\n"));
        // No shell form anywhere: every RUN/CMD/ENTRYPOINT is a JSON array (there is no RUN).
        assert!(!text.contains("\nRUN "));
        // The build's private context copies from itself.
        let private = crate::init::render_openclaw_dockerfile(&s, "1.2.3", ".").unwrap();
        assert!(private.contains("\nCOPY ./rootfs/ /\n"), "{private}");
    }
}
