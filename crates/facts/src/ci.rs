//! "Am I in CI": the one definition every crate and test asks.
//!
//! The meaning: the `CI` environment variable is set **and non-empty** (`CI=true`,
//! `CI=1`, as CI services and `.ci/run` set it). An empty `CI=` counts as not in CI, so
//! `CI= cargo test` turns it off for one command. Under CI a missing tool or engine is
//! a test failure instead of a loud skip, nothing prompts, and no spinner or colour is
//! drawn.

/// True when `CI` is set to a non-empty value.
pub fn in_ci() -> bool {
    is_ci_value(std::env::var_os("CI").as_deref())
}

/// The rule on `CI`'s value (`None` when unset).
fn is_ci_value(value: Option<&std::ffi::OsStr>) -> bool {
    value.is_some_and(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn set_and_non_empty_is_ci() {
        assert!(is_ci_value(Some(OsStr::new("true"))));
        assert!(is_ci_value(Some(OsStr::new("1"))));
        assert!(
            is_ci_value(Some(OsStr::new("false"))),
            "any non-empty value counts"
        );
        assert!(!is_ci_value(Some(OsStr::new(""))));
        assert!(!is_ci_value(None));
    }
}
