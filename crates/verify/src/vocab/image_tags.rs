//! Image references: which tags are rolling (they move under you) and why a reference
//! is not pinned. One list for compose, Dockerfile `FROM` and Kubernetes images.

/// Tags that name a branch or channel, not a release.
pub const ROLLING_TAGS: &[&str] = &[
    "latest", "main", "master", "nightly", "edge", "dev", "develop", "release", "stable", "beta",
    "canary", "rolling",
];

/// Suffixes of rolling tags (`main-stable`, `3-nightly`, `alpine-edge`).
pub const ROLLING_SUFFIXES: &[&str] = &["-latest", "-stable", "-nightly", "-edge", "-dev"];

/// The tag of an image reference (`None`: no tag; a registry port is not a tag).
pub fn tag_of(image: &str) -> Option<&str> {
    let name = image.split('@').next().unwrap_or(image);
    let last = name.rsplit('/').next().unwrap_or(name);
    last.split_once(':').map(|(_, t)| t)
}

/// True for a rolling tag (see [`ROLLING_TAGS`], [`ROLLING_SUFFIXES`]); ASCII case ignored.
pub fn is_rolling(tag: &str) -> bool {
    let t = tag.to_ascii_lowercase();
    ROLLING_TAGS.contains(&t.as_str()) || ROLLING_SUFFIXES.iter().any(|s| t.ends_with(s))
}

/// Why an image reference is not pinned (`None` with a digest or a release tag).
pub fn unpinned(image: &str) -> Option<String> {
    if image.contains('@') {
        return None;
    }
    match tag_of(image) {
        None => Some("no tag (means latest); pin a version, a digest is best".into()),
        Some(t) if is_rolling(t) => Some(format!(
            "tag `{t}` is a rolling tag, not a version; pin a version, a digest is best"
        )),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolling_and_pinned() {
        for i in [
            "nginx",
            "nginx:latest",
            "ghcr.io/org/app:main",
            "app:MASTER",
            "app:nightly",
            "app:edge",
            "app:dev",
            "app:develop",
            "app:release",
            "app:stable",
            "app:beta",
            "app:canary",
            "app:rolling",
            "app:main-stable",
            "app:3-nightly",
            "localhost:5000/app",
            "localhost:5000/app:latest",
        ] {
            assert!(unpinned(i).is_some(), "{i}");
        }
        for i in [
            "nginx:1.27",
            "app:v2.3.1",
            "localhost:5000/app:1.0",
            "app@sha256:0123",
            "app:latest@sha256:0123",
            "postgres:16-alpine",
            "app:stable-1.2",
            "app:development-build-7",
        ] {
            assert!(unpinned(i).is_none(), "{i}");
        }
    }
}
