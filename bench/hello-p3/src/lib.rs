//! The WASI 0.3 floor of bench/p3.sh: spin-sdk 7's hello-world as its README
//! writes it (`#[http_service]`, the SDK's `Request`, a string answered 200),
//! the P3 counterpart of bench/hello-sdk, so the P3 probe
//! (bench/gateway-p3) is compared with P3.

use spin_sdk::http::{IntoResponse, Request};

// The export only links on wasm; natively the crate is just type-checked.
#[cfg_attr(target_family = "wasm", spin_sdk::http_service)]
#[cfg_attr(not(target_family = "wasm"), allow(dead_code))]
async fn hello_world(_req: Request) -> impl IntoResponse {
    "Hello World!"
}
