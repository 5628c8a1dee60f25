//! `cors-gateway report` on the log of a real run: the built component in
//! `wasmtime serve` (JSON logs, a report-only live policy and a candidate)
//! serves a realistic mix of requests through the recording upstream; the
//! report of that log is compared with snapshots (tests/snapshots/), and its
//! suggested policy is loaded by a second gateway, whose own log must show
//! the refusals it fixes gone.

use std::path::Path;
use std::process::Command;
use testkit::{Gateway, Upstream};

/// Live: report-only on `api` (app.example.com, GET/POST), enforce on
/// `billing` (its own origin list). The candidate adds admin.example.com and
/// PUT to the defaults and enforces.
fn policies(upstream: &str) -> (String, String) {
    let doc = |origins: &str, methods: &str, mode: &str| {
        format!(
            r#"{{
  "version": 1,
  "cors": {{
    "allow_origins": [{origins}],
    "allow_methods": [{methods}],
    "allow_headers": ["content-type"],
    "mode": "{mode}"
  }},
  "routes": [
    {{"name": "api", "path_prefix": "/api/", "upstream": "{upstream}"}},
    {{"name": "billing", "path_prefix": "/billing/", "upstream": "{upstream}",
      "cors": {{"allow_origins": ["https://billing.example.com"], "mode": "enforce"}}}}
  ]
}}
"#
        )
    };
    (
        doc(
            r#""https://app.example.com""#,
            r#""GET", "POST""#,
            "report-only",
        ),
        doc(
            r#""https://app.example.com", "https://admin.example.com""#,
            r#""GET", "POST", "PUT""#,
            "enforce",
        ),
    )
}

const APP: &str = "https://app.example.com";
const ADMIN: &str = "https://admin.example.com";
const EVIL: &str = "https://evil.example";

/// The traffic: what pages on four origins (and a curl) send.
fn traffic(gw: &Gateway) {
    let preflight = |origin: &str, path: &str, method: &str, headers: Option<&str>| {
        let mut h = vec![
            ("origin", origin),
            ("access-control-request-method", method),
        ];
        if let Some(v) = headers {
            h.push(("access-control-request-headers", v));
        }
        gw.request("OPTIONS", path, &h, Vec::new());
    };
    for _ in 0..3 {
        gw.get("/api/orders", &[("origin", APP)]);
    }
    for _ in 0..2 {
        gw.get("/api/orders", &[("origin", ADMIN)]);
    }
    preflight(APP, "/api/orders/7", "PUT", Some("content-type"));
    preflight(APP, "/api/orders", "POST", Some("content-type,x-api-key"));
    gw.get("/api/orders", &[("origin", EVIL)]);
    gw.get("/api/orders", &[("origin", "https://App.example.com")]);
    gw.get("/api/orders", &[]);
    preflight(APP, "/billing/invoices", "GET", None);
    gw.get(
        "/billing/invoices",
        &[("origin", "https://billing.example.com")],
    );
}

fn cli(args: &[&str], cwd: &Path) -> (i32, String) {
    let out = Command::new(testkit::cli_bin())
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run cors-gateway");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Compares with tests/snapshots/NAME.txt; `UPDATE_SNAPSHOTS=1` rewrites it.
#[track_caller]
fn snapshot(name: &str, actual: &str) {
    testkit::snapshot::compare("tests/snapshots", name, actual, "cargo test --test report");
}

#[test]
fn report_on_a_real_runs_log_and_its_suggestion_fixes_the_refusals() {
    let up = Upstream::start();
    let (live, candidate) = policies(&up.url());
    let gw = Gateway::builder()
        .policy(live.clone())
        .env("CORS_POLICY_CANDIDATE", &candidate)
        .env("CORS_GATEWAY_LOG", "json")
        .start();
    traffic(&gw);
    let (logs, lines) = gw.json_requests(12);
    assert_eq!(lines.len(), 12, "{logs}");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("gateway.log"), &logs).unwrap();
    std::fs::write(dir.path().join("live.json"), &live).unwrap();
    // The upstream's port is in both policies, so their hashes vary by run.
    let live_sha = testkit::upstream::sha256_hex(live.as_bytes());
    let cand_sha = testkit::upstream::sha256_hex(candidate.as_bytes());
    let stable = |s: String| {
        s.replace(&live_sha, "<live sha256>")
            .replace(&cand_sha, "<candidate sha256>")
    };
    let args = [
        "report",
        "gateway.log",
        "--policy",
        "live.json",
        "--suggest",
        "suggested.json",
        "--except",
        EVIL,
    ];
    let (code, text) = cli(&args, dir.path());
    assert_eq!(code, 0, "{text}");
    snapshot("report", &stable(text));
    let (code, json) = cli(&[&args[..], &["--format", "json"]].concat(), dir.path());
    assert_eq!(code, 0, "{json}");
    snapshot(
        "report.json",
        &stable(json.replace(&up.url(), "<upstream>")),
    );

    // The same log on stdin, without a policy: the same tables.
    let out = Command::new(testkit::cli_bin())
        .args(["report", "-"])
        .stdin(std::fs::File::open(dir.path().join("gateway.log")).unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    snapshot(
        "report-stdin",
        &stable(String::from_utf8_lossy(&out.stdout).into_owned()),
    );

    // `check` accepts the suggestion (exit 0: valid and clean, 1: warnings).
    let suggested = std::fs::read_to_string(dir.path().join("suggested.json")).unwrap();
    snapshot(
        "report-suggested.json",
        &suggested.replace(&up.url(), "<upstream>"),
    );
    let (code, out) = cli(&["check", "suggested.json"], dir.path());
    assert!(code == 0 || code == 1, "check: {code}\n{out}");

    // A gateway on the suggestion decides the same traffic: the origins, the
    // method and the header it adds are allowed (app.example.com on billing
    // through billing's own list); the origin left out with --except and the
    // malformed one stay refused.
    let gw2 = Gateway::builder()
        .policy(suggested)
        .env("CORS_GATEWAY_LOG", "json")
        .start();
    traffic(&gw2);
    let (logs2, lines2) = gw2.json_requests(12);
    // Each line is written as its response ends: compared in sorted order.
    let mut got: Vec<(String, String, String)> = lines2
        .iter()
        .map(|r| {
            (
                r["route"].as_str().unwrap_or("-").to_string(),
                r["origin"].as_str().unwrap_or("-").to_string(),
                r["decision"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect();
    let want: Vec<(&str, &str, &str)> = vec![
        ("api", APP, "would-allow"),
        ("api", APP, "would-allow"),
        ("api", APP, "would-allow"),
        ("api", ADMIN, "would-allow"),
        ("api", ADMIN, "would-allow"),
        ("api", APP, "would-allow"),
        ("api", APP, "would-allow"),
        ("api", EVIL, "would-refuse"),
        ("api", "https://App.example.com", "would-refuse"),
        ("api", "-", "not-cors"),
        ("billing", APP, "allow"),
        ("billing", "https://billing.example.com", "allow"),
    ];
    let mut want: Vec<(String, String, String)> = want
        .into_iter()
        .map(|(a, b, c)| (a.into(), b.into(), c.into()))
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want, "{logs2}");
}
