//! Rolling out a policy, against the built component in `wasmtime serve` with
//! the recording upstream: report-only routes are transparent (preflights and
//! actual requests reach the upstream, its own CORS headers come back
//! unchanged) while the log names the decision the policy would have made.

use testkit::{Gateway, Upstream};

fn policy(upstream: &str) -> String {
    format!(
        r#"{{"version":1,
        "cors":{{"allow_origins":["https://app.example.com"],"allow_methods":["GET","POST"],"mode":"report-only"}},
        "routes":[{{"name":"api","path_prefix":"/api/","upstream":"{upstream}"}},
                  {{"name":"strict","path_prefix":"/strict/","upstream":"{upstream}","cors":{{"mode":"enforce"}}}}]}}"#
    )
}

/// The CORS headers testkit's upstream sends on every answer.
const UPSTREAM_CORS: [(&str, &str); 4] = [
    ("access-control-allow-credentials", "true"),
    (
        "access-control-allow-origin",
        "https://upstream-chose-this.example",
    ),
    ("access-control-expose-headers", "x-upstream-secret"),
    ("vary", "Accept-Encoding"),
];

fn upstream_cors() -> std::collections::BTreeMap<String, String> {
    UPSTREAM_CORS
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

#[test]
fn report_only_forwards_a_refused_preflight_and_logs_the_refusal() {
    let up = Upstream::start();
    let gw = Gateway::builder().policy(policy(&up.url())).start();
    let resp = gw.request(
        "OPTIONS",
        "/api/items",
        &[
            ("origin", "https://evil.test"),
            ("access-control-request-method", "DELETE"),
        ],
        Vec::new(),
    );
    assert_eq!(resp.status, 200, "{}", gw.logs());
    let seen = up.last().expect("the preflight reached the upstream");
    assert_eq!(seen.method, "OPTIONS");
    assert_eq!(seen.path_with_query, "/api/items");
    assert_eq!(seen.header("access-control-request-method"), Some("DELETE"));
    assert_eq!(resp.cors(), upstream_cors());
    let logs = gw.logs();
    assert!(
        logs.contains("report-only would-refuse 403 OPTIONS \"/api/items\" route=api origin=\"https://evil.test\": origin-not-allowed"),
        "{logs}"
    );
}

#[test]
fn report_only_actual_requests_keep_the_upstreams_cors_headers() {
    let up = Upstream::start();
    let gw = Gateway::builder().policy(policy(&up.url())).start();
    // Refused by the policy, allowed by it, and no Origin at all: each
    // reaches the upstream and comes back exactly as the upstream sent it.
    for origin in ["https://evil.test", "https://app.example.com", ""] {
        let before = up.count();
        let headers: Vec<(&str, &str)> = if origin.is_empty() {
            vec![]
        } else {
            vec![("origin", origin)]
        };
        let resp = gw.get("/api/x", &headers);
        assert_eq!(resp.status, 200, "{origin}");
        assert_eq!(up.count(), before + 1, "{origin}");
        assert_eq!(resp.cors(), upstream_cors(), "{origin}");
    }
    let logs = gw.logs();
    assert!(
        logs.contains("report-only would-refuse 403 GET \"/api/x\" route=api origin=\"https://evil.test\": origin-not-allowed"),
        "{logs}"
    );
    assert!(
        logs.contains("report-only would-allow forward GET \"/api/x\" route=api origin=\"https://app.example.com\": -"),
        "{logs}"
    );
}

#[test]
fn a_route_in_enforce_mode_still_refuses_and_boundaries_hold() {
    let up = Upstream::start();
    let gw = Gateway::builder().policy(policy(&up.url())).start();
    let before = up.count();
    let resp = gw.request(
        "OPTIONS",
        "/strict/x",
        &[
            ("origin", "https://evil.test"),
            ("access-control-request-method", "GET"),
        ],
        Vec::new(),
    );
    assert_eq!(resp.status, 403);
    // Not CORS decisions: refused on a report-only route too.
    assert_eq!(gw.get("/api/%2e%2e/strict/x", &[]).status, 400);
    assert_eq!(gw.get("/.well-known/cors-gateway/x", &[]).status, 404);
    assert_eq!(up.count(), before, "nothing reached the upstream");
}

#[test]
fn health_lists_the_report_only_routes() {
    let up = Upstream::start();
    let gw = Gateway::builder().policy(policy(&up.url())).start();
    let health = gw.get("/.well-known/cors-gateway/health", &[]).json();
    assert_eq!(
        health["policy"]["report_only_routes"],
        serde_json::json!(["api"])
    );
}

fn is_made_id(v: &str) -> bool {
    v.len() == 32
        && v.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

#[test]
fn a_safe_request_id_is_kept_forwarded_returned_and_logged() {
    let up = Upstream::start();
    let gw = Gateway::builder().policy(policy(&up.url())).start();
    let resp = gw.get(
        "/api/x",
        &[
            ("origin", "https://evil.test"),
            ("x-request-id", "trace-7.a:B_c"),
        ],
    );
    assert_eq!(resp.header("x-request-id"), Some("trace-7.a:B_c"));
    assert_eq!(
        resp.all("x-request-id").len(),
        1,
        "the upstream's own id is replaced"
    );
    let seen = up.last().unwrap();
    assert_eq!(seen.header("x-request-id"), Some("trace-7.a:B_c"));
    assert!(
        gw.logs()
            .contains("origin-not-allowed request_id=trace-7.a:B_c"),
        "{}",
        gw.logs()
    );
}

#[test]
fn an_unsafe_or_missing_request_id_is_replaced_by_a_made_one() {
    let up = Upstream::start();
    let gw = Gateway::builder().policy(policy(&up.url())).start();
    let long = "x".repeat(129);
    let mut made = Vec::new();
    for given in ["", "two words", "a\u{e9}", long.as_str()] {
        let headers: Vec<(&str, &str)> = if given.is_empty() {
            vec![]
        } else {
            vec![("x-request-id", given)]
        };
        let resp = gw.get("/api/x", &headers);
        let id = resp.header("x-request-id").unwrap_or_default().to_string();
        assert!(is_made_id(&id), "{given:?} -> {id:?}");
        let seen = up.last().unwrap();
        let sent: Vec<&str> = seen
            .headers
            .iter()
            .filter(|(n, _)| n == "x-request-id")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(sent, [id.as_str()], "{given:?}");
        made.push(id);
    }
    made.sort();
    made.dedup();
    assert_eq!(made.len(), 4, "each made id is new");
}

#[test]
fn the_gateways_own_answers_carry_the_request_id() {
    let up = Upstream::start();
    let policy = format!(
        r#"{{"version":1,"cors":{{"allow_origins":["https://app.example.com"]}},
        "routes":[{{"name":"api","path_prefix":"/api/","upstream":"{}"}},
                  {{"name":"down","path_prefix":"/down/","upstream":"{}"}}]}}"#,
        up.url(),
        testkit::upstream::refused_url()
    );
    let gw = Gateway::builder().policy(policy).start();
    let pre = |origin: &str| {
        gw.request(
            "OPTIONS",
            "/api/x",
            &[
                ("origin", origin),
                ("access-control-request-method", "GET"),
                ("x-request-id", "r1"),
            ],
            Vec::new(),
        )
    };
    let answers = [
        pre("https://app.example.com"),
        pre("https://evil.test"),
        gw.get(
            "/.well-known/cors-gateway/health",
            &[("x-request-id", "r1")],
        ),
        gw.get("/nowhere", &[("x-request-id", "r1")]),
        gw.get(
            "/down/x",
            &[
                ("origin", "https://app.example.com"),
                ("x-request-id", "r1"),
            ],
        ),
    ];
    let statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [204, 403, 200, 404, 502]);
    for r in &answers {
        assert_eq!(r.header("x-request-id"), Some("r1"), "{}", r.status);
    }
    // An answer to a request without an id gets a made one.
    let made = gw.get("/nowhere", &[]);
    assert!(is_made_id(made.header("x-request-id").unwrap_or_default()));
}

/// The fields every JSON request line has (docs/logs.md, "JSON logs").
const REQUEST_FIELDS: [&str; 19] = [
    "time",
    "request_id",
    "event",
    "method",
    "path",
    "route",
    "kind",
    "origin",
    "decision",
    "failure",
    "failure_detail",
    "status",
    "upstream_status",
    "upstream_ms",
    "bytes_in",
    "bytes_out",
    "policy_sha256",
    "mode",
    "sources",
];

#[test]
fn json_logs_are_one_object_per_line_with_the_documented_fields() {
    let up = Upstream::start();
    let doc = policy(&up.url());
    let gw = Gateway::builder()
        .policy(doc.clone())
        .env("CORS_GATEWAY_LOG", "json")
        .start();
    let long_origin = format!("https://{}.example", "a".repeat(400));
    gw.get(
        "/api/x",
        &[("origin", "https://evil.test"), ("x-request-id", "j1")],
    );
    gw.request(
        "OPTIONS",
        "/strict/x",
        &[
            ("origin", "https://evil.test"),
            ("access-control-request-method", "GET"),
            ("x-request-id", "j2"),
        ],
        Vec::new(),
    );
    gw.request(
        "POST",
        "/api/bytes/1000",
        &[("x-request-id", "j3")],
        vec![b'x'; 10],
    );
    gw.get(
        "/api/x",
        &[("origin", &long_origin), ("x-request-id", "j4")],
    );
    // Lines from the component are JSON objects; wasmtime's own are not ours.
    let (logs, _) = gw.json_requests(4);
    // wasmtime serve labels each instance's output (`stderr [N] :: `).
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| l.find('{').map(|i| &l[i..]))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let mut requests: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["event"] == "request").collect();
    assert_eq!(requests.len(), 4, "{logs}");
    // Written as each response ends: the instances may finish out of order.
    requests.sort_by_key(|r| r["request_id"].as_str().unwrap_or_default().to_string());
    for l in &lines {
        assert!(l["request_id"].is_string() && l["event"].is_string(), "{l}");
        let time = l["time"].as_str().unwrap_or_default();
        assert!(
            time.len() == 24 && time.ends_with('Z') && time.starts_with("20"),
            "{l}"
        );
    }
    for r in &requests {
        for f in REQUEST_FIELDS {
            assert!(r.get(f).is_some(), "{f} missing in {r}");
        }
        // The portable build records no sources (the Spin build's are in
        // spin-test-host/tests/spin_build.rs).
        assert_eq!(r["sources"], serde_json::json!([]), "{r}");
    }
    let sha = testkit::upstream::sha256_hex(doc.as_bytes());
    let want = [
        (
            "j1",
            "GET",
            "/api/x",
            "api",
            "actual",
            "would-refuse",
            "origin-not-allowed",
            200,
            "report-only",
        ),
        (
            "j2",
            "OPTIONS",
            "/strict/x",
            "strict",
            "preflight",
            "refuse",
            "origin-not-allowed",
            403,
            "enforce",
        ),
        (
            "j3",
            "POST",
            "/api/bytes/1000",
            "api",
            "not-cors",
            "not-cors",
            "",
            200,
            "report-only",
        ),
        (
            "j4",
            "GET",
            "/api/x",
            "api",
            "actual",
            "would-refuse",
            "malformed-origin",
            200,
            "report-only",
        ),
    ];
    for (r, (id, method, path, route, kind, decision, failure, status, mode)) in
        requests.iter().zip(want)
    {
        assert_eq!(r["request_id"], id, "{r}");
        assert_eq!(r["method"], method, "{r}");
        assert_eq!(r["path"], path, "{r}");
        assert_eq!(r["route"], route, "{r}");
        assert_eq!(r["kind"], kind, "{r}");
        assert_eq!(r["decision"], decision, "{r}");
        assert_eq!(r["failure"].as_str().unwrap_or(""), failure, "{r}");
        assert_eq!(r["status"], status, "{r}");
        assert_eq!(r["mode"], mode, "{r}");
        assert_eq!(r["policy_sha256"], sha.as_str(), "{r}");
    }
    assert_eq!(requests[2]["bytes_in"], 10);
    assert_eq!(requests[2]["bytes_out"], 1000);
    assert_eq!(requests[2]["upstream_status"], 200);
    assert!(requests[2]["upstream_ms"].is_u64());
    assert_eq!(requests[1]["upstream_status"], serde_json::Value::Null);
    assert_eq!(
        requests[3]["origin"].as_str().unwrap().len(),
        256,
        "origin cut"
    );
}

/// The live policy allows app.example.com; the candidate allows only
/// new.example.com (and, on `api`, PUT as well).
fn live_and_candidate(upstream: &str) -> (String, String) {
    let doc = |origin: &str, methods: &str| {
        format!(
            r#"{{"version":1,"cors":{{"allow_origins":["{origin}"],"allow_methods":[{methods}]}},
            "routes":[{{"name":"api","path_prefix":"/api/","upstream":"{upstream}"}}]}}"#
        )
    };
    (
        doc("https://app.example.com", r#""GET""#),
        doc("https://new.example.com", r#""GET","PUT""#),
    )
}

fn candidate_requests(gw: &Gateway) -> Vec<(u16, std::collections::BTreeMap<String, String>)> {
    let pre = |origin: &str, method: &str| {
        gw.request(
            "OPTIONS",
            "/api/x",
            &[
                ("origin", origin),
                ("access-control-request-method", method),
            ],
            Vec::new(),
        )
    };
    [
        gw.get("/api/x", &[("origin", "https://app.example.com")]),
        gw.get("/api/x", &[("origin", "https://new.example.com")]),
        gw.get("/api/x", &[]),
        pre("https://app.example.com", "GET"),
        pre("https://new.example.com", "PUT"),
        pre("https://other.example.com", "GET"),
    ]
    .into_iter()
    .map(|r| (r.status, r.cors()))
    .collect()
}

#[test]
fn a_candidate_logs_exactly_the_differing_requests_and_changes_no_response() {
    let up = Upstream::start();
    let (live, cand) = live_and_candidate(&up.url());
    let plain = Gateway::builder().policy(live.clone()).start();
    let want = candidate_requests(&plain);
    let gw = Gateway::builder()
        .policy(live)
        .env("CORS_POLICY_CANDIDATE", &cand)
        .start();
    assert_eq!(
        candidate_requests(&gw),
        want,
        "the candidate changed a response"
    );
    let logs = gw.logs();
    let differs: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("candidate differs"))
        .map(|l| l.split("candidate differs ").nth(1).unwrap_or(""))
        .map(|l| l.split(" request_id=").next().unwrap_or(""))
        .collect();
    assert_eq!(
        differs,
        [
            "GET \"/api/x\" route=api origin=\"https://app.example.com\": live allow forward - / candidate refuse 403 origin-not-allowed",
            "GET \"/api/x\" route=api origin=\"https://new.example.com\": live refuse 403 origin-not-allowed / candidate allow forward -",
            "OPTIONS \"/api/x\" route=api origin=\"https://app.example.com\": live allow 204 - / candidate refuse 403 origin-not-allowed",
            "OPTIONS \"/api/x\" route=api origin=\"https://new.example.com\": live refuse 403 origin-not-allowed / candidate allow 204 -",
        ],
        "{logs}"
    );
    let health = gw.get("/.well-known/cors-gateway/health", &[]).json();
    assert_eq!(health["candidate"]["source"], "env:CORS_POLICY_CANDIDATE");
    assert_eq!(
        health["candidate"]["sha256"],
        testkit::upstream::sha256_hex(cand.as_bytes()).as_str()
    );
}

#[test]
fn an_invalid_candidate_changes_nothing_and_is_logged() {
    let up = Upstream::start();
    let (live, _) = live_and_candidate(&up.url());
    let plain = Gateway::builder().policy(live.clone()).start();
    let want = candidate_requests(&plain);
    let gw = Gateway::builder()
        .policy(live)
        .env(
            "CORS_POLICY_CANDIDATE",
            r#"{"version":1,"cors":{"alow_origins":[]},"routes":[]}"#,
        )
        .start();
    assert_eq!(candidate_requests(&gw), want);
    let logs = gw.logs();
    assert!(
        logs.contains("candidate policy from env:CORS_POLICY_CANDIDATE is invalid and ignored"),
        "{logs}"
    );
    assert!(!logs.contains("candidate differs"), "{logs}");
    let health = gw.get("/.well-known/cors-gateway/health", &[]).json();
    assert_eq!(health["status"], "ok");
    assert!(health["candidate"]["error"]
        .as_str()
        .unwrap_or("")
        .contains("alow_origins"));
}

#[test]
fn a_candidate_is_compared_with_a_report_only_policys_would_be_decision() {
    let up = Upstream::start();
    let (live, cand) = live_and_candidate(&up.url());
    // The same policy, enforced: only the mode differs, so nothing is logged.
    let live = live.replacen(
        r#""allow_methods""#,
        r#""mode":"report-only","allow_methods""#,
        1,
    );
    let cand_same = cand.replace("https://new.example.com", "https://app.example.com");
    let gw = Gateway::builder()
        .policy(live)
        .env("CORS_POLICY_CANDIDATE", &cand_same)
        .start();
    gw.get("/api/x", &[("origin", "https://app.example.com")]);
    gw.get("/api/x", &[("origin", "https://evil.test")]);
    let logs = gw.logs();
    assert!(logs.contains("report-only would-refuse"), "{logs}");
    assert!(!logs.contains("candidate differs"), "{logs}");
}

#[test]
fn json_request_lines_carry_the_candidates_decision() {
    let up = Upstream::start();
    let (live, cand) = live_and_candidate(&up.url());
    let gw = Gateway::builder()
        .policy(live)
        .env("CORS_POLICY_CANDIDATE", &cand)
        .env("CORS_GATEWAY_LOG", "json")
        .start();
    gw.get(
        "/api/x",
        &[
            ("origin", "https://app.example.com"),
            ("x-request-id", "c1"),
        ],
    );
    gw.get("/api/x", &[("x-request-id", "c2")]);
    gw.request(
        "OPTIONS",
        "/api/x",
        &[
            ("origin", "https://app.example.com"),
            ("access-control-request-method", "PUT"),
            ("x-request-id", "c3"),
        ],
        Vec::new(),
    );
    let (logs, mut requests) = gw.json_requests(3);
    assert_eq!(requests.len(), 3, "{logs}");
    requests.sort_by_key(|r| r["request_id"].as_str().unwrap_or_default().to_string());
    let sha = testkit::upstream::sha256_hex(cand.as_bytes());
    assert_eq!(
        requests[0]["candidate"],
        serde_json::json!({"decision": "refuse", "failure": "origin-not-allowed", "failure_detail": null, "status": "403", "differs": true, "sha256": sha})
    );
    assert_eq!(
        requests[1]["candidate"],
        serde_json::json!({"decision": "not-cors", "failure": null, "failure_detail": null, "status": "forward", "differs": false, "sha256": sha})
    );
    // The live policy refuses the method (and names it), the candidate the origin.
    assert_eq!(requests[2]["failure"], "method-not-allowed");
    assert_eq!(requests[2]["failure_detail"], "PUT");
    assert_eq!(
        requests[2]["candidate"],
        serde_json::json!({"decision": "refuse", "failure": "origin-not-allowed", "failure_detail": null, "status": "403", "differs": true, "sha256": sha})
    );
}
