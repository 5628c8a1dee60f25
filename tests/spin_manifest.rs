//! spin.toml must stay consistent with the policy and the build: Spin refuses
//! outbound requests to hosts it does not list, and serves the file the
//! manifest names.

use cors_gateway_core::Policy;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn spin_manifest_matches_policy_and_build() {
    let manifest: toml::Value =
        toml::from_str(&std::fs::read_to_string(root().join("spin.toml")).expect("spin.toml"))
            .expect("spin.toml is TOML");
    assert_eq!(manifest["spin_manifest_version"].as_integer(), Some(2));
    let trigger = &manifest["trigger"]["http"][0];
    assert_eq!(trigger["route"].as_str(), Some("/..."));
    let id = trigger["component"].as_str().expect("trigger component");
    let component = &manifest["component"][id];

    // The component file is what the build command produces.
    let build = component["build"]["command"]
        .as_str()
        .expect("build command");
    assert!(
        build.contains("--target wasm32-wasip2") && build.contains("--release"),
        "{build}"
    );
    assert_eq!(
        component["source"].as_str(),
        Some("target/wasm32-wasip2/release/cors_gateway.wasm")
    );

    // The policy folder is mounted where the gateway looks by default.
    let files = component["files"].as_array().expect("files");
    assert!(files
        .iter()
        .any(|f| f["source"].as_str() == Some("policies")
            && f["destination"].as_str() == Some("/policies")));
    let policy_text = std::fs::read_to_string(root().join("policies/policy.json")).expect("policy");
    let policy = Policy::from_json(&policy_text).expect("policies/policy.json is valid");

    // Every upstream of the shipped policy is an allowed outbound host.
    let allowed: Vec<&str> = component["allowed_outbound_hosts"]
        .as_array()
        .expect("allowed_outbound_hosts")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    for route in &policy.routes {
        let origin = format!(
            "{}://{}",
            route.upstream.scheme.as_str(),
            route.upstream.authority
        );
        assert!(
            allowed.contains(&origin.as_str()),
            "route {} sends to {origin}, which spin.toml's allowed_outbound_hosts does not list",
            route.name
        );
    }
}
