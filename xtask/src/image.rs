//! The image's build context and the private compose project used to build and run it.
//!
//! `cargo xtask build` stages `clawdbot`, `passwd` and `group` into `defaults::STAGE_DIR`
//! (what the Dockerfile copies). Compose always runs with a temporary project directory
//! outside the repository: `env_file: .env` in the project's compose file then resolves to
//! a private temp file (demo keys, random token), so the repository's real `.env` is never
//! read, and a small override (written as JSON, which is YAML) points the build context
//! back at the repository and renames anything that is not scoped by the project name.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};

use crate::defaults;
use crate::engine::ComposeProject;
use crate::settings::Settings;
use crate::tasks::Command;

/// The project's compose file (rendered by `cargo xtask init`).
pub const COMPOSE_FILE: &str = "docker-compose.yml";
/// Name of the override written into the temporary project directory.
pub const OVERRIDE_FILE: &str = "demo.override.yml";

/// `/etc/passwd` of the image: the service user and `nobody`.
pub fn passwd_text(s: &Settings) -> String {
    format!(
        "{user}:x:{uid}:{gid}:{user}:/nonexistent:/sbin/nologin\n\
         nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n",
        user = s.user_name,
        uid = s.uid,
        gid = s.gid
    )
}

/// `/etc/group` of the image.
pub fn group_text(s: &Settings) -> String {
    format!(
        "{user}:x:{gid}:\nnogroup:x:65534:\n",
        user = s.user_name,
        gid = s.gid
    )
}

/// Fills `<root>/<STAGE_DIR>` with exactly the binary, `passwd` and `group`.
pub fn stage(root: &Path, settings: &Settings, binary: &Path) -> Result<PathBuf> {
    let dir = root.join(defaults::STAGE_DIR);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let bin = dir.join("clawdbot");
    std::fs::copy(binary, &bin)
        .with_context(|| format!("copying {} to {}", binary.display(), bin.display()))?;
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755))?;
    std::fs::write(dir.join("passwd"), passwd_text(settings))?;
    std::fs::write(dir.join("group"), group_text(settings))?;
    for f in ["passwd", "group"] {
        std::fs::set_permissions(dir.join(f), std::fs::Permissions::from_mode(0o644))?;
    }
    // `sessions_persist`: the (empty) data directory the image gives the unprivileged
    // user, so the sessions volume mounted there starts owned by it.
    if settings.sessions_persist {
        std::fs::create_dir_all(dir.join("data"))?;
        std::fs::set_permissions(dir.join("data"), std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(dir)
}

/// True when the ELF file has no program interpreter (statically linked).
pub fn is_static_elf(path: &Path) -> Result<bool> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if data.len() < 64 || &data[..4] != b"\x7fELF" || data[4] != 2 {
        bail!("{} is not a 64-bit ELF file", path.display());
    }
    let u16_at = |o: usize| u16::from_le_bytes([data[o], data[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(data[0x20..0x28].try_into()?) as usize;
    let (entsize, count) = (u16_at(0x36), u16_at(0x38));
    for i in 0..count {
        let at = phoff + i * entsize;
        let Some(bytes) = data.get(at..at + 4) else {
            bail!("{}: truncated program header", path.display());
        };
        const PT_INTERP: u32 = 3;
        if u32::from_le_bytes(bytes.try_into()?) == PT_INTERP {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Reads the project's compose file as a plain value (only to learn its shape).
pub fn read_compose(root: &Path) -> Result<Value> {
    let path = root.join(COMPOSE_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "{}: cannot read (run `cargo xtask init` to generate it)",
            path.display()
        )
    })?;
    serde_saphyr::from_str::<Value>(&text).map_err(|e| {
        anyhow::anyhow!(
            "{}: {e} (fix the YAML or rerun `cargo xtask init`)",
            path.display()
        )
    })
}

/// Options of the private override.
#[derive(Debug, Clone, Default)]
pub struct OverrideOptions {
    /// Fixed container name, so a `container_name` in the project's file cannot collide
    /// with the user's own stack.
    pub container_name: Option<String>,
    /// Test hook: a health check that can never pass (wrong port, fast retries).
    pub broken_healthcheck: bool,
}

/// The override as JSON text (valid YAML for compose v1 and v2).
pub fn override_text(
    compose: &Value,
    root: &Path,
    settings: &Settings,
    project: &str,
    opts: &OverrideOptions,
) -> Result<String> {
    let service = &settings.service_name;
    if compose.pointer(&format!("/services/{service}")).is_none() {
        bail!(
            "{}: no service {service:?} (set service_name in [workspace.metadata.deploy] or rerun `cargo xtask init`)",
            root.join(COMPOSE_FILE).display()
        );
    }
    let mut svc = Map::new();
    svc.insert(
        "build".into(),
        json!({ "context": root.display().to_string() }),
    );
    if let Some(name) = &opts.container_name {
        svc.insert("container_name".into(), json!(name));
    }
    if opts.broken_healthcheck {
        svc.insert(
            "healthcheck".into(),
            json!({
                "test": ["CMD", defaults::IMAGE_BINARY, "healthcheck", "--port", "1", "--timeout-ms", "200"],
                "interval": "1s",
                "timeout": "1s",
                "retries": 1,
                "start_period": "1s",
            }),
        );
    }
    let mut root_map = Map::new();
    if let Some(v) = compose.get("version") {
        root_map.insert("version".into(), v.clone());
    }
    root_map.insert(
        "services".into(),
        json!({ service.clone(): Value::Object(svc) }),
    );
    // Networks and volumes with a fixed `name:` are not scoped by the project name: give
    // them one that is, so the demo never joins or deletes the user's own.
    for section in ["networks", "volumes"] {
        let Some(Value::Object(items)) = compose.get(section) else {
            continue;
        };
        let mut renamed = Map::new();
        for (key, def) in items {
            let external = def
                .get("external")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if def.get("name").is_some() && !external {
                renamed.insert(key.clone(), json!({ "name": format!("{project}_{key}") }));
            }
        }
        if !renamed.is_empty() {
            root_map.insert(section.into(), Value::Object(renamed));
        }
    }
    Ok(serde_json::to_string_pretty(&Value::Object(root_map))?)
}

/// A private compose project: a temp directory holding the env file (mode 0600) and the
/// override, plus the compose file list.
pub fn private_project(
    dir: &Path,
    root: &Path,
    settings: &Settings,
    name: &str,
    env_text: &str,
    opts: &OverrideOptions,
) -> Result<ComposeProject> {
    let compose = read_compose(root)?;
    let project = private_project_paths(dir, root, name);
    crate::tempdir::write_private(&project.env_file, env_text)?;
    let override_path = dir.join(OVERRIDE_FILE);
    std::fs::write(
        &override_path,
        override_text(&compose, root, settings, name, opts)?,
    )
    .with_context(|| format!("writing {}", override_path.display()))?;
    Ok(project)
}

/// The compose project [`private_project`] writes into `dir`, without writing anything
/// (for plans, which print its commands before the files exist).
pub fn private_project_paths(dir: &Path, root: &Path, name: &str) -> ComposeProject {
    ComposeProject {
        name: name.to_string(),
        project_dir: dir.to_path_buf(),
        env_file: dir.join(".env"),
        files: vec![root.join(COMPOSE_FILE), dir.join(OVERRIDE_FILE)],
    }
}

/// Image reference `<image_name>:<version>` used by the compose file.
pub fn image_ref(settings: &Settings, version: &str) -> String {
    format!("{}:{version}", settings.image_name)
}

/// `docker image inspect` for [`image_info`].
pub fn image_info_command(reference: &str) -> Command {
    Command::program(
        "docker",
        &[
            "image",
            "inspect",
            "--format",
            "{{.Id}}|{{.Size}}",
            reference,
        ],
    )
}

/// `docker image inspect` for [`is_untagged`].
pub fn untagged_command(id: &str) -> Command {
    Command::program(
        "docker",
        &["image", "inspect", "--format", "{{len .RepoTags}}", id],
    )
}

/// `docker image rm <id>` (refused for an image still tagged or used).
pub fn remove_command(id: &str) -> Command {
    Command::program("docker", &["image", "rm", id])
}

/// Id and size (bytes) of a local image.
pub fn image_info(reference: &str) -> Result<(String, u64)> {
    let out = image_info_command(reference)
        .read()
        .with_context(|| format!("inspecting image {reference}"))?;
    let (id, size) = out.trim().split_once('|').unwrap_or((out.trim(), "0"));
    Ok((id.to_string(), size.parse().unwrap_or(0)))
}

/// True when a local image exists and carries no tag at all.
pub fn is_untagged(id: &str) -> bool {
    untagged_command(id)
        .read()
        .map(|n| n.trim() == "0")
        .unwrap_or(false)
}

/// Short git sha of `HEAD` in `root`, if it is a git checkout.
pub fn git_short_sha(root: &Path) -> Option<String> {
    let out = Command::program("git", &["-C"])
        .arg(root)
        .args(["rev-parse", "--short", "HEAD"])
        .read()
        .ok()?;
    let sha = out.trim().to_string();
    (!sha.is_empty()).then_some(sha)
}

/// Human size: `4.3 MB`.
pub fn human_size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

/// The env file of private build/demo projects: demo keys only (never a real secret).
pub fn demo_env_text(token: Option<&str>) -> String {
    use crate::defaults::*;
    let mut text = format!(
        "# cargo xtask: temporary demo env (never a real key)\n{ANTHROPIC_KEY_VAR}={DEMO_ANTHROPIC_KEY}\n{OPENAI_KEY_VAR}={DEMO_OPENAI_KEY}\n"
    );
    if let Some(token) = token {
        text.push_str(&format!("{}={token}\n", TOKEN_VARS[0]));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compose_of(yaml: &str) -> Value {
        serde_saphyr::from_str::<Value>(yaml).unwrap()
    }

    #[test]
    fn demo_env_has_only_placeholders_and_the_token() {
        let text = demo_env_text(Some("t0ken"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (k, v) = line.split_once('=').unwrap();
            if k == crate::defaults::TOKEN_VARS[0] {
                assert_eq!(v, "t0ken");
            } else {
                assert!(crate::defaults::is_placeholder(v), "{line}");
            }
        }
        assert!(!demo_env_text(None).contains("TOKEN"));
    }

    #[test]
    fn passwd_and_group_name_the_configured_user() {
        let s = Settings::default();
        let p = passwd_text(&s);
        assert!(p.starts_with(&format!(
            "{}:x:{}:{}:",
            defaults::USER_NAME,
            defaults::UID,
            defaults::GID
        )));
        assert!(p.contains("\nnobody:x:65534:65534:"));
        assert!(group_text(&s).starts_with(&format!(
            "{}:x:{}:",
            defaults::USER_NAME,
            defaults::GID
        )));
    }

    #[test]
    fn override_points_build_at_the_repo_and_scopes_fixed_names() {
        let compose = compose_of(
            "services:\n  clawdbot:\n    build: .\n    env_file: .env\nnetworks:\n  clawdbot-net:\n    name: clawdbot-net\n  ext:\n    name: shared\n    external: true\n",
        );
        let opts = OverrideOptions {
            container_name: Some("demo-1-clawdbot".into()),
            broken_healthcheck: true,
        };
        let text = override_text(
            &compose,
            Path::new("/repo"),
            &Settings::default(),
            "demo-1",
            &opts,
        )
        .unwrap();
        let v: Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(v["services"]["clawdbot"]["build"]["context"], "/repo");
        assert_eq!(
            v["services"]["clawdbot"]["container_name"],
            "demo-1-clawdbot"
        );
        assert_eq!(v["services"]["clawdbot"]["healthcheck"]["test"][0], "CMD");
        assert_eq!(v["networks"]["clawdbot-net"]["name"], "demo-1_clawdbot-net");
        assert!(
            v["networks"].get("ext").is_none(),
            "external networks are left alone"
        );
        assert!(v.get("version").is_none());
        assert!(!text.contains("env_file"));
    }

    #[test]
    fn override_requires_the_service() {
        let compose = compose_of("services:\n  other:\n    image: x\n");
        let err = override_text(
            &compose,
            Path::new("/r"),
            &Settings::default(),
            "p",
            &OverrideOptions::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("no service \"clawdbot\""), "{err}");
    }

    #[test]
    fn stage_writes_exactly_the_context() {
        let dir = crate::tempdir::TempDir::new("xtask-stage").unwrap();
        let bin = dir.path().join("bin");
        std::fs::write(&bin, b"\x7fELF").unwrap();
        let staged = stage(dir.path(), &Settings::default(), &bin).unwrap();
        let mut names: Vec<_> = std::fs::read_dir(&staged)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["clawdbot", "group", "passwd"]);
        let persist = Settings {
            sessions_persist: true,
            ..Settings::default()
        };
        let staged_data = stage(dir.path(), &persist, &bin).unwrap().join("data");
        assert!(staged_data.is_dir());
        assert_eq!(
            staged_data.metadata().unwrap().permissions().mode() & 0o777,
            0o700
        );
        let staged = stage(dir.path(), &Settings::default(), &bin).unwrap();
        let mode = staged
            .join("clawdbot")
            .metadata()
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
    }

    #[test]
    fn static_elf_detection() {
        // This test binary is dynamically linked (gnu target): it has an interpreter.
        let me = std::env::current_exe().unwrap();
        assert!(!is_static_elf(&me).unwrap());
        let dir = crate::tempdir::TempDir::new("xtask-elf").unwrap();
        let f = dir.path().join("not-elf");
        std::fs::write(&f, "hello").unwrap();
        assert!(is_static_elf(&f).is_err());
    }

    /// The repository's `.env` is never read: with a canary in it, the effective config
    /// of the private project holds the demo values only (checked with each compose).
    #[test]
    fn private_project_never_reads_the_real_env_file() {
        use crate::engine::{Compose, Engine};
        let root = crate::tempdir::TempDir::new("xtask-envtest-root").unwrap();
        std::fs::write(
            root.path().join(COMPOSE_FILE),
            "services:\n  clawdbot:\n    image: clawdbot:0.1.0\n    build: .\n    env_file: .env\n    environment:\n      FROM_INTERPOLATION: ${CANARY_VAR:-unset}\n",
        )
        .unwrap();
        std::fs::write(
            root.path().join(".env"),
            "ANTHROPIC_API_KEY=sk-ant-canary-REAL-SECRET\nCANARY_VAR=canary-interp\n",
        )
        .unwrap();
        let dir = crate::tempdir::TempDir::new("xtask-envtest-demo").unwrap();
        let project = private_project(
            dir.path(),
            root.path(),
            &Settings::default(),
            "canary-test",
            &demo_env_text(Some("t".repeat(32).as_str())),
            &OverrideOptions::default(),
        )
        .unwrap();
        let mut ran = 0;
        for compose in [Compose::V2, Compose::V1] {
            let engine = Engine {
                server_version: String::new(),
                compose,
                compose_version: String::new(),
            };
            let Ok(out) = engine.compose(&project, &["config"]).output() else {
                continue;
            };
            if !out.status.success() {
                continue;
            }
            ran += 1;
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                !text.contains("REAL-SECRET") && !text.contains("canary-interp"),
                "{compose}: the real .env leaked:\n{text}"
            );
            assert!(
                text.contains(defaults::DEMO_ANTHROPIC_KEY),
                "{compose}:\n{text}"
            );
            assert!(
                text.contains(&root.path().display().to_string()),
                "build context: {text}"
            );
        }
        if ran == 0 {
            assert!(
                !crate::defaults::ci::in_ci(),
                "no compose available under CI"
            );
            eprintln!(
                "*** SKIPPED private_project_never_reads_the_real_env_file: no compose installed"
            );
        }
    }
}
