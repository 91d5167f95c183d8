//! Reporters: one per `--format`. Every one prints evidence that was already masked.

mod github;
pub(crate) mod human;
mod junit;
mod sarif;
pub mod shared;
pub mod suppress;

use serde_json::json;

use crate::vocab::catalog::{checklist_items, severity_name, ItemStatus};
use crate::{Finding, Severity};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
    Sarif,
    Junit,
    Github,
}

/// Everything a reporter needs.
pub struct Report<'a> {
    pub findings: &'a [Finding],
    pub fail_on: Severity,
    pub color: bool,
}

impl Report<'_> {
    /// Findings that count for the exit code.
    pub fn failing(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.suppressed.is_none() && f.severity >= self.fail_on)
            .count()
    }

    fn count(&self, s: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.suppressed.is_none() && f.severity == s)
            .count()
    }

    fn suppressed(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.suppressed.is_some())
            .count()
    }

    /// `3 errors, 1 warning, 0 notes (2 suppressed)`.
    pub fn totals(&self) -> String {
        let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
        format!(
            "{}, {}, {} ({} suppressed)",
            plural(self.count(Severity::Error), "error"),
            plural(self.count(Severity::Warning), "warning"),
            plural(self.count(Severity::Note), "note"),
            self.suppressed()
        )
    }

    /// One-line checklist summary: `checklist 8/10: 1 non-root ✓, 2 read-only rootfs ✗, ...`.
    pub fn checklist_line(&self) -> String {
        let status = checklist_items(self.findings);
        let passed = status
            .iter()
            .filter(|(_, s)| *s == ItemStatus::Pass)
            .count();
        let items: Vec<String> = status
            .iter()
            .map(|(item, s)| {
                let mark = match s {
                    ItemStatus::Pass => "✓",
                    ItemStatus::Fail => "✗",
                    ItemStatus::Unknown => "?",
                };
                let mark = match (self.color, s) {
                    (true, ItemStatus::Pass) => console::style(mark).green().to_string(),
                    (true, ItemStatus::Fail) => console::style(mark).red().to_string(),
                    (true, ItemStatus::Unknown) => console::style(mark).yellow().to_string(),
                    _ => mark.to_string(),
                };
                format!("{} {} {mark}", item.number, item.short)
            })
            .collect();
        format!("checklist {passed}/10: {}", items.join(", "))
    }

    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Human => human::render(self),
            Format::Json => json(self),
            Format::Sarif => sarif::render(self),
            Format::Junit => junit::render(self),
            Format::Github => github::render(self),
        }
    }
}

fn json(r: &Report) -> String {
    let findings: Vec<_> = r
        .findings
        .iter()
        .map(|f| {
            let rule = f.rule.rule();
            json!({
                "rule": f.rule,
                "severity": severity_name(f.severity),
                "title": rule.title,
                "checklist": rule.checklist,
                "message": f.message,
                "location": f.location,
                "evidence": f.evidence,
                "fix": rule.fix,
                "suppressed": f.suppressed.is_some(),
                "suppression_reason": f.suppressed,
            })
        })
        .collect();
    let checklist: Vec<_> = checklist_items(r.findings)
        .iter()
        .map(|(item, s)| {
            json!({"item": item.number, "title": item.title, "pass": *s == ItemStatus::Pass, "status": s.name()})
        })
        .collect();
    let out = json!({
        "schema": 1,
        "tool": "cargo xtask verify",
        "findings": findings,
        "checklist": checklist,
        "summary": {
            "error": r.count(Severity::Error),
            "warning": r.count(Severity::Warning),
            "note": r.count(Severity::Note),
            "suppressed": r.suppressed(),
            "fail_on": severity_name(r.fail_on),
            "failed": r.failing() > 0,
        }
    });
    serde_json::to_string_pretty(&out).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::catalog::RuleId;
    use crate::Location;

    /// Runtime findings (`container:<name>`, line 0) print without position or region.
    #[test]
    fn runtime_findings_without_lines_render_in_every_format() {
        let findings = vec![Finding {
            rule: RuleId::CapsNotDropped,
            severity: Severity::Warning,
            message: "effective capabilities are not empty".into(),
            location: Location {
                file: "container:clawdbot-1".into(),
                line: 0,
                column: 0,
            },
            evidence: None,
            suppressed: None,
            checklist: None,
            related: Vec::new(),
        }];
        let r = Report {
            findings: &findings,
            fail_on: Severity::Warning,
            color: false,
        };
        let human = r.render(Format::Human);
        assert!(
            human.contains("warning[caps-not-dropped] container:clawdbot-1: effective"),
            "{human}"
        );
        assert!(human.contains("3 caps dropped ✗"));
        let sarif: serde_json::Value = serde_json::from_str(&r.render(Format::Sarif)).unwrap();
        let loc = &sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], "container:clawdbot-1");
        assert!(loc.get("region").is_none());
        let gh = r.render(Format::Github);
        assert!(
            gh.starts_with(
                "::warning title=caps-not-dropped (warning)::container:clawdbot-1: effective"
            ),
            "{gh}"
        );
        assert!(r
            .render(Format::Junit)
            .contains("warning container:clawdbot-1: effective"));
        assert_eq!(r.failing(), 1);
    }
}
