//! The diff-then-write flow of `cargo xtask init`, run as a real binary without a
//! terminal: create, up to date, no overwrite without a TTY, --check, --dry-run, --yes,
//! --only, mode and CRLF kept, atomicity, symlink refusal, and --env.

mod support;

use std::os::unix::fs::PermissionsExt;

use support::{init, rendered, TempDir, FILES};

fn mode(dir: &TempDir, name: &str) -> u32 {
    std::fs::metadata(dir.join(name))
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn fresh_root_gets_every_file_then_is_up_to_date() {
    let dir = TempDir::project("fresh", "local");
    let run = init(dir.path(), &[]);
    assert_eq!(run.code, 0, "{}", run.show());
    for file in FILES {
        assert!(dir.join(file).is_file(), "{file} missing\n{}", run.show());
    }
    assert!(run
        .stdout
        .contains("init: 5 created, 0 updated, 0 unchanged, 0 skipped"));
    let again = init(dir.path(), &[]);
    assert_eq!(again.code, 0, "{}", again.show());
    assert!(again
        .stdout
        .contains("init: 0 created, 0 updated, 5 unchanged, 0 skipped"));
    assert!(
        !dir.join(".env").exists(),
        "init must not create .env unasked"
    );
}

#[test]
fn without_a_terminal_a_changed_file_is_left_untouched_diff_printed_exit_1() {
    let dir = rendered("notty", "local");
    let edited = dir
        .read("docker-compose.yml")
        .replace("read_only: true", "read_only: false");
    dir.write("docker-compose.yml", &edited);
    let run = init(dir.path(), &[]);
    assert_eq!(run.code, 1, "{}", run.show());
    assert_eq!(
        dir.read("docker-compose.yml"),
        edited,
        "file was overwritten"
    );
    assert!(
        run.stdout.contains("-    read_only: false"),
        "{}",
        run.show()
    );
    assert!(
        run.stdout.contains("+    read_only: true"),
        "{}",
        run.show()
    );
    assert!(run.stdout.contains("--yes"), "{}", run.show());
    assert!(run
        .stdout
        .contains("0 created, 0 updated, 4 unchanged, 1 skipped"));
    assert!(
        !run.stdout.contains('\u{1b}'),
        "no color without a terminal"
    );
}

#[test]
fn check_exit_codes_and_it_writes_nothing() {
    let dir = rendered("check", "local");
    let clean = init(dir.path(), &["--check"]);
    assert_eq!(clean.code, 0, "{}", clean.show());

    let edited = dir.read("Dockerfile").replace("USER 1000:1000", "USER 0:0");
    dir.write("Dockerfile", &edited);
    let drift = init(dir.path(), &["--check"]);
    assert_eq!(drift.code, 1, "{}", drift.show());
    assert!(
        drift.stdout.contains("-USER 0:0\n+USER 1000:1000"),
        "{}",
        drift.show()
    );
    assert_eq!(dir.read("Dockerfile"), edited);

    std::fs::remove_file(dir.join(".env.example")).unwrap();
    let missing = init(dir.path(), &["--check"]);
    assert_eq!(missing.code, 1, "{}", missing.show());
    assert!(
        missing
            .stdout
            .contains(&format!("missing {}", dir.join(".env.example").display())),
        "{}",
        missing.show()
    );
    assert!(!dir.join(".env.example").exists(), "--check must not write");

    let bad = init(dir.path(), &["--check", "--yes"]);
    assert_eq!(bad.code, 2, "--check conflicts with --yes\n{}", bad.show());
}

#[test]
fn yes_restores_a_deleted_file_byte_for_byte() {
    let dir = rendered("restore", "local");
    let before = dir.bytes("docker-compose.yml");
    std::fs::remove_file(dir.join("docker-compose.yml")).unwrap();
    let run = init(dir.path(), &["--yes"]);
    assert_eq!(run.code, 0, "{}", run.show());
    assert_eq!(dir.bytes("docker-compose.yml"), before);
}

#[test]
fn yes_overwrites_and_keeps_the_mode() {
    let dir = rendered("mode", "local");
    let good = dir.read("Dockerfile");
    dir.write("Dockerfile", "FROM debian\n");
    std::fs::set_permissions(
        dir.join("Dockerfile"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    let run = init(dir.path(), &["--yes"]);
    assert_eq!(run.code, 0, "{}", run.show());
    assert!(
        run.stdout
            .contains(&format!("updated {}", dir.join("Dockerfile").display())),
        "{}",
        run.show()
    );
    assert_eq!(dir.read("Dockerfile"), good);
    assert_eq!(mode(&dir, "Dockerfile"), 0o640);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
}

#[test]
fn dry_run_writes_nothing_and_says_what_it_would_do() {
    let dir = TempDir::project("dry", "local");
    let run = init(dir.path(), &["--dry-run", "--yes", "--env"]);
    assert_eq!(run.code, 0, "{}", run.show());
    assert!(
        run.stdout.contains(&format!(
            "would create {}",
            dir.join("Dockerfile").display()
        )),
        "{}",
        run.show()
    );
    assert!(
        run.stdout
            .contains(&format!("would create {} ", dir.join(".env").display())),
        "{}",
        run.show()
    );
    for file in FILES.iter().chain([&".env"]) {
        assert!(!dir.join(file).exists(), "--dry-run wrote {file}");
    }
}

#[test]
fn only_limits_the_files_and_rejects_unknown_names() {
    let dir = TempDir::project("only", "local");
    let run = init(dir.path(), &["--only", "Dockerfile", ".dockerignore"]);
    assert_eq!(run.code, 0, "{}", run.show());
    assert!(dir.join("Dockerfile").exists() && dir.join(".dockerignore").exists());
    assert!(!dir.join("docker-compose.yml").exists());
    let bad = init(dir.path(), &["--only", "Makefile"]);
    assert_eq!(bad.code, 2, "{}", bad.show());
    assert!(
        bad.stderr.contains("--only Makefile: not a generated file"),
        "{}",
        bad.show()
    );
}

#[test]
fn crlf_files_compare_by_content_and_stay_crlf() {
    let dir = rendered("crlf", "local");
    let lf = dir.read("docker-compose.yml");
    dir.write("docker-compose.yml", &lf.replace('\n', "\r\n"));
    let same = init(dir.path(), &["--check"]);
    assert_eq!(same.code, 0, "CRLF alone is not drift\n{}", same.show());

    let edited = lf.replace("restart: unless-stopped", "restart: always");
    dir.write("docker-compose.yml", &edited.replace('\n', "\r\n"));
    let drift = init(dir.path(), &["--check"]);
    assert_eq!(drift.code, 1, "{}", drift.show());
    assert!(
        !drift.stdout.contains('\r'),
        "diff shows LF text\n{}",
        drift.show()
    );
    let fix = init(dir.path(), &["--yes"]);
    assert_eq!(fix.code, 0, "{}", fix.show());
    assert_eq!(dir.read("docker-compose.yml"), lf.replace('\n', "\r\n"));
}

#[test]
fn a_failing_render_leaves_every_old_file_intact() {
    let dir = rendered("atomic", "local");
    // Make every file differ, then render from templates where the last one is broken.
    for file in FILES {
        dir.write(file, &format!("# user edit of {file}\n"));
    }
    let before: Vec<Vec<u8>> = FILES.iter().map(|f| dir.bytes(f)).collect();
    let templates = TempDir::new("atomic-templates");
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates");
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            continue; // templates/openclaw/: another app's set
        }
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let mut text = std::fs::read_to_string(&path).unwrap();
        if name == "dockerignore.tera" {
            text.push_str("{{ no_such_setting }}\n");
        }
        templates.write(&name, &text);
    }
    let run = init(
        dir.path(),
        &["--yes", "--templates", templates.path().to_str().unwrap()],
    );
    assert_eq!(run.code, 2, "{}", run.show());
    assert!(
        run.stderr.contains("dockerignore.tera:")
            && run.stderr.contains("undefined variable `no_such_setting`"),
        "{}",
        run.show()
    );
    let after: Vec<Vec<u8>> = FILES.iter().map(|f| dir.bytes(f)).collect();
    assert_eq!(
        before, after,
        "a file was written although rendering failed"
    );
}

#[test]
fn an_undefined_variable_in_a_condition_is_an_error_too() {
    let dir = rendered("undef-if", "local");
    let templates = TempDir::new("undef-if-templates");
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates");
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            continue; // templates/openclaw/: another app's set
        }
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let text = std::fs::read_to_string(&path).unwrap().replace(
            "{%- if profile == \"isolated\" %}",
            "{%- if profle == \"isolated\" %}",
        );
        templates.write(&name, &text);
    }
    let run = init(
        dir.path(),
        &["--check", "--templates", templates.path().to_str().unwrap()],
    );
    assert_eq!(run.code, 2, "{}", run.show());
    assert!(
        run.stderr.contains("docker-compose.yml.tera:") && run.stderr.contains("`profle`"),
        "{}",
        run.show()
    );
}

#[test]
fn a_symlink_leaving_the_root_is_refused_and_one_inside_is_followed() {
    let outside = TempDir::new("outside");
    outside.write("compose.yml", "services: {}\n");
    let dir = rendered("symlink", "local");
    let good = dir.read("docker-compose.yml");
    std::fs::remove_file(dir.join("docker-compose.yml")).unwrap();
    std::os::unix::fs::symlink(outside.join("compose.yml"), dir.join("docker-compose.yml"))
        .unwrap();
    let run = init(dir.path(), &["--yes"]);
    assert_eq!(run.code, 2, "{}", run.show());
    assert!(
        run.stderr.contains("docker-compose.yml: is a symlink to")
            && run.stderr.contains("outside"),
        "{}",
        run.show()
    );
    assert_eq!(outside.read("compose.yml"), "services: {}\n");

    // A dangling link out of the root is refused as well.
    std::fs::remove_file(dir.join("docker-compose.yml")).unwrap();
    std::os::unix::fs::symlink(
        "../../../../nowhere/compose.yml",
        dir.join("docker-compose.yml"),
    )
    .unwrap();
    let run = init(dir.path(), &["--yes"]);
    assert_eq!(run.code, 2, "{}", run.show());

    // Inside the root: the link is kept and its target is written.
    std::fs::remove_file(dir.join("docker-compose.yml")).unwrap();
    std::fs::create_dir(dir.join("deploy")).unwrap();
    dir.write("deploy/compose.yml", "old\n");
    std::os::unix::fs::symlink("deploy/compose.yml", dir.join("docker-compose.yml")).unwrap();
    let run = init(dir.path(), &["--yes"]);
    assert_eq!(run.code, 0, "{}", run.show());
    assert!(std::fs::symlink_metadata(dir.join("docker-compose.yml"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(dir.read("deploy/compose.yml"), good);
}

#[test]
fn env_is_created_once_with_mode_0600_and_a_fresh_token_never_printed() {
    let dir = TempDir::project("env", "local");
    let run = init(dir.path(), &["--env"]);
    assert_eq!(run.code, 0, "{}", run.show());
    assert_eq!(mode(&dir, ".env"), 0o600);
    let env = dir.read(".env");
    let token = env
        .lines()
        .find_map(|l| l.strip_prefix("CLAWDBOT_GATEWAY_TOKEN="))
        .expect("token line");
    assert!(token.len() >= 32, "{token}");
    assert!(token.chars().all(|c| c.is_ascii_hexdigit()), "{token}");
    assert!(!env.contains("change-me-to-a-long-random-token"));
    assert!(env.contains("ANTHROPIC_API_KEY=sk-ant-demo-placeholder"));
    assert!(!run.stdout.contains(token) && !run.stderr.contains(token));

    // Present: never replaced (and a second token is different from the first).
    let again = init(dir.path(), &["--env"]);
    assert_eq!(again.code, 0, "{}", again.show());
    assert_eq!(dir.read(".env"), env);
    assert!(
        again
            .stdout
            .contains(&format!("kept {}", dir.join(".env").display())),
        "{}",
        again.show()
    );

    let other = TempDir::project("env2", "local");
    assert_eq!(init(other.path(), &["--env"]).code, 0);
    assert_ne!(other.read(".env"), env, "tokens must be fresh");
}

#[test]
fn a_bad_root_is_a_usage_error() {
    let dir = TempDir::new("badroot");
    let run = init(&dir.join("missing"), &[]);
    assert_eq!(run.code, 2, "{}", run.show());
    assert!(run.stderr.starts_with("error: "), "{}", run.show());
}
