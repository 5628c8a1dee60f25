//! The floor of the end-to-end benchmark: a component that answers every
//! request with a fixed 204, as cheaply as the SDK allows. Whatever the
//! gateway's preflight costs beyond this is the gateway's own cost.

use spin_sdk::wit::wasi::http0_2_0::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

// The export only links on wasm; natively the crate is just type-checked.
#[cfg_attr(target_family = "wasm", spin_sdk::http_component)]
#[cfg_attr(not(target_family = "wasm"), allow(dead_code))]
fn handle(_request: IncomingRequest, out: spin_sdk::http::ResponseOutparam) {
    let response = OutgoingResponse::new(Fields::new());
    let _ = response.set_status_code(204);
    let Ok(body) = response.body() else {
        return;
    };
    ResponseOutparam::set(out.into_inner(), Ok(response));
    let _ = OutgoingBody::finish(body, None);
}
