//! The floor of the end-to-end benchmark: the Spin SDK's hello-world, as the
//! `http-rust` template of `spin new` generates it (without its `println!`,
//! which would slow the floor down and flatter the gateway). It reads the
//! request and writes the response through the SDK's own types, as a
//! component written with the SDK does. `bench/hello` is the stricter,
//! bare-bindings floor.

use spin_sdk::http::{IntoResponse, Request, Response};

// The export only links on wasm; natively the crate is just type-checked.
#[cfg_attr(target_family = "wasm", spin_sdk::http_component)]
#[cfg_attr(not(target_family = "wasm"), allow(dead_code))]
fn handle_hello_world(_req: Request) -> anyhow::Result<impl IntoResponse> {
    Ok(Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .body("Hello World!")
        .build())
}
