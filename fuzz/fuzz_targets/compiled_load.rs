//! The compiled-policy loader (`cors_gateway_core::compiled`) on arbitrary
//! bodies: the input is framed as a compiled policy with a correct checksum,
//! so the fuzzer explores the structure parser and the in-place tables rather
//! than stopping at the checksum. Never panics; a policy it accepts decides
//! without panicking, whatever its tables hold (unsorted, overlapping,
//! non-canonical entries).
#![no_main]

use cors_gateway_core::compiled::{checksum, load, MAGIC, VERSION};
use cors_gateway_core::{decide, OriginHeader, RequestView};
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
    let lines: [&[u8]; 1] = [b"content-type"];
    for origin in [
        &b"https://app.example.com"[..],
        b"https://a.b.example.com",
        b"http://localhost:3000",
        b"http://[::1]:8080",
        b"null",
    ] {
        for route in policy
            .routes
            .iter()
            .map(|r| r.path_prefix.as_str())
            .chain(["/"])
        {
            let view = RequestView {
                method: "OPTIONS",
                path: route,
                origin: OriginHeader::One(origin),
                request_method: Some(b"PUT"),
                request_headers: &lines,
                request_private_network: false,
            };
            let _ = decide(&policy, &view);
        }
    }
});
