//! The Spin build's side of the boundary, in the in-process Spin-like host:
//! admin tokens that are too weak leave the endpoint off, `If-Match` is
//! compared strongly, a failing stderr never kills a request, and a header
//! the host refuses gives a 500 instead of an answer stripped of its headers.

use serde_json::Value;
use spin_test_host::SpinHost;
use std::sync::OnceLock;
use testkit::Upstream;

const HEALTH: &str = "/.well-known/cors-gateway/health";
const ADMIN: &str = "/.well-known/cors-gateway/policy";
const KV_KEY: &str = "cors-gateway/policy";
const GOOD_TOKEN: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
/// The placeholder deploy/spinkube.yaml ships.
const PLACEHOLDER: &str = "change-me-to-a-long-random-token";

fn host() -> SpinHost {
    static WASM: OnceLock<std::path::PathBuf> = OnceLock::new();
    let wasm = WASM.get_or_init(|| testkit::wasm(testkit::spin_features()));
    let mut h = SpinHost::new(wasm).expect("the Spin build links in the test host");
    // The key-value source on, as the admin endpoint needs (spin.toml's
    // commented `key_value_stores` + `CORS_POLICY_KV_STORE` lines), and the
    // variable source (`CORS_POLICY_VARIABLE`).
    h.env("CORS_POLICY_KV_STORE", "default");
    h.env("CORS_POLICY_VARIABLE", "cors_policy");
    h
}

/// A catch-all route: anything not held back by the gateway reaches `upstream`.
fn catch_all(upstream: &str, origin: &str) -> String {
    format!(
        r#"{{"version":1,"cors":{{"allow_origins":["{origin}"],"allow_methods":["GET","PUT"],"max_age_secs":60}},
            "routes":[{{"name":"all","path_prefix":"/","upstream":"{upstream}"}}]}}"#
    )
}

#[test]
fn a_short_or_placeholder_admin_token_leaves_the_endpoint_off_and_says_why() {
    let spinkube =
        std::fs::read_to_string(testkit::gateway::workspace_root().join("deploy/spinkube.yaml"))
            .expect("deploy/spinkube.yaml");
    assert!(
        spinkube.contains(PLACEHOLDER),
        "the placeholder this test names is the shipped one"
    );
    for (token, why) in [
        ("s3cret-admin-token", "shorter than 32 bytes"),
        (PLACEHOLDER, "placeholder"),
    ] {
        let up = Upstream::start();
        let h = host();
        h.set_variable("cors_policy", &catch_all(&up.url(), "https://a.example"));
        h.set_variable("cors_admin_token", token);
        let auth = format!("Bearer {token}");
        let new = catch_all(&up.url(), "https://evil.example");
        let r = h
            .request("PUT", ADMIN, &[("authorization", &auth)], new.as_bytes())
            .unwrap();
        assert_eq!(r.status, 404, "{token}: {}", r.text());
        assert_eq!(h.kv_get(KV_KEY), None, "{token}: nothing stored");
        assert_eq!(
            up.count(),
            0,
            "{token}: the admin request never reaches the upstream"
        );
        let j: Value = h.request("GET", HEALTH, &[], b"").unwrap().json();
        assert_eq!(j["admin"]["enabled"], false, "{j}");
        assert!(
            j["admin"]["reason"].as_str().unwrap_or("").contains(why),
            "{j}"
        );
        assert!(h.logs().contains("admin endpoint is off"), "{}", h.logs());
    }
    // A real secret turns it on.
    let up = Upstream::start();
    let h = host();
    h.set_variable("cors_admin_token", GOOD_TOKEN);
    let j: Value = h.request("GET", HEALTH, &[], b"").unwrap().json();
    assert_eq!(j["admin"]["enabled"], true, "{j}");
    let auth = format!("Bearer {GOOD_TOKEN}");
    let doc = catch_all(&up.url(), "https://a.example");
    let r = h
        .request("PUT", ADMIN, &[("authorization", &auth)], doc.as_bytes())
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
}

#[test]
fn if_match_is_compared_strongly() {
    let up = Upstream::start();
    let h = host();
    h.set_variable("cors_admin_token", GOOD_TOKEN);
    let auth = format!("Bearer {GOOD_TOKEN}");
    let a = catch_all(&up.url(), "https://a.example");
    let r = h
        .request("PUT", ADMIN, &[("authorization", &auth)], a.as_bytes())
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let etag = r.header("etag").expect("etag").to_string();
    let sha = etag.trim_matches('"').to_string();
    let b = catch_all(&up.url(), "https://b.example");
    for stale in [
        format!("W/{etag}"),
        sha.clone(),
        format!("\"{}\"", sha.to_uppercase()),
    ] {
        let r = h
            .request(
                "PUT",
                ADMIN,
                &[("authorization", &auth), ("if-match", &stale)],
                b.as_bytes(),
            )
            .unwrap();
        assert_eq!(
            r.status,
            412,
            "If-Match {stale} must not match: {}",
            r.text()
        );
        assert_eq!(h.kv_get(KV_KEY).as_deref(), Some(a.as_bytes()));
    }
    let r = h
        .request(
            "PUT",
            ADMIN,
            &[("authorization", &auth), ("if-match", &etag)],
            b.as_bytes(),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn a_failing_stderr_never_kills_a_request() {
    let up = Upstream::start();
    let h = host();
    h.set_variable("cors_policy", &catch_all(&up.url(), "https://a.example"));
    h.state().stderr_closed = true;
    // A refusal logs a line; the answer must still be the refusal.
    let r = h
        .request("GET", "/x", &[("origin", "https://evil.example")], b"")
        .expect("an answer, not a trapped instance");
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.header("vary"), Some("Origin"));
    // So is a forwarded request's.
    let r = h
        .request("GET", "/x", &[("origin", "https://a.example")], b"")
        .expect("an answer");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://a.example")
    );
}

#[test]
fn a_header_the_host_refuses_gives_a_500_and_a_log_line() {
    let up = Upstream::start();
    let h = host();
    h.set_variable("cors_policy", &catch_all(&up.url(), "https://a.example"));
    h.state().forbidden_headers = vec!["access-control-max-age".into()];
    let r = h
        .request(
            "OPTIONS",
            "/x",
            &[
                ("origin", "https://a.example"),
                ("access-control-request-method", "PUT"),
            ],
            b"",
        )
        .expect("an answer");
    assert_eq!(r.status, 500, "never a 204 stripped of its CORS headers");
    assert!(h.logs().contains("refused the headers"), "{}", h.logs());
}
