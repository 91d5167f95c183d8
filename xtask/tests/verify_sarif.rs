//! `cargo xtask verify --format sarif` validates against the official SARIF 2.1.0 JSON
//! schema (vendored in fixtures/sarif/, see its README), for findings with and without
//! line numbers, suppressed ones, and a clean run.

mod support;
use support::{fixtures, materialize, xtask};

fn sarif_of(fixture: &str) -> serde_json::Value {
    let project = materialize(&fixtures().join(fixture), fixture);
    let root = project.path().to_string_lossy().to_string();
    let out = xtask(&["verify", "--format", "sarif", "--root", &root]);
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "{out:?}"
    );
    serde_json::from_slice(&out.stdout).expect("SARIF output is JSON")
}

fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(fixtures().join("sarif/sarif-schema-2.1.0.json")).unwrap();
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("schema compiles")
}

#[test]
fn sarif_output_validates_against_the_sarif_2_1_0_schema() {
    let v = validator();
    for fixture in [
        "guide-example",
        "contract/clean",
        "suppression-invalid/clean",
        "env-not-gitignored/fires",
        "secret-literal/fires-run",
        "port-not-loopback/fires-long",
        "image-unpinned/fires-anchor",
    ] {
        let log = sarif_of(fixture);
        let errors: Vec<String> = v
            .iter_errors(&log)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{fixture}: SARIF invalid:\n{}",
            errors.join("\n")
        );
        assert_eq!(log["version"], "2.1.0");
        let rules = log["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .unwrap();
        for r in log["runs"][0]["results"].as_array().unwrap() {
            let idx = r["ruleIndex"].as_u64().unwrap() as usize;
            assert_eq!(rules[idx]["id"], r["ruleId"], "{fixture}");
        }
    }
}

#[test]
fn sarif_marks_suppressions_and_omits_region_for_whole_file_findings() {
    let log = sarif_of("suppression-invalid/clean");
    let r = &log["runs"][0]["results"][0];
    assert_eq!(r["ruleId"], "privileged");
    assert_eq!(r["suppressions"][0]["kind"], "inSource");
    assert_eq!(
        r["suppressions"][0]["justification"],
        "needed for the fixture's legacy driver"
    );

    let log = sarif_of("env-not-gitignored/fires");
    let r = &log["runs"][0]["results"][0];
    assert_eq!(r["ruleId"], "env-not-gitignored");
    assert!(r["locations"][0]["physicalLocation"]
        .get("region")
        .is_none());
    assert_eq!(
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        ".gitignore"
    );
}

#[test]
fn schema_rejects_a_broken_log() {
    // The validator is real: a result without a message is invalid SARIF.
    let v = validator();
    let mut log = sarif_of("guide-example");
    log["runs"][0]["results"][0]
        .as_object_mut()
        .unwrap()
        .remove("message");
    assert!(v.iter_errors(&log).next().is_some());
}
