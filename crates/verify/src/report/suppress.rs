//! Inline suppressions: `# verify: ignore=ID[,ID...] reason` on the offending line or
//! on a comment line just above it. The reason is required; a comment without one (or
//! naming an unknown rule) suppresses nothing and is reported as `suppression-invalid`.

use std::sync::LazyLock;

use regex::Regex;

use crate::input::project::SourceFile;
use crate::vocab::catalog::{RuleId, UnknownRuleId};
use crate::{Finding, Location};

static DIRECTIVE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"#\s*verify:\s*ignore=([^\s]*)[ \t]*(.*)$").expect("static regex")
});

#[derive(Debug)]
struct Directive {
    file: String,
    line: usize,
    comment_only: bool,
    ids: Vec<RuleId>,
    reason: String,
}

fn directives(files: &[SourceFile]) -> (Vec<Directive>, Vec<Finding>) {
    let mut out = Vec::new();
    let mut invalid = Vec::new();
    for f in files {
        // One search over the file first: most files have no directive at all.
        if !f.text.contains("verify:") {
            continue;
        }
        for (i, line) in f.text.lines().enumerate() {
            // Cheap test first: most files have no directive, and then the regex is
            // never compiled.
            if !line.contains("verify:") {
                continue;
            }
            let Some(c) = DIRECTIVE.captures(line) else {
                continue;
            };
            let names: Vec<String> = c[1]
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            let reason = c[2].trim().to_string();
            let column = c
                .get(0)
                .map(|m| line[..m.start()].chars().count() + 1)
                .unwrap_or(1);
            let bad = |message: String| Finding {
                rule: RuleId::SuppressionInvalid,
                severity: RuleId::SuppressionInvalid.rule().severity,
                message,
                location: Location {
                    file: f.display.clone(),
                    line: i + 1,
                    column,
                },
                evidence: None,
                suppressed: None,
                checklist: None,
                related: Vec::new(),
            };
            if names.is_empty() {
                invalid.push(bad(
                    "suppression names no rule id (write ignore=<rule-id> <reason>)".into(),
                ));
                continue;
            }
            let ids = match names.iter().map(|n| n.parse::<RuleId>()).collect() {
                Ok(ids) => ids,
                Err(UnknownRuleId(unknown)) => {
                    invalid.push(bad(format!(
                        "suppression names unknown rule {unknown:?} (see --list-rules)"
                    )));
                    continue;
                }
            };
            if reason.is_empty() {
                invalid.push(bad(format!(
                    "suppression of {} has no reason (a reason is required)",
                    names.join(",")
                )));
                continue;
            }
            out.push(Directive {
                file: f.display.clone(),
                line: i + 1,
                comment_only: line.trim_start().starts_with('#'),
                ids,
                reason,
            });
        }
    }
    (out, invalid)
}

/// Marks suppressed findings and adds `suppression-invalid` findings.
pub fn apply(findings: &mut Vec<Finding>, files: &[SourceFile]) {
    let (dirs, invalid) = directives(files);
    for f in findings.iter_mut() {
        if f.location.line == 0 {
            continue;
        }
        let hit = dirs.iter().find(|d| {
            d.file == f.location.file
                && d.ids.contains(&f.rule)
                && (d.line == f.location.line || (d.comment_only && d.line + 1 == f.location.line))
        });
        if let Some(d) = hit {
            f.suppressed = Some(d.reason.clone());
        }
    }
    findings.extend(invalid);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(rule: RuleId, line: usize) -> Finding {
        Finding {
            rule,
            severity: crate::Severity::Error,
            message: "m".into(),
            location: Location {
                file: "compose.yaml".into(),
                line,
                column: 5,
            },
            evidence: None,
            suppressed: None,
            checklist: None,
            related: Vec::new(),
        }
    }

    fn file(text: &str) -> Vec<SourceFile> {
        vec![SourceFile {
            display: "compose.yaml".into(),
            path: "compose.yaml".into(),
            text: text.into(),
        }]
    }

    #[test]
    fn same_line_and_line_above_suppress_with_reason() {
        let files = file(
            "a: 1\n    privileged: true  # verify: ignore=privileged,caps-added legacy driver\n# verify: ignore=user-root upstream image\nuser: root\nuser: root\n",
        );
        let mut f = vec![
            finding(RuleId::Privileged, 2),
            finding(RuleId::UserRoot, 4),
            finding(RuleId::UserRoot, 5),
            finding(RuleId::CapsAdded, 1),
        ];
        apply(&mut f, &files);
        assert_eq!(f[0].suppressed.as_deref(), Some("legacy driver"));
        assert_eq!(f[1].suppressed.as_deref(), Some("upstream image"));
        assert_eq!(
            f[2].suppressed, None,
            "only the line just below a comment line"
        );
        assert_eq!(
            f[3].suppressed, None,
            "a trailing comment does not reach the next line"
        );
        assert_eq!(f.len(), 4);
    }

    #[test]
    fn missing_reason_or_unknown_rule_suppresses_nothing_and_is_reported() {
        let files = file("# verify: ignore=privileged\nprivileged: true\nx: 1 # verify: ignore=no-such-rule because\n");
        let mut f = vec![finding(RuleId::Privileged, 2)];
        apply(&mut f, &files);
        assert_eq!(f[0].suppressed, None);
        let invalid: Vec<_> = f
            .iter()
            .filter(|x| x.rule == RuleId::SuppressionInvalid)
            .map(|x| x.location.line)
            .collect();
        assert_eq!(invalid, vec![1, 3]);
        assert!(f[1].message.contains("no reason"));
    }
}
