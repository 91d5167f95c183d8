//! Human text: grouped by file, severity, `file:line:col`, the offending line, the fix.
//! Written straight into one string sized for the findings (no text per finding made
//! and copied again).

use std::fmt::Write as _;

use super::Report;
use crate::vocab::catalog::severity_name;
use crate::Severity;

/// Bytes a finding takes in the report, about (message, evidence and fix lines).
const BYTES_PER_FINDING: usize = 400;

pub fn render(r: &Report) -> String {
    let mut out = String::with_capacity(1024 + r.findings.len() * BYTES_PER_FINDING);
    let mut files: Vec<&str> = Vec::new();
    for f in r.findings {
        if files.last() != Some(&f.location.file.as_str())
            && !files.contains(&f.location.file.as_str())
        {
            files.push(&f.location.file);
        }
    }
    for file in files {
        let mut group: Vec<_> = r
            .findings
            .iter()
            .filter(|f| f.location.file == file)
            .collect();
        group.sort_by_key(|f| {
            (
                f.location.line,
                f.location.column,
                std::cmp::Reverse(f.severity),
            )
        });
        if r.color {
            let _ = write!(out, "{}", console::style(file).bold());
        } else {
            out.push_str(file);
        }
        out.push('\n');
        for f in group {
            let sev = severity_name(f.severity);
            out.push_str("  ");
            if r.color {
                let _ = match f.severity {
                    Severity::Error => write!(out, "{}", console::style(sev).red().bold()),
                    Severity::Warning => write!(out, "{}", console::style(sev).yellow().bold()),
                    Severity::Note => write!(out, "{}", console::style(sev).cyan()),
                };
            } else {
                out.push_str(sev);
            }
            out.push('[');
            out.push_str(f.rule.as_str());
            out.push(']');
            if f.suppressed.is_some() {
                out.push_str(" (suppressed)");
            }
            out.push(' ');
            let place = &f.location;
            out.push_str(&place.file);
            if place.line != 0 {
                let _ = write!(out, ":{}:{}", place.line, place.column);
            }
            out.push_str(": ");
            out.push_str(&f.message);
            out.push('\n');
            if let Some(e) = &f.evidence {
                let _ = writeln!(out, "  {:>5} | {e}", place.line);
            }
            match &f.suppressed {
                Some(reason) => {
                    out.push_str("        = suppressed: ");
                    out.push_str(reason);
                }
                None => {
                    out.push_str("        = fix: ");
                    out.push_str(f.rule.rule().fix);
                }
            }
            out.push('\n');
        }
        out.push('\n');
    }
    out.push_str(&r.checklist_line());
    out.push('\n');
    let verdict = if r.failing() > 0 {
        format!(
            "FAIL: {} (failing at --fail-on {})",
            r.totals(),
            severity_name(r.fail_on)
        )
    } else {
        format!(
            "ok: {} (--fail-on {})",
            r.totals(),
            severity_name(r.fail_on)
        )
    };
    out.push_str(&verdict);
    out.push('\n');
    out
}
