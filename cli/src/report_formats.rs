//! `check --format github` and `check --format sarif`: the findings of
//! `--format json`, in the same order, as GitHub Actions workflow commands
//! (annotations on the file and line of a pull request) or as one SARIF 2.1.0
//! log (GitHub code scanning and other SARIF viewers).
//!
//! A finding is the JSON object `check --format json` lists: errors have
//! `path`, `line`, `column`, `message`; warnings also a `code`. Line 0 means
//! "no position" (a compiled policy, a file that is not text).

use serde_json::{json, Value};

/// The output formats of `check`. `explain` has only the first two.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckFormat {
    Text,
    Json,
    /// GitHub Actions annotations, one `::error` / `::warning` line per finding.
    Github,
    /// A SARIF 2.1.0 log, for code scanning.
    Sarif,
}

/// The rule id of a load error: errors carry no code of their own.
const INVALID: &str = "invalid-policy";

fn code(finding: &Value) -> &str {
    finding["code"].as_str().unwrap_or(INVALID)
}

fn position(finding: &Value) -> Option<(u64, u64)> {
    match (finding["line"].as_u64(), finding["column"].as_u64()) {
        (Some(l), Some(c)) if l > 0 => Some((l, c.max(1))),
        _ => None,
    }
}

/// `path: message`, as the text format says it (the empty path is the document).
fn text(finding: &Value) -> String {
    let path = finding["path"].as_str().unwrap_or("");
    let path = if path.is_empty() { "document" } else { path };
    format!("{path}: {}", finding["message"].as_str().unwrap_or(""))
}

/// Workflow-command escaping: the message may hold anything but a line break;
/// a property value, in addition, no `:` or `,` (they delimit properties).
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// One annotation line per finding, errors first, as `--format json` orders them.
pub fn github(file: &str, errors: &[Value], warnings: &[Value]) -> String {
    let mut out = String::new();
    let levels = errors
        .iter()
        .map(|f| ("error", f))
        .chain(warnings.iter().map(|f| ("warning", f)));
    for (level, f) in levels {
        let mut props = format!("file={}", escape_property(file));
        if let Some((line, col)) = position(f) {
            props.push_str(&format!(",line={line},col={col}"));
        }
        props.push_str(&format!(
            ",title={}",
            escape_property(&format!("cors-gateway {}", code(f)))
        ));
        out.push_str(&format!("::{level} {props}::{}\n", escape_data(&text(f))));
    }
    out
}

/// A relative URI reference for the file as named on the command line (SARIF
/// viewers resolve it against the repository root), or a `file:` URI for an
/// absolute path.
fn artifact_uri(file: &str) -> String {
    let path = file.strip_prefix("./").unwrap_or(file);
    let mut uri = String::new();
    if path.starts_with('/') {
        uri.push_str("file://");
    }
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            uri.push(b as char);
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri
}

/// A SARIF 2.1.0 log with one run: a rule per distinct code, a result per finding.
pub fn sarif(file: &str, errors: &[Value], warnings: &[Value]) -> String {
    let mut rules: Vec<&str> = Vec::new();
    let mut results = Vec::new();
    let levels = errors
        .iter()
        .map(|f| ("error", f))
        .chain(warnings.iter().map(|f| ("warning", f)));
    for (level, f) in levels {
        let id = code(f);
        let index = rules.iter().position(|r| *r == id).unwrap_or_else(|| {
            rules.push(id);
            rules.len() - 1
        });
        let mut physical = json!({"artifactLocation": {"uri": artifact_uri(file)}});
        if let Some((line, col)) = position(f) {
            physical["region"] = json!({"startLine": line, "startColumn": col});
        }
        let mut location = json!({"physicalLocation": physical});
        if let Some(path) = f["path"].as_str().filter(|p| !p.is_empty()) {
            location["logicalLocations"] = json!([{"fullyQualifiedName": path, "kind": "member"}]);
        }
        results.push(json!({
            "ruleId": id,
            "ruleIndex": index,
            "level": level,
            "message": {"text": text(f)},
            "locations": [location],
        }));
    }
    let rules: Vec<Value> = rules
        .iter()
        .map(|id| {
            let (level, what) = if *id == INVALID {
                ("error", "The gateway refuses to load this policy")
            } else {
                ("warning", "Legal, but risky or ineffective")
            };
            json!({"id": id, "shortDescription": {"text": what},
                   "defaultConfiguration": {"level": level}})
        })
        .collect();
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "cors-gateway",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    });
    serde_json::to_string_pretty(&log).unwrap_or_default() + "\n"
}
