//! SARIF 2.1.0 as GitHub code scanning accepts it: `rules[]` from the catalog, results
//! with physical locations (no region when the line is unknown), in-source suppressions.

use serde_json::{json, Value};

use super::Report;
use crate::vocab::catalog::RULES;
use crate::Severity;

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "note",
    }
}

pub fn render(r: &Report) -> String {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|rule| {
            let mut tags = vec!["security".to_string()];
            if let Some(n) = rule.checklist {
                tags.push(format!("checklist-{n}"));
            }
            json!({
                "id": rule.id,
                "name": rule.id,
                "shortDescription": {"text": rule.title},
                "fullDescription": {"text": rule.rationale},
                "help": {"text": format!("{}\n\nFix: {}", rule.rationale, rule.fix)},
                "defaultConfiguration": {"level": level(rule.severity)},
                "properties": {"tags": tags, "checklist": rule.checklist, "scope": rule.scope.name()},
            })
        })
        .collect();
    let results: Vec<Value> = r
        .findings
        .iter()
        .map(|f| {
            let mut physical = json!({"artifactLocation": {"uri": f.location.file}});
            // Runtime locations (`container:<name>`, `project:<name>`) are not files.
            if !f.location.file.starts_with("container:")
                && !f.location.file.starts_with("project:")
            {
                physical["artifactLocation"]["uriBaseId"] = json!("%SRCROOT%");
            }
            if f.location.line > 0 {
                let mut region = json!({"startLine": f.location.line});
                if f.location.column > 0 {
                    region["startColumn"] = json!(f.location.column);
                }
                if let Some(e) = &f.evidence {
                    region["snippet"] = json!({"text": e});
                }
                physical["region"] = region;
            }
            let mut result = json!({
                "ruleId": f.rule,
                "level": level(f.severity),
                "message": {"text": f.message},
                "locations": [{"physicalLocation": physical}],
                "partialFingerprints": {
                    "verifyRuleLocation/v1": format!("{}:{}:{}", f.rule, f.location.file, f.message),
                },
            });
            if let Some(i) = RULES.iter().position(|x| x.id == f.rule) {
                result["ruleIndex"] = json!(i);
            }
            if !f.related.is_empty() {
                let related: Vec<Value> = f
                    .related
                    .iter()
                    .enumerate()
                    .map(|(id, r)| {
                        json!({
                            "id": id,
                            "message": {"text": format!("service {}", r.service)},
                            "physicalLocation": {
                                "artifactLocation": {"uri": r.location.file, "uriBaseId": "%SRCROOT%"},
                                "region": {"startLine": r.location.line, "startColumn": r.location.column},
                            },
                        })
                    })
                    .collect();
                result["relatedLocations"] = json!(related);
            }
            if let Some(reason) = &f.suppressed {
                result["suppressions"] = json!([{"kind": "inSource", "justification": reason}]);
            }
            result
        })
        .collect();
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "cargo-xtask-verify",
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    });
    serde_json::to_string_pretty(&log).unwrap_or_default() + "\n"
}
