//! Unified diffs for the terminal: colored only when asked (a TTY without `NO_COLOR`).
//! `pub(crate)` so other tasks can show drift the same way.

use std::io::IsTerminal;

use console::Style;
use similar::TextDiff;

/// True when stdout is a terminal, `NO_COLOR` is unset or empty and `TERM` is not `dumb`.
pub(crate) fn color_for_stdout() -> bool {
    std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var("TERM").map_or(true, |t| t != "dumb")
}

/// A unified diff (3 lines of context) from `old` to `new`, with `---`/`+++` headers.
/// Empty when the texts are equal.
pub(crate) fn unified(old: &str, new: &str, old_name: &str, new_name: &str, color: bool) -> String {
    if old == new {
        return String::new();
    }
    let diff = TextDiff::from_lines(old, new);
    let plain = diff
        .unified_diff()
        .context_radius(3)
        .header(old_name, new_name)
        .to_string();
    if !color {
        return plain;
    }
    let (red, green, cyan, bold) = (
        Style::new().red().force_styling(true),
        Style::new().green().force_styling(true),
        Style::new().cyan().force_styling(true),
        Style::new().bold().force_styling(true),
    );
    let mut out = String::with_capacity(plain.len() + 64);
    for line in plain.split_inclusive('\n') {
        let (body, nl) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        let styled = if body.starts_with("+++") || body.starts_with("---") {
            bold.apply_to(body).to_string()
        } else if body.starts_with("@@") {
            cyan.apply_to(body).to_string()
        } else if body.starts_with('+') {
            green.apply_to(body).to_string()
        } else if body.starts_with('-') {
            red.apply_to(body).to_string()
        } else {
            body.to_owned()
        };
        out.push_str(&styled);
        out.push_str(nl);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_diff_has_headers_and_changed_lines_only_when_different() {
        assert_eq!(unified("a\n", "a\n", "x", "y", false), "");
        let d = unified("a\nb\nc\n", "a\nB\nc\n", "old/f", "new/f", false);
        assert!(
            d.starts_with("--- old/f\n+++ new/f\n@@ -1,3 +1,3 @@\n"),
            "{d}"
        );
        assert!(d.contains("\n-b\n+B\n"), "{d}");
        assert!(!d.contains('\u{1b}'));
    }

    #[test]
    fn colored_diff_marks_added_and_removed_lines() {
        let d = unified("a\n", "b\n", "x", "y", true);
        assert!(d.contains("\u{1b}[31m-a"), "{d:?}");
        assert!(d.contains("\u{1b}[32m+b"), "{d:?}");
    }
}
