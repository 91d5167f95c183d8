//! Settings errors through the real binary: a bad `[workspace.metadata.deploy]` in the
//! root's Cargo.toml exits 2 with `<file>:<line>:` and the key, and writes nothing.

mod support;
use support::{init, TempDir};

fn bad(table_line: &str, key: &str, reason: &str) {
    let dir = TempDir::new("settings");
    dir.write(
        "Cargo.toml",
        &format!("[package]\nname = \"x\"\nversion = \"1.0.0\"\n\n[workspace.metadata.deploy]\n{table_line}\n"),
    );
    let run = init(dir.path(), &["--yes"]);
    assert_eq!(run.code, 2, "{table_line}\n{}", run.show());
    let at = format!("error: {}:6: ", dir.join("Cargo.toml").display());
    assert!(
        run.stderr.starts_with(&at),
        "{table_line}: expected {at}\n{}",
        run.show()
    );
    assert!(
        run.stderr.contains(key),
        "{table_line}: key {key}\n{}",
        run.show()
    );
    assert!(
        run.stderr.contains(reason),
        "{table_line}: reason {reason}\n{}",
        run.show()
    );
    assert!(!dir.join("Dockerfile").exists(), "nothing may be written");
}

#[test]
fn uid_zero() {
    bad("uid = 0", "uid", "root");
}

#[test]
fn gid_zero() {
    bad("gid = 0", "gid", "root group");
}

#[test]
fn memory_lots() {
    bad("memory = \"lots\"", "memory", "\"lots\"");
}

#[test]
fn port_out_of_range() {
    bad("gateway_port = 70000", "gateway_port", "");
    bad("health_port = 80", "health_port", "out of range");
}

#[test]
fn public_bind_without_consent() {
    bad(
        "bind_address = \"0.0.0.0\"",
        "bind_address",
        "allow_public_bind = true",
    );
}

#[test]
fn unknown_key() {
    bad("colour = \"blue\"", "colour", "unknown field");
}

#[test]
fn bad_profile() {
    bad("profile = \"cloud\"", "profile", "cloud");
}

#[test]
fn public_bind_with_consent_renders_that_address() {
    let dir = TempDir::new("settings-public");
    dir.write(
        "Cargo.toml",
        "[workspace.metadata.deploy]\nbind_address = \"0.0.0.0\"\nallow_public_bind = true\ngateway_port = 19000\n",
    );
    let run = init(dir.path(), &["--yes"]);
    assert_eq!(run.code, 0, "{}", run.show());
    let compose = dir.read("docker-compose.yml");
    assert!(compose.contains("\"0.0.0.0:19000:19000\""), "{compose}");
    assert!(dir.read("Dockerfile").contains("EXPOSE 19000 8080"));
}

#[test]
fn ipv6_loopback_is_bracketed_in_port_mappings() {
    let dir = TempDir::new("settings-v6");
    dir.write(
        "Cargo.toml",
        "[workspace.metadata.deploy]\nbind_address = \"::1\"\n",
    );
    let run = init(dir.path(), &["--yes"]);
    assert_eq!(run.code, 0, "{}", run.show());
    let compose = dir.read("docker-compose.yml");
    assert!(compose.contains("\"[::1]:18789:18789\""), "{compose}");
    assert!(compose.contains("\"[::1]:8080:8080\""), "{compose}");
}

#[test]
fn print_settings_shows_effective_values() {
    let dir = TempDir::new("settings-print");
    dir.write(
        "Cargo.toml",
        "[workspace.metadata.deploy]\nmemory = \"512M\"\ndockerfiles = { \"ghcr.io/org/app\" = \"Dockerfile\" }\n",
    );
    let run = init(dir.path(), &["--print-settings"]);
    assert_eq!(run.code, 0, "{}", run.show());
    assert!(
        run.stdout.contains("[workspace.metadata.deploy]\n"),
        "{}",
        run.show()
    );
    // A table-valued key prints as a sub-table of the deploy table (valid TOML that
    // reads back the same).
    assert!(
        run.stdout.contains(
            "[workspace.metadata.deploy.dockerfiles]\n\"ghcr.io/org/app\" = \"Dockerfile\"\n"
        ),
        "{}",
        run.show()
    );
    assert!(run.stdout.contains("memory = \"512M\"\n"), "{}", run.show());
    assert!(run.stdout.contains("uid = 1000\n"), "{}", run.show());
    assert!(
        !dir.join("Dockerfile").exists(),
        "--print-settings writes nothing"
    );
}
