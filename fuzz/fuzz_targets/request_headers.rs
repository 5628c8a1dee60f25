//! The Access-Control-Request-Headers parser and the preflight path on
//! arbitrary header lines: bounded, total, never panics.
#![no_main]

use cors_gateway_core::headers::{
    is_token, parse_request_header_list, MAX_REQUEST_HEADERS_BYTES, MAX_REQUEST_HEADER_NAMES,
};
use cors_gateway_core::{decide, OriginHeader, Policy, RequestView};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn policy() -> &'static Policy {
    static P: OnceLock<Policy> = OnceLock::new();
    P.get_or_init(|| {
        Policy::from_json(
            r#"{"version":1,"cors":{"allow_origins":["https://a.test"],"allow_headers":["x-a","content-type"]},
                "routes":[{"name":"r","path_prefix":"/","upstream":"http://u"}]}"#,
        )
        .expect("policy")
    })
}

fuzz_target!(|data: &[u8]| {
    let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    let total: usize = lines.iter().map(|l| l.len()).sum();
    match parse_request_header_list(&lines) {
        Ok(names) => {
            assert!(total <= MAX_REQUEST_HEADERS_BYTES);
            let names: Vec<&[u8]> = names.collect();
            assert!(names.len() <= MAX_REQUEST_HEADER_NAMES);
            assert!(names.iter().all(|n| is_token(n)));
        }
        Err(_) => {}
    }
    let view = RequestView {
        method: "OPTIONS",
        path: "/x",
        origin: OriginHeader::One(b"https://a.test"),
        request_method: Some(b"GET"),
        request_headers: &lines,
        request_private_network: false,
        host: None,
    };
    let d = decide(policy(), &view);
    if let Some(g) = d.grant {
        // Never an echo of the request's list: the policy's own value only.
        assert!(g.allow_headers.is_none_or(|v| v == "x-a, content-type"));
    }
});
