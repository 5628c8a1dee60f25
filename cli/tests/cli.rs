//! The `cors-gateway` binary as a user runs it: snapshots of `check` and
//! `explain` output, exit codes, `explain` against the decision table, and the
//! JSON Schema against the loader.
//!
//! Snapshots live in cli/tests/snapshots/. After an intended output change,
//! regenerate them with `UPDATE_SNAPSHOTS=1 cargo test -p cors-gateway-cli`
//! and review the diff.

use serde_json::Value;
use std::path::Path;

mod common;
use common::{root, run, snapshot};

#[test]
fn check_snapshots_and_exit_codes() {
    for (name, file, code) in [
        ("check-clean", "tests/policies/clean.json", 0),
        ("check-example", "tests/policies/example.json", 1),
        ("check-risky", "tests/policies/risky.json", 1),
        (
            "check-private-network",
            "tests/policies/private-network.json",
            1,
        ),
        ("check-invalid", "tests/policies/invalid.json", 2),
        ("check-syntax", "tests/policies/syntax.json", 2),
    ] {
        let (got, text) = run(&["check", file]);
        assert_eq!(got, code, "{file}:\n{text}");
        snapshot(name, &text);
        let (got, json) = run(&["check", file, "--format", "json"]);
        assert_eq!(got, code);
        let v: Value = serde_json::from_str(&json).expect("check --format json is JSON");
        assert_eq!(v["valid"], code != 2);
        snapshot(&format!("{name}.json"), &json);
    }
}

#[test]
fn invalid_policy_errors_name_field_position_and_expectation() {
    let (_, json) = run(&["check", "tests/policies/invalid.json", "--format", "json"]);
    let v: Value = serde_json::from_str(&json).unwrap();
    let errors = v["errors"].as_array().unwrap();
    let has = |path: &str, needle: &str| {
        errors.iter().any(|e| {
            e["path"] == path
                && e["message"].as_str().unwrap().contains(needle)
                && e["line"].as_u64().unwrap() > 0
        })
    };
    assert!(
        has("cors.alow_origins", "did you mean \"allow_origins\""),
        "{json}"
    );
    assert!(has("cors.allow_methods[0]", "write \"DELETE\""));
    assert!(has(
        "cors.expose_headers",
        "cannot be combined with credentials"
    ));
    assert!(has(
        "routes[0].cors.allow_origins[0]",
        "the browser sends \"https://app.example.com\""
    ));
    assert!(has("routes[0].cors.allow_origins[1]", "no scheme"));
    assert!(has("routes[1].path_prefix", "must start with"));
    assert!(
        errors.len() >= 10,
        "every error is reported, not just the first: {json}"
    );
}

#[test]
fn misconfigurations_are_flagged_with_stable_codes() {
    let (_, json) = run(&["check", "tests/policies/risky.json", "--format", "json"]);
    let v: Value = serde_json::from_str(&json).unwrap();
    let codes: Vec<&str> = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["code"].as_str().unwrap())
        .collect();
    for code in [
        "null-origin",
        "http-origin-with-credentials",
        "http-origin-for-https-upstream",
        "public-suffix-wildcard",
        "overlapping-origin",
        "never-preflighted-method",
        "safelisted-header-listed",
        "max-age-above-chromium-cap",
        "json-route-without-content-type",
        "shadowed-route",
        "debug-enabled",
    ] {
        assert!(codes.contains(&code), "{code} not flagged: {codes:?}");
    }
}

#[test]
fn explain_snapshots_and_exit_codes() {
    let p = "tests/policies/example.json";
    for (name, args, code) in [
        (
            "explain-simple-get",
            vec!["--origin", "https://app.example.com", "--path", "/orders/1"],
            0,
        ),
        (
            "explain-json-put-credentials",
            vec![
                "--origin",
                "https://shop.example.com",
                "--method",
                "PUT",
                "--header",
                "content-type: application/json",
                "--path",
                "/orders/1",
                "--credentials",
            ],
            0,
        ),
        (
            "explain-origin-refused",
            vec![
                "--origin",
                "https://evil.example",
                "--method",
                "PATCH",
                "--header",
                "x-api-key",
                "--path",
                "/orders/1",
            ],
            1,
        ),
        (
            "explain-header-refused",
            vec![
                "--origin",
                "https://app.example.com",
                "--method",
                "DELETE",
                "--header",
                "x-api-key: 1",
                "--path",
                "/orders/1",
            ],
            1,
        ),
        (
            "explain-method-refused",
            vec![
                "--origin",
                "https://app.example.com",
                "--method",
                "PATCH",
                "--path",
                "/orders/1",
            ],
            1,
        ),
        (
            "explain-wildcard-credentials",
            vec![
                "--origin",
                "https://anyone.example",
                "--path",
                "/public/logo.png",
                "--credentials",
            ],
            1,
        ),
        (
            "explain-no-route",
            vec![
                "--origin",
                "https://app.example.com",
                "--method",
                "PUT",
                "--path",
                "/nowhere",
            ],
            1,
        ),
    ] {
        let mut a = vec!["explain", "--policy", p];
        a.extend(args);
        let (got, text) = run(&a);
        assert_eq!(got, code, "{name}:\n{text}");
        snapshot(name, &text);
    }
}

/// A route that answers Private Network Access preflights gets the Local
/// Network Access note, which replaced them in Chromium.
#[test]
fn explain_notes_local_network_access() {
    let (code, text) = run(&[
        "explain",
        "--policy",
        "tests/policies/private-network.json",
        "--origin",
        "https://app.example.com",
        "--method",
        "PUT",
        "--header",
        "content-type: application/json",
        "--path",
        "/printer/job",
    ]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("Local Network Access"), "{text}");
    snapshot("explain-private-network", &text);
}

#[test]
fn usage_errors_exit_64() {
    assert_eq!(run(&[]).0, 64);
    assert_eq!(run(&["check"]).0, 64);
    assert_eq!(
        run(&["explain", "--policy", "tests/policies/example.json"]).0,
        64
    );
    assert_eq!(run(&["frobnicate"]).0, 64);
    assert_eq!(run(&["check", "no/such/file.json"]).0, 64);
}

/// `explain --raw` evaluates exactly the request the gateway receives; for
/// every case of the decision table it must give the table's answer (which
/// the real component in wasmtime serve is held to as well).
#[test]
fn explain_decides_as_the_gateway_for_every_table_case() {
    let table: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("tests/cases/decisions.json")).unwrap(),
    )
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut failures = Vec::new();
    let cases = table["cases"].as_array().unwrap();
    for case in cases {
        let policy = dir.join(format!("{}.json", case["policy"].as_str().unwrap()));
        if !policy.exists() {
            let doc = table["policies"][case["policy"].as_str().unwrap()]
                .to_string()
                .replace("{{UPSTREAM}}", "http://127.0.0.1:9");
            std::fs::write(&policy, doc).unwrap();
        }
        let mut args = vec![
            "explain".to_string(),
            "--policy".into(),
            policy.display().to_string(),
            "--raw".into(),
            "--format".into(),
            "json".into(),
            "--method".into(),
            case["method"].as_str().unwrap().into(),
            "--path".into(),
            case["path"].as_str().unwrap().into(),
        ];
        for h in case["headers"].as_array().unwrap() {
            args.push("--request-header".into());
            args.push(format!(
                "{}: {}",
                h[0].as_str().unwrap(),
                h[1].as_str().unwrap()
            ));
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let (_, out) = run(&refs);
        let v: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
        let headers: std::collections::BTreeMap<String, String> = v["headers"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|h| {
                        (
                            h[0].as_str().unwrap().to_string(),
                            h[1].as_str().unwrap().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let want: std::collections::BTreeMap<String, String> =
            serde_json::from_value(case["cors"].clone()).unwrap();
        let upstream_ok = case.get("upstream_path").is_none_or(|p| {
            v["upstream"].as_str() == Some(&format!("http://127.0.0.1:9{}", p.as_str().unwrap()))
        });
        let transparent = case["transparent"].as_bool().unwrap_or(false);
        if v["status"] != case["status"]
            || v["transparent"] != transparent
            || v["failure"] != case["failure"]
            || headers != want
            || !upstream_ok
        {
            failures.push(format!("{}: explain says {out}", case["name"]));
        }
    }
    assert!(cases.len() >= 40);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `explain --raw` on the documented example policy, with `args` after it.
fn explain_example_raw(args: &[&str]) -> (i32, String) {
    let mut all = vec![
        "explain",
        "--policy",
        "tests/policies/example.json",
        "--raw",
    ];
    all.extend_from_slice(args);
    run(&all)
}

/// `explain --raw` shows the request headers the upstream would receive:
/// hop-by-hop fields and `Host` gone, the client's forwarding claims replaced
/// by the gateway's own, everything else as sent (docs/tools.md).
#[test]
fn explain_raw_shows_the_headers_the_upstream_receives() {
    let (code, out) = explain_example_raw(&[
        "--format",
        "json",
        "--method",
        "GET",
        "--path",
        "/orders/7?x=1",
        "--request-header",
        "Host: gw.example.net",
        "--request-header",
        "Origin: https://app.example.com",
        "--request-header",
        "Connection: keep-alive, x-trace",
        "--request-header",
        "X-Trace: 1",
        "--request-header",
        "X-Forwarded-For: 6.6.6.6",
        "--request-header",
        "Authorization: Bearer t",
    ]);
    assert_eq!(code, 0, "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["upstream"], "https://orders.example.com/orders/7?x=1");
    let mut sent: Vec<(String, String)> = v["forwarded_headers"]
        .as_array()
        .unwrap_or_else(|| panic!("no forwarded_headers in {out}"))
        .iter()
        .map(|h| (h[0].as_str().unwrap().into(), h[1].as_str().unwrap().into()))
        .collect();
    sent.sort();
    let want: Vec<(String, String)> = [
        ("authorization", "Bearer t"),
        ("origin", "https://app.example.com"),
        ("x-forwarded-host", "gw.example.net"),
        ("x-forwarded-proto", "https"),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect();
    assert_eq!(sent, want);
    // A refused request is not forwarded: no headers to show.
    let (_, out) = explain_example_raw(&[
        "--format",
        "json",
        "--method",
        "GET",
        "--path",
        "/orders/7",
        "--request-header",
        "Origin: https://evil.example.org",
    ]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["forwarded_headers"], Value::Null, "{out}");
    // The text form lists them under the upstream's URL.
    let (_, out) = explain_example_raw(&[
        "--method",
        "GET",
        "--path",
        "/orders/7",
        "--request-header",
        "Origin: https://app.example.com",
    ]);
    assert!(
        out.contains("  forwarded to https://orders.example.com/orders/7 with:\n    origin: https://app.example.com\n"),
        "{out}"
    );
}

fn load_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every example policy validates against the JSON Schema and the loader; the
/// documents in tests/policies/schema-limits pass the schema but not the
/// loader, which documents what a schema cannot express.
#[test]
fn schema_agrees_with_the_loader_and_its_limits_are_documented() {
    let schema = load_json(&root().join("policies/policy.schema.json"));
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let mut examples = 0;
    for entry in std::fs::read_dir(root().join("policies")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") && !path.ends_with("policy.schema.json") {
            let doc = load_json(&path);
            let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{}: {errors:?}", path.display());
            assert_eq!(
                doc["$schema"],
                "./policy.schema.json",
                "{} must reference the schema",
                path.display()
            );
            cors_gateway_core::Policy::from_json(&doc.to_string())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            examples += 1;
        }
    }
    assert!(examples >= 2);
    // What the schema catches too (typos, wrong types, lower-case methods).
    let invalid = load_json(&root().join("tests/policies/invalid.json"));
    assert!(!validator.is_valid(&invalid));
    // What only the loader catches.
    let mut limits = 0;
    for entry in std::fs::read_dir(root().join("tests/policies/schema-limits")).unwrap() {
        let path = entry.unwrap().path();
        let doc = load_json(&path);
        assert!(
            validator.is_valid(&doc),
            "{}: the schema now catches this; move it out of schema-limits",
            path.display()
        );
        assert!(
            cors_gateway_core::Policy::from_json(&doc.to_string()).is_err(),
            "{}: the loader must refuse it",
            path.display()
        );
        limits += 1;
    }
    assert!(limits >= 6);
}

/// `compile` writes what the gateway loads: `check` and `explain` read it and
/// give the JSON's answers; an invalid policy is not compiled (exit 2, the
/// same errors as `check`, no file written); a compiled file is not compiled
/// again; a damaged one is refused.
#[test]
fn compile_writes_a_policy_that_decides_like_its_json() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let out = dir.join("policy.bin");
    let out_s = out.to_str().unwrap();
    let (code, stdout) = run(&["compile", "tests/policies/example.json", "-o", out_s]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("compiled to"), "{stdout}");

    let (code, stdout) = run(&["check", out_s]);
    assert_eq!(code, 0, "{stdout}");
    let digest = {
        use sha2::{Digest, Sha256};
        let d = Sha256::digest(std::fs::read(root().join("tests/policies/example.json")).unwrap());
        d.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    assert!(
        stdout.contains("valid compiled policy") && stdout.contains(&digest),
        "{stdout}"
    );

    let doc = load_json(&root().join("tests/policies/example.json"));
    let origin = doc["cors"]["allow_origins"][0]
        .as_str()
        .unwrap()
        .to_string();
    for origin in [origin.as_str(), "https://not-listed.invalid"] {
        let args = |p: &str| {
            run(&[
                "explain",
                "--policy",
                p,
                "--origin",
                origin,
                "--method",
                "PUT",
                "--path",
                "/orders/7",
                "--format",
                "json",
            ])
        };
        let (json_code, json_out) = args("tests/policies/example.json");
        let (bin_code, bin_out) = args(out_s);
        assert_eq!(json_code, bin_code, "{origin}");
        let (a, b): (Value, Value) = (
            serde_json::from_str(&json_out).unwrap(),
            serde_json::from_str(&bin_out).unwrap(),
        );
        assert!(
            a["steps"].as_array().is_some_and(|s| !s.is_empty()),
            "{json_out}"
        );
        assert_eq!(a, b, "{origin}");
    }

    // Invalid: nothing written, the errors of `check`.
    let bad = dir.join("bad.json");
    std::fs::write(
        &bad,
        r#"{"version":1,"cors":{"allow_origins":["https://A.test"]},"routes":[]}"#,
    )
    .unwrap();
    let not_written = dir.join("bad.bin");
    let (code, stdout) = run(&[
        "compile",
        bad.to_str().unwrap(),
        "-o",
        not_written.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(stdout.contains("cors.allow_origins[0]"), "{stdout}");
    assert!(!not_written.exists());

    assert_eq!(
        run(&[
            "compile",
            out_s,
            "-o",
            dir.join("again.bin").to_str().unwrap()
        ])
        .0,
        64
    );

    let mut damaged = std::fs::read(&out).unwrap();
    let last = damaged.len() - 1;
    damaged[last] ^= 1;
    let damaged_path = dir.join("damaged.bin");
    std::fs::write(&damaged_path, damaged).unwrap();
    let (code, stdout) = run(&["check", damaged_path.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(stdout.contains("checksum mismatch"), "{stdout}");
}

/// Every example policy the repository ships is clean under its own `check`:
/// a new user's first `check` must not exit 1 on the examples.
#[test]
fn the_shipped_example_policies_are_clean() {
    let mut dirs = vec![root().join("policies")];
    let mut checked = 0;
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("policies/") {
            let path = entry.expect("entry").path();
            let name = path.to_string_lossy().into_owned();
            if path.is_dir() {
                dirs.push(path);
            } else if name.ends_with(".json") && !name.ends_with(".schema.json") {
                let (code, out) = run(&["check", &name]);
                assert_eq!(code, 0, "{out}");
                assert!(out.contains(", 0 warnings"), "{out}");
                checked += 1;
            }
        }
    }
    assert!(checked >= 4, "{checked} example policies found");
}
