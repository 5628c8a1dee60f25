//! The compiled-policy loader (`cors_gateway_core::compiled`) on arbitrary
//! bodies: the input is framed as a compiled policy with a correct checksum,
//! so the fuzzer explores the structure parser and the in-place tables rather
//! than stopping at the checksum. Never panics; a policy it accepts decides
//! without panicking, whatever its tables hold (unsorted, overlapping,
//! non-canonical entries).
#![no_main]

mod common;

use cors_gateway_core::compiled::{checksum, load, MAGIC, VERSION};
use cors_gateway_core::decide;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let mut file = Vec::with_capacity(body.len() + 52);
    file.extend_from_slice(MAGIC);
    file.extend_from_slice(&VERSION.to_le_bytes());
    file.extend_from_slice(&[0; 32]);
    file.extend_from_slice(&checksum(body).to_le_bytes());
    file.extend_from_slice(body);
    let Ok(policy) = load(file) else {
        return;
    };
    let put = Some(&b"PUT"[..]);
    let probes: [(&str, &[u8], Option<&[u8]>); 5] = [
        ("OPTIONS", b"https://app.example.com", put),
        ("OPTIONS", b"https://a.b.example.com", put),
        ("OPTIONS", b"http://localhost:3000", put),
        ("OPTIONS", b"http://[::1]:8080", put),
        ("OPTIONS", b"null", put),
    ];
    common::for_each_probe(&policy, &probes, |view| {
        let _ = decide(&policy, view);
    });
});
