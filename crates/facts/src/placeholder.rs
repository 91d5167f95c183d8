//! Whether a value is a placeholder (written to be replaced) rather than a secret.

use super::PLACEHOLDERS;

/// The placeholder vocabulary (lowercase, `-` written as `_`). A value is written to be
/// replaced, not a secret, when a word without `_` begins or ends one of its alphanumeric
/// runs (`dummy` in `build-time-dummy-value`, `xxx` in `sk-xxxxxxxx`) or a phrase with
/// `_` occurs in it (`sk-proj-REPLACE_ME`); ASCII case and `-`/`_` are ignored. Word
/// edges keep a random key from matching by chance.
pub const PLACEHOLDER_WORDS: &[&str] = &[
    "demo",
    "placeholder",
    "changeme",
    "change_me",
    "changethis",
    "change_this",
    "replaceme",
    "replace_me",
    "replace_with",
    "your",
    "user_provided",
    "generate",
    "dummy",
    "example",
    "xxx",
    "todo",
    "fixme",
];

/// True when a value is a placeholder or demo value rather than a real secret: empty,
/// one of [`PLACEHOLDERS`], holding a word of [`PLACEHOLDER_WORDS`], an angle-bracket
/// hole (`<your key>`), or only mask characters (`****`, `...`, `---`).
pub fn is_placeholder(value: &str) -> bool {
    let v = value.trim();
    let norm = v.to_ascii_lowercase().replace('-', "_");
    let runs: Vec<&str> = norm
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|r| !r.is_empty())
        .collect();
    v.is_empty()
        || PLACEHOLDERS.contains(&v)
        || PLACEHOLDER_WORDS.iter().any(|w| {
            if w.contains('_') {
                norm.contains(w)
            } else {
                runs.iter().any(|r| r.starts_with(w) || r.ends_with(w))
            }
        })
        || (v.len() >= 2 && v.starts_with('<') && v.ends_with('>'))
        || v.chars().all(|c| matches!(c, '*' | '.' | '-' | 'x' | 'X'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every form of the vocabulary, including values seen in real deployments.
    #[test]
    fn placeholder_vocabulary() {
        for v in [
            "",
            "  ",
            "sk-ant-demo-placeholder",
            "change-me-to-a-long-random-token",
            "changeme",
            "CHANGE_ME",
            "ChangeThis",
            "replace_me",
            "sk-proj-REPLACE_ME",
            "replace-with-a-random-string",
            "your-api-key",
            "your_secret_here",
            "<your token>",
            "<>",
            "xxxxxxxx",
            "sk-xxxxxxxxxxxxxxxxxxxxxxxx",
            "****",
            "...",
            "user_provided",
            "generate_a_new_key",
            "GENERATE-WITH-openssl-rand",
            "dummy",
            "build-time-dummy-value",
            "example",
            "secret.example.com",
            "placeholder",
            "TODO",
        ] {
            assert!(is_placeholder(v), "{v:?} is a placeholder");
        }
        for v in [
            "mypassword",
            "password",
            "secret",
            "hunter2",
            "q8ZfT3vLx9Rk2PwYh7Nc",
            "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz012345",
            "<unterminated",
            "0000000000000000",
        ] {
            assert!(!is_placeholder(v), "{v:?} is not a placeholder");
        }
    }
}
