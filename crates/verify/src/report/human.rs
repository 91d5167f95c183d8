//! Human text: grouped by file, severity, `file:line:col`, the offending line, the fix.
//! Written straight into one string sized for the findings (no text per finding made
//! and copied again).

use super::Report;
use crate::vocab::catalog::severity_name;
use crate::Severity;

/// Bytes a finding takes in the report, about (message, evidence and fix lines).
const BYTES_PER_FINDING: usize = 400;

pub fn render(r: &Report) -> String {
    let mut out = String::with_capacity(1024 + r.findings.len() * BYTES_PER_FINDING);
    let _ = write(r, &mut out);
    out
}

/// Writes the report into `out` as it goes (stdout through a buffer: a large report is
/// never held whole).
pub fn write(r: &Report, out: &mut impl std::fmt::Write) -> std::fmt::Result {
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
            write!(out, "{}", console::style(file).bold())?;
        } else {
            out.write_str(file)?;
        }
        out.write_char('\n')?;
        for f in group {
            let sev = severity_name(f.severity);
            out.write_str("  ")?;
            if r.color {
                match f.severity {
                    Severity::Error => write!(out, "{}", console::style(sev).red().bold()),
                    Severity::Warning => write!(out, "{}", console::style(sev).yellow().bold()),
                    Severity::Note => write!(out, "{}", console::style(sev).cyan()),
                }?;
            } else {
                out.write_str(sev)?;
            }
            out.write_char('[')?;
            out.write_str(f.rule.as_str())?;
            out.write_char(']')?;
            if f.suppressed.is_some() {
                out.write_str(" (suppressed)")?;
            }
            out.write_char(' ')?;
            let place = &f.location;
            write!(out, "{place}: ")?;
            out.write_str(&f.message)?;
            out.write_char('\n')?;
            if let Some(e) = &f.evidence {
                writeln!(out, "  {:>5} | {e}", place.line)?;
            }
            match &f.suppressed {
                Some(reason) => {
                    out.write_str("        = suppressed: ")?;
                    out.write_str(reason)?;
                }
                None => {
                    out.write_str("        = fix: ")?;
                    out.write_str(f.rule.rule().fix)?;
                }
            }
            out.write_char('\n')?;
        }
        out.write_char('\n')?;
    }
    out.write_str(&r.checklist_line())?;
    out.write_char('\n')?;
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
    out.write_str(&verdict)?;
    out.write_char('\n')
}
