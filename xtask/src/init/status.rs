//! One status line per file (`     created Dockerfile`), colored on a terminal: what
//! init did or would do to it.

/// Prints `what` right-aligned, the file's name and an optional note.
pub(crate) fn status(what: &str, name: &str, note: &str) {
    let padded = format!("{what:>12}");
    let what = match what {
        "created" | "updated" => console::style(padded).green().to_string(),
        "skipped" | "differs" | "missing" => console::style(padded).yellow().to_string(),
        _ => padded,
    };
    if note.is_empty() {
        println!("{what} {name}");
    } else {
        println!("{what} {name} {note}");
    }
}
