//! The Spin build of the gateway, run in the in-process Spin-like host: policy
//! sources and their precedence, updates, the admin endpoint and
//! last-known-good, against the real `fermyon:spin` interfaces.

use serde_json::Value;
use spin_test_host::SpinHost;
use std::sync::OnceLock;
use testkit::Upstream;

const HEALTH: &str = "/.well-known/cors-gateway/health";
const ADMIN: &str = "/.well-known/cors-gateway/policy";
const ROLLBACK: &str = "/.well-known/cors-gateway/policy/rollback";
const KV_KEY: &str = "cors-gateway/policy";
const PREVIOUS_KEY: &str = "cors-gateway/policy.previous";
const TOKEN: &str = "s3cret-admin-token-0123456789abcdef";

/// A policy allowing one origin on `/api/`.
fn policy(upstream: &str, origin: &str) -> String {
    format!(
        r#"{{
  "version": 1,
  "cors": {{ "allow_origins": ["{origin}"], "allow_methods": ["GET", "PUT"], "max_age_secs": 60 }},
  "routes": [ {{ "name": "api", "path_prefix": "/api/", "upstream": "{upstream}" }} ]
}}"#
    )
}

fn sha256_hex(bytes: &[u8]) -> String {
    testkit::upstream::sha256_hex(bytes)
}

/// One compiled host per process is enough: each `SpinHost` gets fresh state.
fn host() -> SpinHost {
    static WASM: OnceLock<std::path::PathBuf> = OnceLock::new();
    let wasm = WASM.get_or_init(|| testkit::wasm(testkit::spin_features()));
    SpinHost::new(wasm).expect("the Spin build links in the test host")
}

/// The host with both live sources on, as spin.toml's commented lines turn
/// them on: the store granted (`key_value_stores`, the host's default) and
/// named in the environment (`CORS_POLICY_KV_STORE`), and the variable named
/// there too (`CORS_POLICY_VARIABLE`).
fn kv_host() -> SpinHost {
    let mut h = var_host();
    h.env("CORS_POLICY_KV_STORE", "default");
    h
}

/// The host with the variable source on (`CORS_POLICY_VARIABLE`) only.
fn var_host() -> SpinHost {
    let mut h = host();
    h.env("CORS_POLICY_VARIABLE", "cors_policy");
    h
}

/// Which of the origins a, b, c, d the gateway serves: the one the policy in force allows.
fn allowed(h: &SpinHost) -> &'static str {
    for o in [
        "https://a.example",
        "https://b.example",
        "https://c.example",
        "https://d.example",
    ] {
        let r = h
            .request("GET", "/api/x", &[("origin", o)], b"")
            .expect("request");
        if r.status == 200 {
            assert_eq!(r.header("access-control-allow-origin"), Some(o));
            return o;
        }
        assert_eq!(r.status, 403, "{}", r.text());
    }
    panic!("no origin allowed; logs:\n{}", h.logs())
}

fn health(h: &SpinHost) -> Value {
    let r = h.request("GET", HEALTH, &[], b"").expect("health");
    r.json()
}

fn with_policy_dir(h: &mut SpinHost, doc: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("policy.json"), doc).expect("write policy");
    h.mount_policies(dir.path());
    h.new_instance();
    dir
}

/// Changes the component's environment (spin.toml's `environment`): on Spin a
/// redeploy, so the next request has a new instance (a 0.3 one is otherwise
/// reused, with the environment it started with).
fn redeploy(h: &mut SpinHost, name: &str, value: &str) {
    h.env(name, value);
    h.new_instance();
}

#[test]
fn precedence_is_kv_then_variable_then_env_then_file_and_updates_apply_on_the_next_request() {
    let up = Upstream::start();
    let mut h = kv_host();
    let _dir = with_policy_dir(&mut h, &policy(&up.url(), "https://d.example"));
    assert_eq!(allowed(&h), "https://d.example");
    assert_eq!(health(&h)["policy"]["source"], "file:/policies/policy.json");

    redeploy(
        &mut h,
        "CORS_POLICY",
        &policy(&up.url(), "https://c.example"),
    );
    assert_eq!(allowed(&h), "https://c.example");

    h.set_variable("cors_policy", &policy(&up.url(), "https://b.example"));
    assert_eq!(allowed(&h), "https://b.example");
    assert_eq!(health(&h)["policy"]["source"], "variable:cors_policy");

    h.kv_set(KV_KEY, policy(&up.url(), "https://a.example").as_bytes());
    assert_eq!(allowed(&h), "https://a.example");
    let j = health(&h);
    assert_eq!(j["policy"]["source"], "kv:default/cors-gateway/policy");
    assert_eq!(j["status"], "ok");

    // Changing the variable while the key-value entry exists changes nothing...
    h.set_variable("cors_policy", &policy(&up.url(), "https://c.example"));
    assert_eq!(allowed(&h), "https://a.example");
    // ...and removing the entry hands over to it on the next request.
    h.state().stores.get_mut("default").unwrap().remove(KV_KEY);
    assert_eq!(allowed(&h), "https://c.example");
    // An empty variable counts as unset.
    h.set_variable("cors_policy", "");
    assert_eq!(allowed(&h), "https://c.example"); // env CORS_POLICY
                                                  // The request really went out to the upstream.
    assert!(up.count() > 0);
}

#[test]
fn no_store_granted_falls_back_to_the_variable() {
    let up = Upstream::start();
    let h = kv_host();
    h.state().stores.clear(); // no key_value_stores in spin.toml
    h.set_variable("cors_policy", &policy(&up.url(), "https://b.example"));
    assert_eq!(allowed(&h), "https://b.example");
}

#[test]
fn last_known_good_survives_a_broken_kv_entry_across_fresh_instances() {
    let up = Upstream::start();
    let h = kv_host();
    let good = policy(&up.url(), "https://a.example");
    h.kv_set(KV_KEY, good.as_bytes());
    assert_eq!(allowed(&h), "https://a.example");

    // Someone writes an invalid document with `spin cloud kv set`.
    h.kv_set(KV_KEY, br#"{ "version": 1, "routes": [ "#);
    assert_eq!(allowed(&h), "https://a.example", "{}", h.logs());
    let j = health(&h);
    assert_eq!(j["status"], "degraded", "{j}");
    assert_eq!(j["last_known_good"], true);
    assert_eq!(j["policy"]["sha256"], sha256_hex(good.as_bytes()));
    let err = j["error"].as_str().unwrap();
    assert!(
        err.starts_with("kv:default/cors-gateway/policy: invalid policy"),
        "{err}"
    );
    assert!(h.logs().contains(
        "ERROR policy from kv:default/cors-gateway/policy rejected, serving last-known-good"
    ));

    // A valid but different version, then the store becoming unreadable.
    let newer = policy(&up.url(), "https://b.example");
    h.kv_set(KV_KEY, newer.as_bytes());
    assert_eq!(allowed(&h), "https://b.example");
    assert_eq!(health(&h)["status"], "ok");
    h.state().kv_failure = Some("redis: connection refused".into());
    if testkit::gateway::testing_p3() {
        // A reused instance still holds the last good version it served.
        let j = health(&h);
        assert_eq!(j["status"], "degraded", "{j}");
        assert_eq!(j["policy"]["sha256"], sha256_hex(newer.as_bytes()), "{j}");
        assert!(
            j["error"]
                .as_str()
                .is_some_and(|e| e.contains("redis: connection refused")),
            "{j}"
        );
        assert_eq!(allowed(&h), "https://b.example");
        h.new_instance();
    }
    // A fresh instance has only the store, which is down.
    let r = h.request("GET", HEALTH, &[], b"").unwrap();
    assert_eq!(
        r.status, 503,
        "the store that keeps the last good version is down too"
    );
    assert!(
        r.text().contains("redis: connection refused"),
        "{}",
        r.text()
    );
    h.state().kv_failure = None;
    assert_eq!(allowed(&h), "https://b.example");
}

#[test]
fn admin_endpoint_does_not_exist_without_a_token() {
    let up = Upstream::start();
    let h = kv_host();
    h.set_variable("cors_policy", &policy(&up.url(), "https://a.example"));
    let doc = policy(&up.url(), "https://b.example");
    let r = h
        .request(
            "PUT",
            ADMIN,
            &[("authorization", "Bearer x")],
            doc.as_bytes(),
        )
        .unwrap();
    // The gateway treats it as any other path: no route.
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(h.kv_get(KV_KEY), None);
    // An empty token is no token.
    h.set_variable("cors_admin_token", "  ");
    let r = h
        .request("GET", ADMIN, &[("authorization", "Bearer  ")], b"")
        .unwrap();
    assert_eq!(r.status, 404);
}

#[test]
fn admin_refuses_missing_or_wrong_tokens() {
    let up = Upstream::start();
    let h = kv_host();
    h.set_variable("cors_admin_token", TOKEN);
    let doc = policy(&up.url(), "https://b.example");
    let wrong_prefix = format!("Bearer {}", &TOKEN[..TOKEN.len() - 1]);
    let longer = format!("Bearer {TOKEN}x");
    let basic = format!("Basic {TOKEN}");
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![],
        vec![("authorization", "Bearer wrong")],
        vec![("authorization", &wrong_prefix)],
        vec![("authorization", &longer)],
        vec![("authorization", &basic)],
        vec![("authorization", TOKEN)],
    ];
    for headers in &cases {
        for method in ["GET", "PUT"] {
            let r = h.request(method, ADMIN, headers, doc.as_bytes()).unwrap();
            assert_eq!(r.status, 401, "{method} {headers:?}");
            assert_eq!(
                r.header("www-authenticate"),
                Some("Bearer realm=\"cors-gateway\"")
            );
        }
        let r = h.request("POST", ROLLBACK, headers, b"").unwrap();
        assert_eq!(r.status, 401);
    }
    assert_eq!(h.kv_get(KV_KEY), None, "nothing was stored");
    assert!(h.logs().contains("admin request refused"));
    // The scheme is case-insensitive (RFC 9110).
    let lower = format!("bearer {TOKEN}");
    let r = h
        .request("PUT", ADMIN, &[("authorization", &lower)], doc.as_bytes())
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
}

#[test]
fn admin_put_validates_stores_keeps_previous_and_rolls_back() {
    let up = Upstream::start();
    let h = kv_host();
    h.set_variable("cors_admin_token", TOKEN);
    h.set_variable("cors_policy", &policy(&up.url(), "https://d.example"));
    let auth = format!("Bearer {TOKEN}");
    let auth = [("authorization", auth.as_str())];

    // Nothing stored yet: GET says so, the variable is in force.
    assert_eq!(h.request("GET", ADMIN, &auth, b"").unwrap().status, 404);
    assert_eq!(allowed(&h), "https://d.example");

    // An invalid document: 400 with the exact reason, nothing stored.
    let bad = r#"{ "version": 1, "cors": { "allow_origins": ["*"], "allow_credentials": true },
      "routes": [ { "name": "api", "path_prefix": "/api/", "upstream": "http://127.0.0.1:9" } ] }"#;
    let r = h.request("PUT", ADMIN, &auth, bad.as_bytes()).unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    let expected = cors_gateway_core::Policy::from_json(bad).unwrap_err();
    let j = r.json();
    assert_eq!(j["error"], format!("invalid policy: {expected}"));
    assert_eq!(j["errors"][0]["path"], expected.0[0].path);
    assert_eq!(j["errors"][0]["message"], expected.0[0].message);
    let r = h.request("PUT", ADMIN, &auth, b"{ nope").unwrap();
    assert_eq!(r.status, 400);
    assert!(r.json()["errors"][0]["line"].is_number(), "{}", r.text());
    assert_eq!(h.kv_get(KV_KEY), None);
    assert_eq!(allowed(&h), "https://d.example");

    // A valid one: stored, in force on the next request.
    let a = policy(&up.url(), "https://a.example");
    let r = h.request("PUT", ADMIN, &auth, a.as_bytes()).unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let sha_a = sha256_hex(a.as_bytes());
    assert_eq!(r.header("etag"), Some(format!("\"{sha_a}\"").as_str()));
    assert_eq!(r.json()["previous_sha256"], Value::Null);
    assert_eq!(h.kv_get(KV_KEY).as_deref(), Some(a.as_bytes()));
    assert_eq!(allowed(&h), "https://a.example");

    // GET returns it with its ETag.
    let r = h.request("GET", ADMIN, &auth, b"").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, a.as_bytes());
    assert_eq!(r.header("etag"), Some(format!("\"{sha_a}\"").as_str()));

    // Replace with If-Match naming the stored version: previous kept.
    let b = policy(&up.url(), "https://b.example");
    let if_match = format!("\"{sha_a}\"");
    let mut hdrs = auth.to_vec();
    hdrs.push(("if-match", &if_match));
    let r = h.request("PUT", ADMIN, &hdrs, b.as_bytes()).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["previous_sha256"], sha_a);
    assert_eq!(h.kv_get(PREVIOUS_KEY).as_deref(), Some(a.as_bytes()));
    assert_eq!(allowed(&h), "https://b.example");

    // A writer that saw version a (stale If-Match) is refused: 412, nothing changes.
    let c = policy(&up.url(), "https://c.example");
    let r = h.request("PUT", ADMIN, &hdrs, c.as_bytes()).unwrap();
    assert_eq!(r.status, 412, "{}", r.text());
    let sha_b = sha256_hex(b.as_bytes());
    assert_eq!(r.header("etag"), Some(format!("\"{sha_b}\"").as_str()));
    assert_eq!(h.kv_get(KV_KEY).as_deref(), Some(b.as_bytes()));
    assert_eq!(allowed(&h), "https://b.example");

    // Rollback swaps the previous version back in (and keeps b for a roll-forward).
    let r = h.request("POST", ROLLBACK, &auth, b"").unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["sha256"], sha_a);
    assert_eq!(allowed(&h), "https://a.example");
    assert_eq!(h.kv_get(PREVIOUS_KEY).as_deref(), Some(b.as_bytes()));
    let r = h.request("POST", ROLLBACK, &auth, b"").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(allowed(&h), "https://b.example");

    // Other methods are refused with the allowed ones listed.
    let r = h.request("DELETE", ADMIN, &auth, b"").unwrap();
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD, PUT"));
}

#[test]
fn admin_can_repair_a_gateway_with_no_valid_policy() {
    let up = Upstream::start();
    let h = kv_host();
    h.set_variable("cors_admin_token", TOKEN);
    // No source at all: the gateway answers 503, but the admin endpoint works.
    let r = h
        .request("GET", "/api/x", &[("origin", "https://a.example")], b"")
        .unwrap();
    assert_eq!(r.status, 503);
    let auth = format!("Bearer {TOKEN}");
    let a = policy(&up.url(), "https://a.example");
    let r = h
        .request(
            "PUT",
            ADMIN,
            &[("authorization", &auth), ("if-match", "\"0000\"")],
            a.as_bytes(),
        )
        .unwrap();
    assert_eq!(r.status, 412, "If-Match on a missing policy never matches");
    let r = h
        .request("PUT", ADMIN, &[("authorization", &auth)], a.as_bytes())
        .unwrap();
    assert_eq!(r.status, 201);
    assert_eq!(allowed(&h), "https://a.example");
    // No previous version yet: nothing to roll back to.
    let r = h
        .request("POST", ROLLBACK, &[("authorization", &auth)], b"")
        .unwrap();
    assert_eq!(r.status, 409);
}

#[test]
fn a_policy_stored_by_the_admin_is_last_known_good_before_any_request_uses_it() {
    let up = Upstream::start();
    let h = kv_host();
    h.set_variable("cors_admin_token", TOKEN);
    let auth = format!("Bearer {TOKEN}");
    let a = policy(&up.url(), "https://a.example");
    let r = h
        .request("PUT", ADMIN, &[("authorization", &auth)], a.as_bytes())
        .unwrap();
    assert_eq!(r.status, 201);
    // Broken straight away, with no request in between.
    h.kv_set(KV_KEY, b"{ broken");
    assert_eq!(allowed(&h), "https://a.example", "{}", h.logs());
    assert_eq!(health(&h)["status"], "degraded");
}

/// The candidate's Spin sources (`CORS_POLICY_CANDIDATE_SPIN=1`): the
/// key-value entry, else the variable, else the portable ones; decided beside
/// the live policy, never enforced, reported by health. Off, neither is read.
#[test]
fn the_candidate_comes_from_the_store_or_a_variable_when_enabled() {
    const CANDIDATE_KEY: &str = "cors-gateway/policy-candidate";
    let up = Upstream::start();
    let mut h = kv_host();
    h.set_variable("cors_policy", &policy(&up.url(), "https://a.example"));
    let from_var = policy(&up.url(), "https://b.example");
    let from_kv = policy(&up.url(), "https://c.example");
    h.set_variable("cors_policy_candidate", &from_var);
    h.kv_set(CANDIDATE_KEY, from_kv.as_bytes());

    // Not enabled: the Spin candidate sources are not consulted.
    assert_eq!(health(&h)["candidate"], Value::Null);

    redeploy(&mut h, "CORS_POLICY_CANDIDATE_SPIN", "1");
    let c = &health(&h)["candidate"];
    assert_eq!(c["source"], "kv:default/cors-gateway/policy-candidate");
    assert_eq!(c["sha256"], sha256_hex(from_kv.as_bytes()).as_str());
    // The live policy is still the one enforced; the difference is logged.
    assert_eq!(allowed(&h), "https://a.example");
    assert!(
        h.logs().contains("candidate differs GET \"/api/x\" route=api origin=\"https://a.example\": live allow forward - / candidate refuse 403 origin-not-allowed"),
        "{}",
        h.logs()
    );

    // Without the entry, the variable; an invalid one is reported, not used.
    h.state()
        .stores
        .get_mut("default")
        .unwrap()
        .remove(CANDIDATE_KEY);
    assert_eq!(
        health(&h)["candidate"]["source"],
        "variable:cors_policy_candidate"
    );
    h.set_variable(
        "cors_policy_candidate",
        r#"{"version":1,"routes":[],"cors":{"alow_origins":[]}}"#,
    );
    let c = &health(&h)["candidate"];
    assert_eq!(c["source"], "variable:cors_policy_candidate");
    assert!(
        c["error"].as_str().unwrap_or("").contains("alow_origins"),
        "{c}"
    );
    assert_eq!(allowed(&h), "https://a.example");
}

/// A preflight for a PUT from `origin` (the policies allow GET and PUT).
fn preflight(origin: &str) -> [(&str, &str); 2] {
    [("origin", origin), ("access-control-request-method", "PUT")]
}

#[test]
fn a_store_the_environment_does_not_name_is_never_opened_and_the_variable_is_one_host_call() {
    let up = Upstream::start();
    let h = var_host(); // the store is granted, CORS_POLICY_KV_STORE is not set
    h.set_variable("cors_policy", &policy(&up.url(), "https://b.example"));
    h.kv_set(KV_KEY, policy(&up.url(), "https://a.example").as_bytes());
    assert_eq!(allowed(&h), "https://b.example", "{}", h.logs());
    let (r, calls) = h
        .calls_of("GET", "/api/x", &[("origin", "https://b.example")])
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(calls, ["variables.get cors_policy"]);
    // Named in the environment, the store comes first again. A fresh instance
    // (the 0.2 build) makes three calls for a policy it holds: open, get, the
    // last-known-good check; a reused one (the 0.3 build) has the store open
    // and this version on record, and makes one.
    let mut h = h;
    redeploy(&mut h, "CORS_POLICY_KV_STORE", "default");
    assert_eq!(allowed(&h), "https://a.example"); // records it as last-known-good
    let (r, calls) = h
        .calls_of("GET", "/api/x", &[("origin", "https://a.example")])
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    if testkit::gateway::testing_p3() {
        assert_eq!(calls, ["kv.get cors-gateway/policy"]);
    } else {
        assert_eq!(
            calls,
            [
                "kv.open default",
                "kv.get cors-gateway/policy",
                "kv.get cors-gateway/last-good.meta"
            ]
        );
    }
}

#[test]
fn the_shipped_configuration_makes_no_spin_host_call_per_request() {
    let up = Upstream::start();
    let mut h = host();
    let _dir = with_policy_dir(&mut h, &policy(&up.url(), "https://d.example"));
    assert_eq!(allowed(&h), "https://d.example");
    let (r, calls) = h
        .calls_of("GET", "/api/x", &[("origin", "https://d.example")])
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(calls, Vec::<String>::new());
    let (r, calls) = h
        .calls_of("OPTIONS", "/api/x", &preflight("https://d.example"))
        .unwrap();
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(calls, Vec::<String>::new());
}

#[test]
fn the_variable_is_read_only_when_the_environment_names_it_and_health_warns_of_an_unused_one() {
    let up = Upstream::start();
    let mut h = host();
    let _dir = with_policy_dir(&mut h, &policy(&up.url(), "https://d.example"));
    h.set_variable("cors_policy", &policy(&up.url(), "https://b.example"));
    // Not named by CORS_POLICY_VARIABLE: the file stays in force...
    assert_eq!(allowed(&h), "https://d.example");
    let j = health(&h);
    assert_eq!(j["policy"]["source"], "file:/policies/policy.json", "{j}");
    // ...and health says why the variable's policy is not.
    let warnings = j["warnings"].as_array().unwrap_or_else(|| panic!("{j}"));
    assert_eq!(warnings.len(), 1, "{j}");
    let w = warnings[0].as_str().unwrap();
    assert!(
        w.contains("cors_policy") && w.contains("CORS_POLICY_VARIABLE"),
        "{w}"
    );
    // Named, it takes precedence on the next request, one host call each.
    redeploy(&mut h, "CORS_POLICY_VARIABLE", "cors_policy");
    assert_eq!(allowed(&h), "https://b.example");
    let (_, calls) = h
        .calls_of("GET", "/api/x", &[("origin", "https://b.example")])
        .unwrap();
    assert_eq!(calls, ["variables.get cors_policy"]);
    let j = health(&h);
    assert_eq!(j["policy"]["source"], "variable:cors_policy", "{j}");
    assert_eq!(j["warnings"], serde_json::json!([]), "{j}");
}

#[test]
fn a_named_variable_the_component_does_not_declare_is_an_error_not_a_fall_through() {
    let up = Upstream::start();
    let mut h = host();
    let _dir = with_policy_dir(&mut h, &policy(&up.url(), "https://d.example"));
    redeploy(&mut h, "CORS_POLICY_VARIABLE", "cors_polcy"); // a typo
    let r = h
        .request("GET", "/api/x", &[("origin", "https://d.example")], b"")
        .unwrap();
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(up.count(), 0);
    let j = health(&h);
    assert_eq!(j["status"], "unavailable", "{j}");
    assert_eq!(j["source"], "variable:cors_polcy", "{j}");
    let e = j["error"].as_str().unwrap_or_else(|| panic!("{j}"));
    assert!(
        e.contains("CORS_POLICY_VARIABLE") && e.contains("not a variable of this component"),
        "{e}"
    );
}

#[test]
fn health_and_the_access_log_name_each_source_consulted_and_its_cost() {
    let up = Upstream::start();
    let mut h = kv_host();
    let _dir = with_policy_dir(&mut h, &policy(&up.url(), "https://d.example"));
    redeploy(&mut h, "CORS_GATEWAY_ACCESS_LOG", "1");
    let j = health(&h);
    let sources: Vec<(String, String)> = j["sources"]
        .as_array()
        .unwrap_or_else(|| panic!("no sources in {j}"))
        .iter()
        .map(|s| {
            assert!(s["us"].is_u64(), "{s}");
            (
                s["source"].as_str().unwrap().to_string(),
                s["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expect = [
        ("kv:default/cors-gateway/policy", "empty"),
        ("variable:cors_policy", "empty"),
        ("file:/policies/policy.json", "found"),
        ("file:/policies/policy.json", "parsed"),
        ("kv:default/cors-gateway/last-good.meta", "recorded"),
    ];
    let expect: Vec<(String, String)> = expect
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(sources, expect, "{j}");
    assert!(j["load_us"].is_u64(), "{j}");
    assert_eq!(allowed(&h), "https://d.example");
    let logs = h.logs();
    assert!(
        logs.contains("sources=kv:default/cors-gateway/policy=empty/")
            && logs.contains("variable:cors_policy=empty/"),
        "{logs}"
    );
    let access: Vec<&str> = logs.lines().filter(|l| l.contains(" access ")).collect();
    assert!(!access.is_empty(), "{logs}");
    if testkit::gateway::testing_p3() {
        // The instance that served health is reused: the policy was parsed and
        // recorded then, and the requests after it only read the sources.
        for line in &access {
            assert!(
                line.contains("file:/policies/policy.json=found/")
                    && !line.contains("=parsed/")
                    && !line.contains("last-good.meta"),
                "{line}"
            );
        }
    } else {
        // A fresh instance per request parses and checks the record each time.
        for line in &access {
            assert!(
                line.contains("file:/policies/policy.json=parsed/")
                    && line.contains("kv:default/cors-gateway/last-good.meta=kept/"),
                "{line}"
            );
        }
    }
}

#[test]
fn the_admin_endpoint_is_off_without_the_kv_source_and_health_says_why() {
    let up = Upstream::start();
    let h = var_host(); // store granted, but not named by CORS_POLICY_KV_STORE
    h.set_variable("cors_admin_token", TOKEN);
    h.set_variable("cors_policy", &policy(&up.url(), "https://b.example"));
    let auth = format!("Bearer {TOKEN}");
    let doc = policy(&up.url(), "https://a.example");
    let r = h
        .request("PUT", ADMIN, &[("authorization", &auth)], doc.as_bytes())
        .unwrap();
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(h.kv_get(KV_KEY), None);
    let j = health(&h);
    assert_eq!(j["admin"]["enabled"], false, "{j}");
    assert!(
        j["admin"]["reason"]
            .as_str()
            .unwrap()
            .contains("CORS_POLICY_KV_STORE"),
        "{j}"
    );
}

/// The Spin build with spin-test-host/tests/embedded-policy.json built in.
fn embedded_host() -> SpinHost {
    static WASM: OnceLock<std::path::PathBuf> = OnceLock::new();
    let wasm = WASM.get_or_init(|| {
        testkit::wasm_embedding(
            testkit::spin_features(),
            "spin-test-host/tests/embedded-policy.json",
        )
    });
    SpinHost::new(wasm).expect("the Spin build links in the test host")
}

#[test]
fn an_embedded_policy_needs_no_file_and_yields_to_every_other_source() {
    let up = Upstream::start();
    let mut h = embedded_host();
    // No folder mounted: the policy is in the component.
    let (r, calls) = h
        .calls_of("OPTIONS", "/api/x", &preflight("https://embedded.example"))
        .unwrap();
    assert_eq!(r.status, 204, "{}\n{}", r.text(), h.logs());
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://embedded.example")
    );
    assert_eq!(calls, Vec::<String>::new());
    let j = health(&h);
    assert_eq!(
        j["policy"]["source"], "embedded:spin-test-host/tests/embedded-policy.json",
        "{j}"
    );
    let text = std::fs::read(
        testkit::gateway::workspace_root().join("spin-test-host/tests/embedded-policy.json"),
    )
    .unwrap();
    assert_eq!(j["policy"]["sha256"], sha256_hex(&text));

    // CORS_POLICY_FILE set: that file is read (spin up --direct-mounts edits).
    let _dir = with_policy_dir(&mut h, &policy(&up.url(), "https://d.example"));
    redeploy(&mut h, "CORS_POLICY_FILE", "/policies/policy.json");
    assert_eq!(allowed(&h), "https://d.example");
    let mut h = embedded_host();
    // The environment, the variable and the store rank above it as before.
    redeploy(
        &mut h,
        "CORS_POLICY",
        &policy(&up.url(), "https://c.example"),
    );
    assert_eq!(allowed(&h), "https://c.example");
    h.set_variable("cors_policy", &policy(&up.url(), "https://b.example"));
    redeploy(&mut h, "CORS_POLICY_VARIABLE", "cors_policy");
    assert_eq!(allowed(&h), "https://b.example");
    redeploy(&mut h, "CORS_POLICY_KV_STORE", "default");
    h.kv_set(KV_KEY, policy(&up.url(), "https://a.example").as_bytes());
    assert_eq!(allowed(&h), "https://a.example");
}
