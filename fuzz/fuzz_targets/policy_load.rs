//! The policy loader on arbitrary input: never panics; an accepted policy is
//! usable (a decision on it never panics), compiles (`cors-gateway compile`)
//! into a form that decides exactly alike, and every rejection names a reason.
#![no_main]

mod common;

use cors_gateway_core::{compiled, decide, Decision, Policy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Policy::from_json(text) {
        Ok(policy) => {
            let bin = compiled::compile(text, [0; 32]).expect("a valid policy compiles");
            let from_bin = compiled::load(bin).expect("a compiled valid policy loads");
            let answer = |d: Decision<'_>| {
                let headers: Vec<(&str, Vec<u8>)> =
                    d.headers().map(|(n, v)| (n, v.to_vec())).collect();
                (d.status(), d.failure.map(|f| f.code()), headers)
            };
            let probes: [(&str, &[u8], Option<&[u8]>); 3] = [
                ("OPTIONS", b"https://app.example.com", Some(b"PUT")),
                ("GET", b"null", None),
                ("POST", b"http://localhost:3000", None),
            ];
            common::for_each_probe(&policy, &probes, |view| {
                assert_eq!(
                    answer(decide(&policy, view)),
                    answer(decide(&from_bin, view)),
                    "JSON and compiled forms disagree"
                );
            });
        }
        Err(errors) => {
            assert!(!errors.0.is_empty());
            assert!(errors.0.iter().all(|e| !e.message.is_empty()));
        }
    }
});
