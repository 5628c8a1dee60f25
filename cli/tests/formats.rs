//! `check --format github` and `--format sarif` against `--format json`: the
//! same findings, line for line, with the same exit codes; the SARIF log is
//! valid against the SARIF 2.1.0 schema (tests/fixtures, vendored) and GitHub's
//! workflow-command escaping holds for awkward file names and messages.

use serde_json::Value;

mod common;
use common::{root, run};

const POLICIES: [&str; 6] = [
    "tests/policies/clean.json",
    "tests/policies/example.json",
    "policies/demo.json",
    "tests/policies/risky.json",
    "tests/policies/invalid.json",
    "tests/policies/syntax.json",
];

/// One finding: (level, path, line, column, message).
type Finding = (String, String, u64, u64, String);

/// The findings of `--format json`, errors first.
fn json_findings(file: &str) -> (i32, Vec<Finding>) {
    let (code, out) = run(&["check", file, "--format", "json"]);
    let v: Value = serde_json::from_str(&out).expect("json output");
    let mut all = Vec::new();
    for (level, key) in [("error", "errors"), ("warning", "warnings")] {
        for f in v[key].as_array().expect("findings array") {
            all.push((
                level.to_string(),
                f["path"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
                f["column"].as_u64().unwrap(),
                f["message"].as_str().unwrap().to_string(),
            ));
        }
    }
    (code, all)
}

/// Undoes GitHub's workflow-command escaping (%25 %0D %0A %3A %2C).
fn unescape(s: &str) -> String {
    s.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%3A", ":")
        .replace("%2C", ",")
        .replace("%25", "%")
}

/// One annotation: (level, properties, message), split as the runner does.
fn parse_annotation(line: &str) -> (String, Vec<(String, String)>, String) {
    let rest = line.strip_prefix("::").expect("starts with ::");
    let (command, message) = rest.split_once("::").expect("command::message");
    let (level, props) = command.split_once(' ').unwrap_or((command, ""));
    let props = props
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').expect("key=value");
            (k.to_string(), unescape(v))
        })
        .collect();
    (level.to_string(), props, unescape(message))
}

fn shown(path: &str) -> &str {
    if path.is_empty() {
        "document"
    } else {
        path
    }
}

#[test]
fn github_annotations_match_the_json_findings_line_for_line() {
    let mut total = 0;
    for file in POLICIES {
        let (json_code, findings) = json_findings(file);
        let (code, out) = run(&["check", file, "--format", "github"]);
        assert_eq!(code, json_code, "{file}: exit code");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), findings.len(), "{file}:\n{out}");
        for (line, (level, path, l, c, message)) in lines.iter().zip(&findings) {
            let (got_level, props, got_message) = parse_annotation(line);
            assert_eq!(&got_level, level, "{line}");
            let prop = |k: &str| props.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
            assert_eq!(prop("file"), Some(file), "{line}");
            if *l > 0 {
                assert_eq!(prop("line"), Some(l.to_string().as_str()), "{line}");
                assert_eq!(prop("col"), Some(c.to_string().as_str()), "{line}");
            } else {
                assert_eq!((prop("line"), prop("col")), (None, None), "{line}");
            }
            assert_eq!(got_message, format!("{}: {message}", shown(path)), "{line}");
            total += 1;
        }
    }
    assert!(
        total > 10,
        "the example policies give findings of both kinds"
    );
    // One line written out in full, as GitHub documents the command.
    let (_, out) = run(&["check", "tests/policies/risky.json", "--format", "github"]);
    assert_eq!(
        out.lines().next(),
        Some(
            "::warning file=tests/policies/risky.json,line=3,col=12,title=cors-gateway debug-enabled\
             ::debug: debug names the failed check in responses and logs; never enable it in production"
        )
    );
    let (_, out) = run(&["check", "tests/policies/invalid.json", "--format", "github"]);
    assert!(
        out.starts_with("::error file=tests/policies/invalid.json,line=4,col=21,title=cors-gateway invalid-policy::cors.alow_origins: unknown field \"alow_origins\""),
        "{out}"
    );
}

#[test]
fn github_annotations_escape_file_names_and_messages() {
    let dir = tempfile::tempdir().unwrap();
    // A comma and a colon delimit properties; % starts an escape; the field
    // name comes back in the message.
    let file = dir.path().join("a,b:c.json");
    std::fs::write(
        &file,
        r#"{"version": 1, "cors": {"allow_origins": ["https://app.example.com"]},
            "routes": [{"name": "r", "path_prefix": "/", "upstream": "https://api.example.com"}],
            "50%": 1}"#,
    )
    .unwrap();
    let name = file.to_str().unwrap();
    let (code, out) = run(&["check", name, "--format", "github"]);
    assert_eq!(code, 2, "{out}");
    let line = out.lines().next().expect("one annotation");
    assert!(line.contains("a%2Cb%3Ac.json,line=3,"), "{line}");
    assert!(line.contains("\"50%25\""), "{line}");
    let (level, props, message) = parse_annotation(line);
    assert_eq!(level, "error");
    assert_eq!(props[0], ("file".to_string(), name.to_string()));
    assert!(
        message.starts_with("50%: unknown field \"50%\""),
        "{message}"
    );
}

fn sarif_validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(root().join("cli/tests/fixtures/sarif-schema-2.1.0.json"))
        .expect("vendored SARIF schema");
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::validator_for(&schema).expect("the SARIF schema compiles")
}

#[test]
fn sarif_validates_against_the_sarif_2_1_0_schema_and_matches_the_json_findings() {
    let validator = sarif_validator();
    for file in POLICIES {
        let (json_code, findings) = json_findings(file);
        let (code, out) = run(&["check", file, "--format", "sarif"]);
        assert_eq!(code, json_code, "{file}: exit code");
        let log: Value = serde_json::from_str(&out).expect("SARIF is JSON");
        let errors: Vec<String> = validator.iter_errors(&log).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{file}: {errors:#?}");
        assert_eq!(log["version"], "2.1.0");
        let run = &log["runs"][0];
        assert_eq!(run["tool"]["driver"]["name"], "cors-gateway");
        let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
        let results = run["results"].as_array().unwrap();
        assert_eq!(results.len(), findings.len(), "{file}");
        for (r, (level, path, l, c, message)) in results.iter().zip(&findings) {
            assert_eq!(r["level"], level.as_str());
            assert_eq!(r["message"]["text"], format!("{}: {message}", shown(path)));
            let rule = &rules[r["ruleIndex"].as_u64().unwrap() as usize];
            assert_eq!(rule["id"], r["ruleId"]);
            let location = &r["locations"][0]["physicalLocation"];
            assert_eq!(location["artifactLocation"]["uri"], file);
            if *l > 0 {
                assert_eq!(location["region"]["startLine"], *l);
                assert_eq!(location["region"]["startColumn"], *c);
            }
        }
    }
}

/// The schema is not a rubber stamp: it rejects a log that breaks it.
#[test]
fn the_sarif_schema_rejects_a_broken_log() {
    let validator = sarif_validator();
    let (_, out) = run(&["check", "tests/policies/risky.json", "--format", "sarif"]);
    let mut log: Value = serde_json::from_str(&out).unwrap();
    assert!(validator.is_valid(&log));
    log["runs"][0]["results"][0]["level"] = "fatal".into();
    assert!(!validator.is_valid(&log));
    log["runs"][0]["results"][0]["level"] = "warning".into();
    log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] =
        0.into();
    assert!(!validator.is_valid(&log));
}

#[test]
fn a_compiled_policy_gives_an_empty_sarif_run_and_no_annotations() {
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("policy.bin");
    let out_name = out_file.to_str().unwrap();
    let (code, _) = run(&["compile", "tests/policies/clean.json", "-o", out_name]);
    assert_eq!(code, 0);
    let (code, out) = run(&["check", out_name, "--format", "github"]);
    assert_eq!((code, out.as_str()), (0, ""));
    let (code, out) = run(&["check", out_name, "--format", "sarif"]);
    assert_eq!(code, 0);
    let log: Value = serde_json::from_str(&out).unwrap();
    assert!(sarif_validator().is_valid(&log));
    assert_eq!(log["runs"][0]["results"], serde_json::json!([]));
}

#[test]
fn explain_has_no_report_formats() {
    let (code, _) = run(&[
        "explain",
        "--policy",
        "tests/policies/example.json",
        "--origin",
        "https://app.example.com",
        "--format",
        "sarif",
    ]);
    assert_eq!(code, 64);
}
