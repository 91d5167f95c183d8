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

/// Puts findings in report order: by location (file name, line, column), then by rule
/// id text; findings equal in both keep their order (as a stable sort would).
///
/// The sort runs over small integer keys (each file name and rule id replaced by its
/// rank), and the findings are then permuted in place: sorting the findings themselves
/// compared file names byte by byte and moved whole findings at every step, a sixth of
/// the instructions of a run with 6000 findings.
pub fn sort_for_report(findings: &mut [Finding]) {
    let mut names: Vec<&str> = findings.iter().map(|f| f.location.file.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let mut rule_rank = [0u16; RuleId::ALL.len()];
    let mut by_text: Vec<RuleId> = RuleId::ALL.to_vec();
    by_text.sort_unstable_by_key(|r| r.as_str());
    for (rank, r) in by_text.iter().enumerate() {
        rule_rank[*r as usize] = rank as u16;
    }
    // (file rank, line, column, rule rank, index): unique, so an unstable sort is stable.
    let mut keys: Vec<(usize, usize, usize, u16, usize)> = Vec::with_capacity(findings.len());
    let mut last: Option<(&str, usize)> = None;
    for (i, f) in findings.iter().enumerate() {
        let name = f.location.file.as_str();
        let rank = match last {
            Some((n, r)) if n == name => r,
            _ => names.binary_search(&name).unwrap_or_default(),
        };
        last = Some((name, rank));
        let l = &f.location;
        keys.push((rank, l.line, l.column, rule_rank[f.rule as usize], i));
    }
    if keys.windows(2).all(|w| w[0] <= w[1]) {
        return;
    }
    keys.sort_unstable();
    // In place, cycle by cycle: position `j` takes the finding at `from[j]` (no second
    // vector of findings, whose pages would be touched for nothing).
    let mut from: Vec<usize> = keys.iter().map(|k| k.4).collect();
    drop(keys);
    for start in 0..from.len() {
        let mut j = start;
        while from[j] != usize::MAX {
            let k = std::mem::replace(&mut from[j], usize::MAX);
            if k == start {
                break;
            }
            findings.swap(j, k);
            j = k;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(file: &str, line: usize, column: usize, rule: RuleId, message: &str) -> Finding {
        Finding {
            rule,
            severity: Severity::Warning,
            message: message.into(),
            location: Location {
                file: file.into(),
                line,
                column,
            },
            evidence: None,
            suppressed: None,
            checklist: None,
            related: Vec::new(),
        }
    }

    /// The same order as the stable sort by (location, rule id text) it replaces.
    #[test]
    fn report_order_is_the_stable_sort_by_location_then_rule_text() {
        let rules = [
            RuleId::UserRoot,
            RuleId::ImageUnpinned,
            RuleId::Privileged,
            RuleId::CapsAdded,
        ];
        let files = [
            "compose.yaml",
            "Dockerfile",
            "b/compose.yaml",
            ".env",
            "compose.yaml",
        ];
        let mut findings = Vec::new();
        for i in 0..200usize {
            findings.push(at(
                files[i * 7 % files.len()],
                i * 13 % 9,
                i * 5 % 3,
                rules[i * 11 % rules.len()],
                &format!("m{i}"),
            ));
        }
        let mut expected = findings.clone();
        expected.sort_by(|a, b| a.location.cmp(&b.location).then(a.rule.cmp(&b.rule)));
        sort_for_report(&mut findings);
        assert_eq!(findings, expected);
        // Already in order: unchanged.
        sort_for_report(&mut findings);
        assert_eq!(findings, expected);
    }
}
