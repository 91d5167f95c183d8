//! What staging removes from the installed npm tree, and why: files Node never reads at
//! run time (TypeScript sources and types, source maps, docs other than the workspace
//! templates openclaw seeds from), native binaries for other systems, and the parts of
//! openclaw that cannot work in the hardened posture (a desktop, a browser, remote
//! worker nodes). Measured on openclaw 2026.9.6 (numbers in docs/performance.md, section
//! openclaw): a gateway start reads 128 MB of the 638 MB tree.
//!
//! Each rule is a pure function of a path relative to `node_modules/`, tested below;
//! [`prune`] walks the tree and reports the bytes each rule removed.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};

/// Why a path goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rule {
    /// `.ts`, `.mts`, `.cts` (declarations included): Node loads the compiled `.js`.
    TypeScript,
    /// `.map`: only debuggers read source maps.
    SourceMap,
    /// Markdown and docs, except openclaw's workspace templates, skills and the markdown
    /// in its `dist/` (bundled hooks and skills): it reads those at run time.
    Docs,
    /// Prebuilt binaries for other systems (musl, macOS, Windows).
    OtherPlatform,
    /// A whole package or directory the gateway cannot use in this image.
    Unusable,
}

impl Rule {
    pub fn describe(self) -> &'static str {
        match self {
            Rule::TypeScript => "TypeScript sources and declarations",
            Rule::SourceMap => "source maps",
            Rule::Docs => "docs and markdown (workspace templates and skills kept)",
            Rule::OtherPlatform => "native binaries for musl, macOS, Windows",
            Rule::Unusable => {
                "unusable here: computer-use driver, browser automation, remote worker bundle"
            }
        }
    }
}

/// Directories (relative to `node_modules/`) removed whole, each with its reason.
pub const UNUSABLE: &[(&str, &str)] = &[
    (
        "@trycua",
        "computer-use driver (42 MB): needs an X11 desktop, which the image has not",
    ),
    (
        "playwright-core",
        "browser automation: drives a Chromium the image does not ship",
    ),
    (
        "openclaw/dist/worker",
        "the bundle openclaw ships to remote worker nodes (104 MB); this gateway runs none",
    ),
];

/// openclaw's own files it reads at run time although they are markdown.
const KEPT_DOCS: &[&str] = &[
    "openclaw/dist/",
    "openclaw/docs/reference/templates/",
    "openclaw/skills/",
    "openclaw/custodian-skills/",
];

/// The rule that removes `rel` (a path under `node_modules/`, `/`-separated), if any.
/// `is_dir` tells a directory from a file.
pub fn rule_for(rel: &str, is_dir: bool) -> Option<Rule> {
    if is_dir {
        let unusable = UNUSABLE.iter().any(|(d, _)| rel == *d);
        if unusable {
            return Some(Rule::Unusable);
        }
        let name = rel.rsplit('/').next().unwrap_or(rel);
        let other = name == "musl_x64"
            || name.starts_with("darwin")
            || name.starts_with("win32")
            || name.ends_with("-musl");
        if other && rel.contains('/') {
            return Some(Rule::OtherPlatform);
        }
        // Under openclaw/docs only the templates directory and its ancestors stay.
        const TEMPLATES: &str = "openclaw/docs/reference/templates";
        let keeps_templates = rel == TEMPLATES || TEMPLATES.starts_with(&format!("{rel}/"));
        let docs_dir = rel.starts_with("openclaw/docs/") && !keeps_templates;
        return docs_dir.then_some(Rule::Docs);
    }
    let name = rel.rsplit('/').next().unwrap_or(rel);
    let lower = name.to_ascii_lowercase();
    if [".ts", ".mts", ".cts"].iter().any(|e| lower.ends_with(e)) {
        return Some(Rule::TypeScript);
    }
    if lower.ends_with(".map") {
        return Some(Rule::SourceMap);
    }
    let markdown = lower.ends_with(".md") || lower.ends_with(".markdown");
    if markdown && !KEPT_DOCS.iter().any(|k| rel.starts_with(k)) {
        return Some(Rule::Docs);
    }
    None
}

/// Bytes and files removed per rule.
pub type Removed = BTreeMap<Rule, (u64, u64)>;

/// Removes from `node_modules` everything a [`rule_for`] names; returns what went.
pub fn prune(node_modules: &Path) -> Result<Removed> {
    let mut removed = Removed::new();
    walk(node_modules, "", &mut removed)?;
    Ok(removed)
}

fn walk(dir: &Path, rel: &str, removed: &mut Removed) -> Result<()> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let child_rel = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let kind = entry.file_type()?;
        let path = entry.path();
        match rule_for(&child_rel, kind.is_dir()) {
            Some(rule) => {
                let (bytes, files) = tree_size(&path)?;
                let slot = removed.entry(rule).or_default();
                slot.0 += bytes;
                slot.1 += files;
                if kind.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                }
                .with_context(|| format!("removing {}", path.display()))?;
            }
            None if kind.is_dir() => walk(&path, &child_rel, removed)?,
            None => {}
        }
    }
    Ok(())
}

/// Bytes and number of regular files under `path` (symlinks not followed).
pub fn tree_size(path: &Path) -> Result<(u64, u64)> {
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.is_dir() {
        return Ok((if meta.is_file() { meta.len() } else { 0 }, 1));
    }
    let mut total = (0, 0);
    for entry in std::fs::read_dir(path)? {
        let (b, f) = tree_size(&entry?.path())?;
        total.0 += b;
        total.1 += f;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_keep_what_node_and_openclaw_read() {
        for (rel, dir, want) in [
            ("openai/index.d.ts", false, Some(Rule::TypeScript)),
            ("openai/src/core.ts", false, Some(Rule::TypeScript)),
            ("zod/v4/index.d.cts", false, Some(Rule::TypeScript)),
            ("openai/index.js.map", false, Some(Rule::SourceMap)),
            ("openai/README.md", false, Some(Rule::Docs)),
            ("openclaw/CHANGELOG.md", false, Some(Rule::Docs)),
            ("openclaw/docs", true, None),
            ("openclaw/docs/reference", true, None),
            ("openclaw/docs/channels", true, Some(Rule::Docs)),
            ("openclaw/docs/reference/templates", true, None),
            (
                "openclaw/docs/reference/RELEASING.md",
                false,
                Some(Rule::Docs),
            ),
            ("openclaw/docs/reference/templates/SOUL.md", false, None),
            ("openclaw/skills/github/SKILL.md", false, None),
            ("openclaw/dist/bundled/boot-md/HOOK.md", false, None),
            (
                "@koromix/koffi-linux-x64/musl_x64",
                true,
                Some(Rule::OtherPlatform),
            ),
            ("@koromix/koffi-linux-x64/linux_x64", true, None),
            ("x/prebuilds/darwin-arm64", true, Some(Rule::OtherPlatform)),
            ("x/prebuilds/win32-x64", true, Some(Rule::OtherPlatform)),
            ("@trycua", true, Some(Rule::Unusable)),
            ("playwright-core", true, Some(Rule::Unusable)),
            ("openclaw/dist/worker", true, Some(Rule::Unusable)),
            ("openclaw/dist/control-ui", true, None),
            ("openclaw/dist/index.js", false, None),
            ("openclaw/openclaw.mjs", false, None),
            ("typescript/lib/typescript.js", false, None),
            ("x/LICENSE", false, None),
        ] {
            assert_eq!(rule_for(rel, dir), want, "{rel}");
        }
        // The docs rule as a directory walk meets it: `docs` itself is kept (it holds
        // the templates), its other subtrees go.
        assert_eq!(rule_for("openclaw/docs", true), None);
    }

    #[test]
    fn prune_removes_and_counts_on_a_real_tree() {
        let dir = crate::tempdir::TempDir::new("oc-prune").unwrap();
        let nm = dir.path();
        let write = |rel: &str, len: usize| {
            let p = nm.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, vec![b'x'; len]).unwrap();
        };
        write("openclaw/dist/index.js", 10);
        write("openclaw/dist/index.js.map", 20);
        write("openclaw/dist/worker/worker.mjs", 300);
        write("openclaw/docs/channels/x.md", 40);
        write("openclaw/docs/reference/templates/SOUL.md", 5);
        write("openai/index.d.ts", 7);
        let removed = prune(nm).unwrap();
        assert_eq!(removed[&Rule::SourceMap], (20, 1));
        assert_eq!(removed[&Rule::Unusable], (300, 1));
        assert_eq!(removed[&Rule::Docs], (40, 1));
        assert_eq!(removed[&Rule::TypeScript], (7, 1));
        assert!(nm.join("openclaw/dist/index.js").exists());
        assert!(nm
            .join("openclaw/docs/reference/templates/SOUL.md")
            .exists());
        assert!(!nm.join("openclaw/dist/worker").exists());
        assert!(!nm.join("openclaw/docs/channels").exists());
    }
}
