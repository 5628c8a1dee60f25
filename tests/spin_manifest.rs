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

    // The shipped policy is built into the component (build.rs), and an edit
    // of it rebuilds under `spin watch`.
    assert!(
        build.starts_with("CORS_GATEWAY_POLICY=policies/policy.json "),
        "{build}"
    );
    let watch: Vec<&str> = component["build"]["watch"]
        .as_array()
        .expect("watch")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(watch.contains(&"policies/policy.json"), "{watch:?}");
    // The file, when mounted instead, is where CORS_POLICY_FILE points.
    let text = std::fs::read_to_string(root().join("spin.toml")).expect("spin.toml");
    assert!(text.contains(
        "# files = [{ source = \"policies\", destination = \"/policies\" }]\n# environment = { CORS_POLICY_FILE = \"/policies/policy.json\" }"
    ));
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

/// The Spin build reads three variables, and the key-value store that
/// `CORS_POLICY_KV_STORE` names: the manifest must declare the variables (the
/// token as a secret), and its lines that turn the store on must grant the
/// store they name, or Spin refuses them at run time.
#[test]
fn spin_manifest_grants_what_the_spin_build_reads() {
    let text = std::fs::read_to_string(root().join("spin.toml")).expect("spin.toml");
    let manifest: toml::Value = toml::from_str(&text).expect("spin.toml is TOML");
    let component = &manifest["component"]["cors-gateway"];
    // Off as shipped (no store opened per request); the two lines that turn it on.
    assert!(component.get("key_value_stores").is_none());
    assert!(text.contains(
        "# key_value_stores = [\"default\"]\n# environment = { CORS_POLICY_KV_STORE = \"default\" }"
    ));
    let uncommented: toml::Value = toml::from_str(&text.replace(
        "# key_value_stores = [\"default\"]\n# environment",
        "key_value_stores = [\"default\"]\nenvironment",
    ))
    .expect("spin.toml with the key-value lines uncommented is TOML");
    let c = &uncommented["component"]["cors-gateway"];
    assert_eq!(
        c["environment"]["CORS_POLICY_KV_STORE"].as_str(),
        Some("default")
    );
    assert!(c["key_value_stores"]
        .as_array()
        .is_some_and(|s| s.iter().any(|s| s.as_str() == Some("default"))));
    // The variable source: off as shipped too (no host call per request), and
    // its line, uncommented, names the variable the manifest declares.
    assert!(component.get("environment").is_none());
    let line = "# environment = { CORS_POLICY_VARIABLE = \"cors_policy\" }";
    assert!(text.contains(line), "spin.toml lacks {line:?}");
    let uncommented: toml::Value = toml::from_str(&text.replace(line, &line[2..]))
        .expect("spin.toml with the variable line uncommented is TOML");
    let named = uncommented["component"]["cors-gateway"]["environment"]["CORS_POLICY_VARIABLE"]
        .as_str()
        .expect("CORS_POLICY_VARIABLE");
    assert!(
        manifest["variables"].get(named).is_some(),
        "{named} is not declared"
    );
    let source = std::fs::read_to_string(root().join("src/spin.rs")).expect("src/spin.rs");
    for (var, secret) in [
        ("cors_policy", false),
        ("cors_policy_candidate", false),
        ("cors_admin_token", true),
    ] {
        assert!(
            source.contains(&format!("\"{var}\"")),
            "src/spin.rs no longer reads {var}"
        );
        let app = &manifest["variables"][var];
        // Unset by default: the lower-precedence sources / no admin endpoint.
        assert_eq!(app["default"].as_str(), Some(""), "{var}");
        assert_eq!(
            app.get("secret").and_then(|v| v.as_bool()).unwrap_or(false),
            secret,
            "{var}"
        );
        assert_eq!(
            component["variables"][var].as_str(),
            Some(format!("{{{{ {var} }}}}").as_str()),
            "component variable {var} must be templated from the application variable"
        );
    }
    assert!(component["build"]["command"]
        .as_str()
        .is_some_and(|c| c.contains("--features spin")));
}

/// deploy/runtime-config.toml backs the store the gateway opens with Redis.
#[test]
fn runtime_config_backs_the_default_store_with_redis() {
    let text = std::fs::read_to_string(root().join("deploy/runtime-config.toml"))
        .expect("deploy/runtime-config.toml");
    let config: toml::Value = toml::from_str(&text).expect("runtime-config.toml is TOML");
    let store = &config["key_value_store"]["default"];
    assert_eq!(store["type"].as_str(), Some("redis"));
    assert!(store["url"]
        .as_str()
        .is_some_and(|u| u.starts_with("redis://")));
    // The SpinKube manifest configures the same store and the secret token.
    let kube = std::fs::read_to_string(root().join("deploy/spinkube.yaml")).expect("spinkube.yaml");
    for needle in [
        "kind: SpinApp",
        "keyValueStores:",
        "- name: \"default\"",
        "type: \"redis\"",
        "- name: cors_admin_token",
        "secretKeyRef:",
    ] {
        assert!(
            kube.contains(needle),
            "deploy/spinkube.yaml lacks {needle:?}"
        );
    }
}
