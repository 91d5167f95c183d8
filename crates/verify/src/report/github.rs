//! GitHub Actions workflow-command annotations (`::error file=...,line=...::message`).

use super::Report;
use crate::vocab::catalog::severity_name;
use crate::Severity;

fn data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn property(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}

pub fn render(r: &Report) -> String {
    let mut out = String::new();
    for f in r.findings.iter().filter(|f| f.suppressed.is_none()) {
        let cmd = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "notice",
        };
        let mut props = Vec::new();
        if !f.location.file.starts_with("container:") {
            props.push(format!("file={}", property(&f.location.file)));
            if f.location.line > 0 {
                props.push(format!("line={}", f.location.line));
                props.push(format!("col={}", f.location.column));
            }
        }
        props.push(format!(
            "title={}",
            property(&format!("{} ({})", f.rule, severity_name(f.severity)))
        ));
        let mut msg = f.message.clone();
        if f.location.file.starts_with("container:") {
            msg = format!("{}: {msg}", f.location.file);
        }
        msg.push_str(&format!("\nfix: {}", f.rule.rule().fix));
        out.push_str(&format!("::{cmd} {}::{}\n", props.join(","), data(&msg)));
    }
    out.push_str(&format!("{}\n{}\n", r.checklist_line(), r.totals()));
    out
}
