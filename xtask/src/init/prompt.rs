//! The interactive question for a file that differs (only on a terminal).

use anyhow::{Context as _, Result};
use console::Term;
use dialoguer::Select;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Choice {
    Overwrite,
    Skip,
    Quit,
}

const ITEMS: &[&str] = &[
    "overwrite with the rendered file",
    "skip (leave it as it is)",
    "show the full rendered file",
    "quit (leave this and the remaining files)",
];

/// Asks what to do with `name`; "show the full file" prints `new_text` and asks again.
/// Esc or `q` means quit. The default (Enter) is skip: nothing is clobbered by accident.
pub(crate) fn ask(name: &str, new_text: &str) -> Result<Choice> {
    let term = Term::stdout();
    loop {
        let picked = Select::new()
            .with_prompt(format!("{name} differs from the rendered file"))
            .items(ITEMS)
            .default(1)
            .interact_on_opt(&term)
            .context("reading the answer from the terminal")?;
        match picked {
            Some(0) => return Ok(Choice::Overwrite),
            Some(1) => return Ok(Choice::Skip),
            Some(2) => {
                println!("----- {name} (rendered) -----");
                print!("{new_text}");
                println!("----- end of {name} -----");
            }
            _ => return Ok(Choice::Quit),
        }
    }
}
