//! The decision table (tests/cases/decisions.json), replayed against the
//! built component in a real `wasmtime serve` in front of a real loopback
//! upstream: status, the exact CORS headers, and whether the upstream was
//! reached.

use cors_gateway_core::forwarding::merge_vary;
use serde_json::Value;
use std::collections::BTreeMap;
use testkit::{Gateway, Upstream};

#[test]
fn every_case_against_wasmtime_serve() {
    let table: Value = serde_json::from_str(include_str!("cases/decisions.json")).unwrap();
    let upstream = Upstream::start();
    let mut failures = Vec::new();
    let mut ran = 0;
    for (policy_name, doc) in table["policies"].as_object().unwrap() {
        let policy = doc.to_string().replace("{{UPSTREAM}}", &upstream.url());
        let checks_host = policy.contains("allowed_hosts");
        let gw = Gateway::builder().policy(policy).start();
        for case in table["cases"].as_array().unwrap() {
            if case["policy"] != policy_name.as_str() {
                continue;
            }
            ran += 1;
            let name = case["name"].as_str().unwrap();
            let headers: Vec<(&str, &str)> = case["headers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| (h[0].as_str().unwrap(), h[1].as_str().unwrap()))
                .collect();
            let before = upstream.count();
            let resp = gw.request(
                case["method"].as_str().unwrap(),
                case["path"].as_str().unwrap(),
                &headers,
                Vec::new(),
            );
            let forwarded = upstream.count() > before;
            let mut want: BTreeMap<String, String> =
                serde_json::from_value(case["cors"].clone()).unwrap();
            // A report-only row is forwarded untouched: the upstream's own
            // CORS headers and `Vary` (testkit's upstream sends these) come
            // back, nothing added.
            let transparent = case["transparent"].as_bool().unwrap_or(false);
            if transparent {
                want = [
                    (
                        "access-control-allow-origin",
                        "https://upstream-chose-this.example",
                    ),
                    ("access-control-allow-credentials", "true"),
                    ("access-control-expose-headers", "x-upstream-secret"),
                    ("vary", "Accept-Encoding"),
                ]
                .into_iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            }
            let expect_forward = transparent || case["status"] == "forward";
            if expect_forward && !transparent {
                // The upstream answers 200 with `Vary: Accept-Encoding`, merged.
                let merged =
                    merge_vary(&[b"Accept-Encoding"], want.get("vary").map(String::as_str));
                want.remove("vary");
                if let Some(v) = merged {
                    want.insert("vary".into(), v);
                }
            }
            let want_status = if expect_forward {
                200
            } else {
                case["status"].as_u64().unwrap() as u16
            };
            let got = resp.cors();
            // Normalised paths are forwarded normalised, where the row says.
            if let (Some(want_path), true) = (case.get("upstream_path"), forwarded) {
                let seen = upstream
                    .last()
                    .map(|s| s.path_with_query)
                    .unwrap_or_default();
                if want_path != seen.as_str() {
                    failures.push(format!("{name}: upstream saw {seen}, want {want_path}"));
                }
            }
            // wasmtime serve tells a WASI 0.3 guest no host (see
            // testkit::gateway::testing_p3): under a policy that checks the
            // host, that build refuses with 421 and forwards nothing.
            if testkit::gateway::testing_p3() && checks_host && resp.status == 421 && !forwarded {
                continue;
            }
            if resp.status != want_status || got != want || forwarded != expect_forward {
                failures.push(format!(
                    "{name}: got {} forwarded={forwarded} {got:?}\n   want {want_status} forwarded={expect_forward} {want:?}",
                    resp.status
                ));
            }
        }
    }
    assert!(ran >= 40, "only {ran} cases ran");
    assert!(
        failures.is_empty(),
        "{} of {ran} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
