//! JUnit XML: one test case per catalog rule; a rule with unsuppressed findings fails.

use super::Report;
use crate::vocab::catalog::{severity_name, RULES};

fn esc(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&apos;".to_string(),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => " ".to_string(),
            c => c.to_string(),
        })
        .collect()
}

pub fn render(r: &Report) -> String {
    let mut cases = String::new();
    let mut failures = 0;
    for rule in RULES {
        let hits: Vec<_> = r
            .findings
            .iter()
            .filter(|f| f.rule == rule.id && f.suppressed.is_none())
            .collect();
        let class = match rule.checklist {
            Some(n) => format!("verify.checklist-{n:02}"),
            None => "verify.hygiene".to_string(),
        };
        cases.push_str(&format!(
            "    <testcase classname=\"{class}\" name=\"{}\">",
            esc(rule.id.as_str())
        ));
        if !hits.is_empty() {
            failures += 1;
            let worst = hits
                .iter()
                .map(|f| f.severity)
                .max()
                .unwrap_or(rule.severity);
            let body: Vec<String> = hits
                .iter()
                .map(|f| {
                    let at = &f.location;
                    format!("{} {at}: {}", severity_name(f.severity), f.message)
                })
                .collect();
            cases.push_str(&format!(
                "\n      <failure type=\"{}\" message=\"{}\">{}\nfix: {}</failure>\n    ",
                severity_name(worst),
                esc(&format!("{}: {} finding(s)", rule.title, hits.len())),
                esc(&body.join("\n")),
                esc(rule.fix)
            ));
        }
        cases.push_str("</testcase>\n");
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"cargo xtask verify\" tests=\"{n}\" failures=\"{failures}\">\n  <testsuite name=\"verify\" tests=\"{n}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\">\n{cases}  </testsuite>\n</testsuites>\n",
        n = RULES.len()
    )
}
