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
