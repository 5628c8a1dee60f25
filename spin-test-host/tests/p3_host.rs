//! The gateway's WASI 0.3 build (`wasi:http/handler@0.3.0`) in the in-process
//! host, which serves it as Spin 4 and `wasmtime serve` do: one instance
//! reused across requests. The per-instance caches are what a reused instance
//! could get wrong, so these tests pin down that the instance really is
//! reused, and that it still serves the policy in force. The Spin (0.2) build
//! keeps a fresh instance per request.

use spin_test_host::SpinHost;
use std::sync::OnceLock;
use testkit::Upstream;

const HEALTH: &str = "/.well-known/cors-gateway/health";

fn p3_wasm() -> &'static std::path::Path {
    static WASM: OnceLock<std::path::PathBuf> = OnceLock::new();
    WASM.get_or_init(|| testkit::wasm(&["p3"]))
}

/// A policy allowing one origin on `/api/`, forwarded to `upstream`.
fn policy(upstream: &str, origin: &str) -> String {
    format!(
        r#"{{"version":1,"cors":{{"allow_origins":["{origin}"],"allow_methods":["GET","PUT"],"max_age_secs":60}},
            "routes":[{{"name":"api","path_prefix":"/api/","upstream":"{upstream}"}}]}}"#
    )
}

/// The 0.3 build with its policy in `CORS_POLICY`.
fn p3_host(policy: &str) -> SpinHost {
    let mut h = SpinHost::new(p3_wasm()).expect("the WASI 0.3 build links in the test host");
    h.env("CORS_POLICY", policy);
    h
}

fn get(h: &SpinHost, path: &str, origin: &str) -> spin_test_host::Response {
    h.request("GET", path, &[("origin", origin)], b"")
        .expect("an answer")
}

#[test]
fn one_instance_serves_every_request_until_a_new_one_is_asked_for() {
    let up = Upstream::start();
    let h = p3_host(&policy(&up.url(), "https://a.example"));
    assert_eq!(h.instances(), 0, "nothing runs before the first request");
    for _ in 0..3 {
        let r = h.request("GET", HEALTH, &[], b"").expect("health");
        assert_eq!(r.status, 200, "{}", r.text());
    }
    assert_eq!(h.instances(), 1, "three requests, one instance");

    // Retired: the next request starts the second instance, which then stays.
    h.new_instance();
    assert_eq!(h.instances(), 1, "a new instance starts with a request");
    for _ in 0..2 {
        let r = h.request("GET", HEALTH, &[], b"").expect("health");
        assert_eq!(r.status, 200, "{}", r.text());
    }
    assert_eq!(h.instances(), 2);
}

#[test]
fn the_policy_from_cors_policy_answers_a_preflight_on_the_reused_instance() {
    let up = Upstream::start();
    let h = p3_host(&policy(&up.url(), "https://a.example"));
    for _ in 0..2 {
        let r = h
            .request(
                "OPTIONS",
                "/api/x",
                &[
                    ("origin", "https://a.example"),
                    ("access-control-request-method", "GET"),
                ],
                b"",
            )
            .expect("an answer");
        assert_eq!(r.status, 204, "{}", r.text());
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://a.example")
        );
        assert_eq!(r.header("access-control-max-age"), Some("60"));
    }
    // Another origin is refused by the same instance.
    let r = get(&h, "/api/x", "https://evil.example");
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(up.count(), 0, "preflights and refusals never go upstream");
    assert_eq!(h.instances(), 1);
    let j = h.request("GET", HEALTH, &[], b"").unwrap().json();
    assert_eq!(j["policy"]["source"], "env:CORS_POLICY", "{j}");
}

#[test]
fn a_forwarded_get_reaches_the_loopback_upstream() {
    let up = Upstream::start();
    let h = p3_host(&policy(&up.url(), "https://a.example"));
    for n in 1..=2 {
        let r = get(&h, "/api/items?page=2", "https://a.example");
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://a.example")
        );
        assert_eq!(up.count(), n);
        let seen = up.last().expect("the upstream saw the request");
        assert_eq!(seen.method, "GET");
        assert_eq!(seen.path_with_query, "/api/items?page=2");
        // The upstream's own answer (a JSON description of the request) is relayed.
        assert_eq!(r.json()["method"], "GET", "{}", r.text());
    }
    assert_eq!(h.instances(), 1);
}

#[test]
fn concurrent_requests_share_the_instance_and_run_at_once() {
    let up = Upstream::start();
    let h = p3_host(&policy(&up.url(), "https://a.example"));
    std::thread::scope(|s| {
        // The upstream holds this one for 4 s.
        let slow = s.spawn(|| get(&h, "/api/slow/4000", "https://a.example"));
        // Once the upstream has it, the instance is waiting on it...
        while up.count() == 0 {
            assert!(!slow.is_finished(), "the slow request ended early");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        // ...and still answers another request meanwhile.
        let r = h.request("GET", HEALTH, &[], b"").expect("health");
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(
            !slow.is_finished(),
            "the second request waited for the first"
        );
        let r = slow.join().expect("the slow request's thread");
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.text(), "slow answer\n");
    });
    assert_eq!(h.instances(), 1, "both ran in the same instance");
}

#[test]
fn env_is_fixed_when_an_instance_starts() {
    let up = Upstream::start();
    let mut h = p3_host(&policy(&up.url(), "https://a.example"));
    assert_eq!(get(&h, "/api/x", "https://a.example").status, 200);
    h.env("CORS_POLICY", &policy(&up.url(), "https://b.example"));
    // The running instance keeps the environment it started with...
    assert_eq!(get(&h, "/api/x", "https://a.example").status, 200);
    assert_eq!(get(&h, "/api/x", "https://b.example").status, 403);
    assert_eq!(h.instances(), 1);
    // ...a new one gets the new value.
    h.new_instance();
    assert_eq!(get(&h, "/api/x", "https://b.example").status, 200);
    assert_eq!(get(&h, "/api/x", "https://a.example").status, 403);
    assert_eq!(h.instances(), 2);
}

#[test]
fn a_policy_file_edit_is_served_by_the_reused_instance_on_the_next_request() {
    let up = Upstream::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("policy.json");
    std::fs::write(&file, policy(&up.url(), "https://a.example")).expect("write");
    let mut h = SpinHost::new(p3_wasm()).expect("the WASI 0.3 build links");
    h.mount_policies(dir.path());
    // Twice: the second request is served from the instance's cache.
    for _ in 0..2 {
        assert_eq!(get(&h, "/api/x", "https://a.example").status, 200);
    }
    // A different size, so the file's stamp changes whatever the clock's tick.
    std::fs::write(&file, policy(&up.url(), "https://second.example")).expect("rewrite");
    let r = get(&h, "/api/x", "https://second.example");
    assert_eq!(r.status, 200, "{}\n{}", r.text(), h.logs());
    assert_eq!(get(&h, "/api/x", "https://a.example").status, 403);
    assert_eq!(h.instances(), 1, "the same instance saw the edit");
    let j = h.request("GET", HEALTH, &[], b"").unwrap().json();
    assert_eq!(j["policy"]["source"], "file:/policies/policy.json", "{j}");
}

#[test]
fn the_spin_build_gets_a_fresh_instance_per_request() {
    let mut h = SpinHost::new(&testkit::wasm(&["spin"])).expect("the Spin build links");
    h.env(
        "CORS_POLICY",
        &policy("http://127.0.0.1:9", "https://a.example"),
    );
    assert_eq!(h.instances(), 0);
    for _ in 0..3 {
        let r = h.request("GET", HEALTH, &[], b"").expect("health");
        assert_eq!(r.status, 200, "{}", r.text());
    }
    assert_eq!(h.instances(), 3, "one instance per request");
    // Nothing to retire: the next request is fresh anyway.
    h.new_instance();
    assert_eq!(h.request("GET", HEALTH, &[], b"").unwrap().status, 200);
    assert_eq!(h.instances(), 4);
}
