//! The validator's tests: each rule, each message, on whole documents.

use super::*;

fn errors(json: &str) -> Vec<PolicyError> {
    Policy::from_json(json).unwrap_err().0
}

fn has_error(errs: &[PolicyError], path: &str, needle: &str) -> bool {
    errs.iter()
        .any(|e| e.path == path && e.message.contains(needle))
}

const ROUTE: &str = r#"{"name":"api","path_prefix":"/api/","upstream":"http://127.0.0.1:9000"}"#;

#[test]
fn the_example_policy_loads() {
    let p = Policy::from_json(include_str!("../../../tests/policies/example.json")).unwrap();
    assert_eq!(p.routes.len(), 2);
    let public = p.route_for("/public/x").unwrap();
    assert!(public.cors.origins.allows_any());
    assert!(!public.cors.allow_credentials);
    assert_eq!(public.cors.allow_methods.value, "GET, POST, PUT, DELETE");
    let orders = p.route_for("/orders/1").unwrap();
    assert!(orders.cors.allow_credentials);
    assert_eq!(orders.cors.max_age_value, "7200");
}

#[test]
fn unknown_fields_are_errors_everywhere() {
    let errs = errors(
        r#"{"version":1,"cors":{"alow_origins":[]},"routes":[{"name":"a","path_prefix":"/","upstream":"http://u","strip":true,"cors":{"max_age":1}}],"extra":0}"#,
    );
    assert!(has_error(
        &errs,
        "cors.alow_origins",
        "did you mean \"allow_origins\""
    ));
    assert!(has_error(&errs, "routes[0].strip", "unknown field"));
    assert!(has_error(&errs, "routes[0].cors.max_age", "unknown field"));
    assert!(has_error(&errs, "extra", "unknown field"));
}

#[test]
fn a_field_written_twice_is_an_error_not_a_silent_override() {
    let errs = errors(&format!(
        r#"{{"version":1,"cors":{{"allow_origins":["https://a.test"],"allow_origins":["*"]}},"routes":[{ROUTE}]}}"#
    ));
    assert!(has_error(&errs, "cors.allow_origins", "more than once"));
    assert_eq!(errs.len(), 1, "{errs:#?}");
}

#[test]
fn wildcard_with_credentials_is_an_error_at_the_merged_level() {
    let errs = errors(
        r#"{"version":1,"cors":{"allow_origins":["https://a.test"],"allow_credentials":true},
           "routes":[{"name":"p","path_prefix":"/p/","upstream":"http://u","cors":{"allow_origins":["*"]}}]}"#,
    );
    assert!(has_error(
        &errs,
        "routes[0].cors.allow_origins",
        "cannot be combined with credentials"
    ));
    let errs = errors(&format!(
        r#"{{"version":1,"cors":{{"allow_origins":["https://a.test"],"allow_credentials":true,"expose_headers":["*"]}},"routes":[{ROUTE}]}}"#
    ));
    assert!(has_error(
        &errs,
        "cors.expose_headers",
        "cannot be combined with credentials"
    ));
    // Overriding credentials off makes the same wildcard legal.
    Policy::from_json(
        r#"{"version":1,"cors":{"allow_origins":["https://a.test"],"allow_credentials":true},
           "routes":[{"name":"p","path_prefix":"/p/","upstream":"http://u","cors":{"allow_origins":["*"],"allow_credentials":false}}]}"#,
    )
    .unwrap();
}

#[test]
fn names_every_invalid_field() {
    let errs = errors(
        r#"{"version":2,"cors":{"allow_origins":["https://A.test/","example.com"],
           "allow_methods":["get","TRACE","PATCH"],"allow_headers":["Cookie","access-control-allow-origin","sec-x","x ok"],
           "expose_headers":["set-cookie"],"max_age_secs":90000,"on_disallowed_origin":"drop","mode":"shadow"},
           "routes":[{"name":"a","path_prefix":"api","upstream":"ftp://x"},
                     {"name":"a","path_prefix":"/b/../c","upstream":"https://user:pw@host"}]}"#,
    );
    for (path, needle) in [
        ("version", "unsupported version 2"),
        ("cors.allow_origins[0]", "\"https://a.test\""),
        ("cors.allow_origins[1]", "no scheme"),
        ("cors.allow_methods[0]", "normalise it to \"GET\""),
        ("cors.allow_methods[1]", "forbidden"),
        ("cors.allow_headers[0]", "forbidden request header"),
        ("cors.allow_headers[1]", "CORS protocol header"),
        ("cors.allow_headers[2]", "forbidden request header"),
        ("cors.allow_headers[3]", "not a header name"),
        ("cors.expose_headers[0]", "Set-Cookie"),
        ("cors.max_age_secs", "0 to 86400"),
        ("cors.on_disallowed_origin", "\"reject\" or \"forward\""),
        ("cors.mode", "\"enforce\" or \"report-only\""),
        ("routes[0].path_prefix", "must start with"),
        ("routes[0].upstream", "not supported"),
        ("routes[1].path_prefix", "segments"),
        ("routes[1].upstream", "user info"),
    ] {
        assert!(
            has_error(&errs, path, needle),
            "missing {path} ~ {needle} in {errs:#?}"
        );
    }
}

#[test]
fn forwarding_options_default_to_timeout_ms_and_are_validated() {
    let p = Policy::from_json(&format!(
        r#"{{"version":1,"routes":[{ROUTE},
           {{"name":"b","path_prefix":"/b/","upstream":"http://u","timeout_ms":1500,
             "idle_timeout_ms":200,"deadline_ms":9000,"max_request_body_bytes":1024,
             "trust_forwarded_headers":true,"via":"edge-gw"}}]}}"#
    ))
    .unwrap();
    let a = &p.route_for("/api/x").unwrap().forward;
    assert_eq!(a, &crate::forwarding::ForwardOptions::default());
    assert_eq!(
        (
            a.connect_timeout_ms,
            a.first_byte_timeout_ms,
            a.idle_timeout_ms,
            a.deadline_ms
        ),
        (30_000, 30_000, 30_000, 300_000)
    );
    let b = &p.route_for("/b/x").unwrap().forward;
    assert_eq!(
        (
            b.connect_timeout_ms,
            b.first_byte_timeout_ms,
            b.idle_timeout_ms,
            b.deadline_ms
        ),
        (1500, 1500, 200, 9000)
    );
    assert_eq!(b.max_request_body_bytes, Some(1024));
    assert!(b.trust_forwarded_headers);
    assert_eq!(b.via.as_deref(), Some("edge-gw"));
    let errs = errors(
        r#"{"version":1,"routes":[{"name":"b","path_prefix":"/b/","upstream":"http://u",
             "connect_timeout_ms":0,"deadline_ms":3600001,"max_request_body_bytes":-1,
             "trust_forwarded_headers":"yes","via":"two words","idle_timout_ms":5}]}"#,
    );
    for (path, needle) in [
        ("routes[0].connect_timeout_ms", "from 1 to 300000"),
        ("routes[0].deadline_ms", "from 1 to 3600000"),
        ("routes[0].max_request_body_bytes", "whole number of bytes"),
        ("routes[0].trust_forwarded_headers", "true or false"),
        ("routes[0].via", "not a Via pseudonym"),
        (
            "routes[0].idle_timout_ms",
            "did you mean \"idle_timeout_ms\"",
        ),
    ] {
        assert!(
            has_error(&errs, path, needle),
            "missing {path} ~ {needle} in {errs:#?}"
        );
    }
}

#[test]
fn syntax_errors_have_line_and_column() {
    let errs = errors("{\n  \"version\": 1,\n  oops\n}");
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].line_col.map(|(l, _)| l), Some(3));
}

#[test]
fn longest_prefix_wins_and_duplicates_are_errors() {
    let p = Policy::from_json(
        r#"{"version":1,"cors":{"allow_origins":["*"]},"routes":[
            {"name":"all","path_prefix":"/","upstream":"http://a"},
            {"name":"api","path_prefix":"/api/","upstream":"http://b"},
            {"name":"v2","path_prefix":"/api/v2/","upstream":"http://c"}]}"#,
    )
    .unwrap();
    assert_eq!(p.route_for("/api/v2/x").unwrap().name, "v2");
    assert_eq!(p.route_for("/api/v1").unwrap().name, "api");
    assert_eq!(p.route_for("/other").unwrap().name, "all");
    let errs = errors(&format!(
        r#"{{"version":1,"cors":{{"allow_origins":["*"]}},"routes":[{ROUTE},{ROUTE}]}}"#
    ));
    assert!(has_error(&errs, "routes[1].name", "duplicate"));
    assert!(has_error(&errs, "routes[1].path_prefix", "duplicate"));
}
