//! Human text: grouped by file, severity, `file:line:col`, the offending line, the fix.

use super::Report;
use crate::vocab::catalog::severity_name;
use crate::Severity;

pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let mut files: Vec<&str> = Vec::new();
    for f in r.findings {
        if !files.contains(&f.location.file.as_str()) {
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
        out.push_str(&if r.color {
            console::style(file).bold().to_string()
        } else {
            file.to_string()
        });
        out.push('\n');
        for f in group {
            let sev = severity_name(f.severity);
            let sev = if r.color {
                match f.severity {
                    Severity::Error => console::style(sev).red().bold().to_string(),
                    Severity::Warning => console::style(sev).yellow().bold().to_string(),
                    Severity::Note => console::style(sev).cyan().to_string(),
                }
            } else {
                sev.to_string()
            };
            let place = &f.location;
            let tag = if f.suppressed.is_some() {
                " (suppressed)"
            } else {
                ""
            };
            out.push_str(&format!(
                "  {sev}[{}]{tag} {place}: {}\n",
                f.rule, f.message
            ));
            if let Some(e) = &f.evidence {
                out.push_str(&format!("  {:>5} | {e}\n", f.location.line));
            }
            match &f.suppressed {
                Some(reason) => out.push_str(&format!("        = suppressed: {reason}\n")),
                None => {
                    out.push_str(&format!("        = fix: {}\n", f.rule.rule().fix));
                }
            }
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
