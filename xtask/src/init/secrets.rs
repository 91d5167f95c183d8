//! `init --env` with file-based secrets: `secrets/` (mode 0700) holding one file per
//! secret (mode 0600; 0400 for the OpenClaw app, whose gateway only reads them): a fresh
//! random gateway token, and the demo placeholder for each provider key (the user
//! replaces it). Existing files are never read nor replaced, and no
//! value is ever printed.
//!
//! Ownership: compose (v1 and v2, without Swarm) bind-mounts each file as it is on the
//! host, so the container's user (`uid`:`gid` of the settings) must be able to read it.
//! A 0600 file owned by root is not readable by uid 1000 in the container; so when init
//! runs as root it hands each file to `uid`:`gid` (the directory stays root's and 0700,
//! which keeps other host users out while the engine, as root, still mounts the files).
//! When it runs as another user whose id is not `uid`, it says how to fix the ownership.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use serde::Serialize;

use super::status::status;
use super::write;
use crate::defaults;
use crate::settings::{App, Settings};

/// Directory of the secret files, relative to the project root.
pub(crate) const SECRETS_DIR: &str = "secrets";

/// One file-based secret: the variable the service reads (through `<var>_FILE`) and the
/// secret's name (file under `secrets/`, compose/Swarm secret, key of the k8s Secret).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SecretFile {
    pub var: String,
    pub name: String,
    /// Initial content written by `init --env`: empty for the token (a fresh one is
    /// generated), the provider's demo placeholder for a key.
    #[serde(skip)]
    pub placeholder: Option<&'static str>,
}

/// The gateway token first, then every provider key, with lower-case file names. The
/// OpenClaw app's token file is `openclaw::TOKEN_SECRET`, the name its config refers to.
pub(crate) fn secret_files(settings: &Settings) -> Vec<SecretFile> {
    let token_name = match settings.app {
        App::Clawdbot => settings.token_var.to_ascii_lowercase(),
        App::Openclaw => defaults::openclaw::TOKEN_SECRET.to_owned(),
    };
    let mut out = vec![SecretFile {
        var: settings.token_var.clone(),
        name: token_name,
        placeholder: None,
    }];
    for var in &settings.provider_key_vars {
        out.push(SecretFile {
            var: var.clone(),
            name: var.to_ascii_lowercase(),
            placeholder: Some(key_doc(var).1),
        });
    }
    out
}

/// What a provider key variable is for, and its demo placeholder.
pub(crate) fn key_doc(name: &str) -> (&'static str, &'static str) {
    if name == defaults::ANTHROPIC_KEY_VAR {
        (
            "Anthropic API key (used for Claude models).",
            defaults::DEMO_ANTHROPIC_KEY,
        )
    } else if name == defaults::OPENAI_KEY_VAR {
        (
            "OpenAI API key (used for GPT models).",
            defaults::DEMO_OPENAI_KEY,
        )
    } else {
        ("Provider API key.", defaults::DEMO_OPENAI_KEY)
    }
}

pub(crate) fn make_secrets(
    root: &Path,
    display_root: Option<&Path>,
    settings: &Settings,
    dry_run: bool,
) -> Result<()> {
    let shown = |name: &str| {
        display_root.map_or_else(|| name.to_owned(), |r| r.join(name).display().to_string())
    };
    let dir = root.join(SECRETS_DIR);
    let dir_display = shown(&format!("{SECRETS_DIR}/"));
    match std::fs::symlink_metadata(&dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => bail!(
            "{dir_display}: exists and is not a directory (move it away; init keeps the secret files there)"
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if dry_run {
                status("would create", &dir_display, "(mode 0700)");
            } else {
                std::fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&dir)
                    .with_context(|| format!("{dir_display}: cannot create"))?;
                // The umask may have cleared bits we asked for; set exactly 0700.
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
                    .with_context(|| format!("{dir_display}: cannot set mode 0700"))?;
                status("created", &dir_display, "(mode 0700)");
            }
        }
        Err(e) => return Err(e).with_context(|| format!("{dir_display}: cannot inspect")),
    }

    let euid = euid();
    let mut foreign_owner = false;
    let mode: u32 = if settings.app == App::Openclaw {
        0o400
    } else {
        0o600
    };
    for secret in secret_files(settings) {
        let rel = format!("{SECRETS_DIR}/{}", secret.name);
        let display = shown(&rel);
        let path = root.join(&rel);
        if std::fs::symlink_metadata(&path).is_ok() {
            status("kept", &display, "(exists; not read, not replaced)");
            continue;
        }
        let what = match secret.placeholder {
            None => "fresh random token",
            Some(_) => "placeholder: replace it with your key",
        };
        if dry_run {
            status(
                "would create",
                &display,
                &format!("(mode {mode:04o}, {what})"),
            );
            continue;
        }
        let value = match secret.placeholder {
            None => write::random_token()?,
            Some(p) => p.to_owned(),
        };
        if !write::create_new_atomic(&path, value.as_bytes(), mode)? {
            status("kept", &display, "(appeared meanwhile; not replaced)");
            continue;
        }
        if !hand_over(&path, &display, settings)? {
            foreign_owner = true;
        }
        status(
            "created",
            &display,
            &format!(
                "(mode {mode:04o}, owner {}, {what})",
                if euid == 0 { settings.uid } else { euid }
            ),
        );
    }
    if foreign_owner {
        println!(
            "note: the container runs as {uid}:{gid} and cannot read secret files owned by uid {euid} with mode {mode:04o}: run `sudo chown {uid}:{gid} {dir}/*`, or set uid = {euid} and gid in [workspace.metadata.deploy] and rebuild",
            uid = settings.uid,
            gid = settings.gid,
            dir = shown(SECRETS_DIR),
        );
    }
    Ok(())
}

/// Gives a private file to the container's user (`uid`:`gid`) when init runs as root.
/// False when it cannot: another user runs init and is not `uid` (the caller says how to
/// fix the ownership).
pub(crate) fn hand_over(path: &Path, display: &str, settings: &Settings) -> Result<bool> {
    let euid = euid();
    if euid == 0 {
        std::os::unix::fs::chown(path, Some(settings.uid), Some(settings.gid)).with_context(
            || {
                format!(
                    "{display}: cannot hand it to {}:{}",
                    settings.uid, settings.gid
                )
            },
        )?;
        return Ok(true);
    }
    Ok(euid == settings.uid)
}

/// The effective user id of this process.
fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}
