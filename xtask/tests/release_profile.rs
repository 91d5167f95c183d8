//! The release profile keeps clawdbot-verify built for speed: the workspace builds for
//! size (`opt-level = "z"`, the gateway's image), and `[profile.release.package]` puts
//! clawdbot-verify and every crate it links back at 3 (clap's parser, run once at start,
//! stays at `z`). A dependency added to verify later would silently be built for size:
//! this test reads verify's tree from cargo and fails on any crate missing from the table.

mod support;

/// Crates of verify's tree left at `z` on purpose: clap's parser, run once at start.
const SIZE_ON_PURPOSE: &[&str] = &["clap_builder", "clap_lex", "anstyle"];

#[test]
fn every_crate_clawdbot_verify_links_is_built_at_opt_level_3() {
    let root = support::repo_root();
    let manifest: toml::Value =
        toml::from_str(&std::fs::read_to_string(root.join("Cargo.toml")).unwrap()).unwrap();
    let packages = manifest["profile"]["release"]["package"]
        .as_table()
        .expect("[profile.release.package]");
    let tree = support::ok_in(
        &root,
        env!("CARGO"),
        &[
            "tree",
            "--locked",
            "-p",
            "clawdbot-verify",
            "-e",
            "normal,no-proc-macro",
            "--target",
            support::MUSL_TARGET,
            "--prefix",
            "none",
        ],
    );
    let mut crates: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split(' ').next())
        .filter(|name| !name.is_empty())
        .collect();
    crates.sort_unstable();
    crates.dedup();
    assert!(crates.len() > 30, "too few crates read: {crates:?}");
    let missing: Vec<&str> = crates
        .iter()
        .copied()
        .filter(|name| !SIZE_ON_PURPOSE.contains(name))
        .filter(|name| {
            packages
                .get(*name)
                .and_then(|p| p.get("opt-level"))
                .and_then(toml::Value::as_integer)
                != Some(3)
        })
        .collect();
    assert!(
        missing.is_empty(),
        "crates clawdbot-verify links that the release profile builds for size (add them to [profile.release.package] with opt-level = 3): {missing:?}"
    );
}
