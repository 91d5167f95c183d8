//! What every check produces, static or runtime: a `Finding` against a rule id of the
//! catalog, at a location, with masked evidence.

use crate::vocab::catalog::RuleId;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Note,
    Warning,
    Error,
}

/// Where a finding is. Static findings point into a file (1-based line and column);
/// runtime findings use `file = "container:<name>"` and line/column 0.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

/// `file:line:column`, or the file alone when the line is unknown (0), as the human
/// and JUnit reports show it.
impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            f.write_str(&self.file)
        } else {
            write!(f, "{}:{}:{}", self.file, self.line, self.column)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable rule id from the catalog, e.g. `port-not-loopback`.
    pub rule: RuleId,
    pub severity: Severity,
    pub message: String,
    pub location: Location,
    /// The offending text, already masked (never a raw secret).
    pub evidence: Option<String>,
    /// `Some(reason)` when an inline `# verify: ignore=ID reason` suppresses it.
    pub suppressed: Option<String>,
    /// The checklist item this finding counts against when it is not its rule's (a
    /// failed self-check counts against the item of its check, `clawdbot_facts::SelfCheckId`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checklist: Option<u8>,
    /// The services a finding in a shared definition (a YAML anchor, a merged mapping)
    /// stands for, each at its own name: the finding is reported once, at the shared
    /// place (SARIF `relatedLocations`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<Related>,
}

/// A place a finding also concerns (a service that merges the definition it is in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Related {
    pub service: String,
    pub location: Location,
}
