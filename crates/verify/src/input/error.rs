//! The one error of reading the input: a file that is unreadable or malformed, named
//! with its line and column. Below every reader (the project loader, the settings
//! reader), so that none of them imports another for it.

use std::fmt;

/// Unreadable or malformed input: reported as one line, exit 2.
#[derive(Debug)]
pub struct InputError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )
        }
    }
}

impl std::error::Error for InputError {}
