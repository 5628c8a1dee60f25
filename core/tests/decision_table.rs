//! Replays tests/cases/decisions.json (the gateway's response rules as a
//! table) through the core's `decide`, with every policy both as JSON and in
//! its compiled form (`cors-gateway compile`): the two must decide alike.

use cors_gateway_core::decision::upstream_path;
use cors_gateway_core::path::Target;
use cors_gateway_core::{compiled, decide, Policy, RequestView};
use serde_json::Value;
use std::collections::BTreeMap;

#[test]
fn every_case_of_the_decision_table() {
    let table: Value =
        serde_json::from_str(include_str!("../../tests/cases/decisions.json")).unwrap();
    let mut policies = BTreeMap::new();
    for (name, doc) in table["policies"].as_object().unwrap() {
        let text = doc
            .to_string()
            .replace("{{UPSTREAM}}", "http://127.0.0.1:9");
        let policy = Policy::from_json(&text).unwrap_or_else(|e| panic!("policy {name}: {e}"));
        let bin = compiled::compile(&text, [0; 32]).unwrap();
        let from_bin = compiled::load(bin).unwrap_or_else(|e| panic!("compiled {name}: {e}"));
        policies.insert(name.clone(), [policy, from_bin]);
    }
    let cases = table["cases"].as_array().unwrap();
    assert!(cases.len() >= 40);
    let mut failures = Vec::new();
    for (case, form) in cases.iter().flat_map(|c| [(c, 0), (c, 1)]) {
        let name = format!(
            "{} ({})",
            case["name"].as_str().unwrap(),
            ["json", "compiled"][form]
        );
        let policy = &policies[case["policy"].as_str().unwrap()][form];
        let headers: Vec<(String, String)> = case["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| (h[0].as_str().unwrap().into(), h[1].as_str().unwrap().into()))
            .collect();
        let mut scratch = Vec::new();
        let target = Target::parse(case["path"].as_str().unwrap());
        let view = RequestView::from_headers(
            case["method"].as_str().unwrap(),
            &target.path,
            &headers,
            &mut scratch,
        );
        let d = decide(policy, &view);
        // The path the upstream is sent, where the row says.
        if let (Some(want), Some(route)) = (case.get("upstream_path"), d.route()) {
            let got = upstream_path(route, &target.path, target.query);
            if want != got.as_str() {
                failures.push(format!("{name}: upstream path {got}, want {want}"));
            }
        }
        let status = match d.status() {
            None => Value::from("forward"),
            Some(s) => Value::from(s.as_u16()),
        };
        let got: BTreeMap<String, String> = d
            .headers()
            .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v).into_owned()))
            .collect();
        let want: BTreeMap<String, String> = serde_json::from_value(case["cors"].clone()).unwrap();
        let failure = d.failure.map(|f| f.code());
        let transparent = case["transparent"].as_bool().unwrap_or(false);
        if d.is_report_only() != transparent {
            failures.push(format!(
                "{name}: transparent {}, want {transparent}",
                d.is_report_only()
            ));
        }
        if status != case["status"] || got != want || failure != case["failure"].as_str() {
            failures.push(format!(
                "{name}: got {status} {failure:?} {got:?}, want {} {} {want:?}",
                case["status"], case["failure"]
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
