//! Rebuild the xtask when a template changes: `templates/` is embedded with include_dir.

fn main() {
    println!("cargo:rerun-if-changed=../templates");
    println!("cargo:rerun-if-changed=build.rs");
}
