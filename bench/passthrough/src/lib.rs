//! The forwarding baseline of the end-to-end benchmark: the same outbound
//! call as the gateway (headers copied, bodies streamed both ways through a
//! 64 KiB buffer) to the authority in env `UPSTREAM`, with no policy and no
//! CORS decision. The upstream gets the request the gateway would send: the
//! client's headers without `host`/`connection`, plus `x-forwarded-host` and
//! `x-forwarded-proto` (proxy headers every reverse proxy adds, not CORS).
//! With env `TIMEOUT_MS` it sets the same connect / first-byte / between-bytes
//! timeouts the gateway sets from its route (the host wraps such a call in
//! timers, which is part of the call's cost, not of CORS).

use spin_sdk::wit::wasi::http0_2_0::outgoing_handler;
use spin_sdk::wit::wasi::http0_2_0::types::{
    Fields, IncomingBody, IncomingRequest, OutgoingBody, OutgoingRequest, OutgoingResponse,
    RequestOptions, ResponseOutparam, Scheme,
};
use wasi::io::streams::StreamError;

const CHUNK: u64 = 64 * 1024;

#[cfg_attr(target_family = "wasm", spin_sdk::http_component)]
#[cfg_attr(not(target_family = "wasm"), allow(dead_code))]
fn handle(request: IncomingRequest, out: spin_sdk::http::ResponseOutparam) {
    let out = out.into_inner();
    match pass(request) {
        Ok((response, body)) => {
            let status = response.status();
            let headers =
                Fields::from_list(&response.headers().entries()).unwrap_or_else(|_| Fields::new());
            let outgoing = OutgoingResponse::new(headers);
            let _ = outgoing.set_status_code(status);
            let Ok(out_body) = outgoing.body() else {
                return;
            };
            ResponseOutparam::set(out, Ok(outgoing));
            if copy(&body, &out_body) {
                drop(body);
                let _ = OutgoingBody::finish(out_body, None);
            }
        }
        Err(status) => {
            let outgoing = OutgoingResponse::new(Fields::new());
            let _ = outgoing.set_status_code(status);
            if let Ok(b) = outgoing.body() {
                ResponseOutparam::set(out, Ok(outgoing));
                let _ = OutgoingBody::finish(b, None);
            }
        }
    }
}

type Upstream = (
    spin_sdk::wit::wasi::http0_2_0::types::IncomingResponse,
    IncomingBody,
);

fn pass(request: IncomingRequest) -> Result<Upstream, u16> {
    let authority = std::env::var("UPSTREAM").map_err(|_| 500u16)?;
    let mut headers: Vec<(String, Vec<u8>)> = request
        .headers()
        .entries()
        .into_iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case("host") && !n.eq_ignore_ascii_case("connection"))
        .collect();
    if let Some(host) = request.authority() {
        headers.push(("x-forwarded-host".into(), host.into_bytes()));
    }
    let proto = match request.scheme() {
        Some(Scheme::Https) => "https",
        _ => "http",
    };
    headers.push(("x-forwarded-proto".into(), proto.into()));
    let fields = Fields::from_list(&headers).map_err(|_| 400u16)?;
    let outgoing = OutgoingRequest::new(fields);
    let path = request.path_with_query();
    if outgoing.set_method(&request.method()).is_err()
        || outgoing.set_scheme(Some(&Scheme::Http)).is_err()
        || outgoing.set_authority(Some(&authority)).is_err()
        || outgoing.set_path_with_query(path.as_deref()).is_err()
    {
        return Err(400);
    }
    let body = outgoing.body().map_err(|()| 502u16)?;
    let options = std::env::var("TIMEOUT_MS")
        .ok()
        .and_then(|ms| ms.parse::<u64>().ok())
        .map(|ms| {
            let options = RequestOptions::new();
            let ns = Some(ms.saturating_mul(1_000_000));
            let _ = options.set_connect_timeout(ns);
            let _ = options.set_first_byte_timeout(ns);
            let _ = options.set_between_bytes_timeout(ns);
            options
        });
    let future = outgoing_handler::handle(outgoing, options).map_err(|_| 502u16)?;
    let incoming = request.consume().map_err(|()| 400u16)?;
    if !copy(&incoming, &body) {
        return Err(400);
    }
    drop(incoming);
    OutgoingBody::finish(body, None).map_err(|_| 502u16)?;
    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(r))) => r,
        _ => return Err(502),
    };
    let body = response.consume().map_err(|()| 502u16)?;
    Ok((response, body))
}

/// Copies one body stream to another; false when either side failed.
fn copy(from: &IncomingBody, to: &OutgoingBody) -> bool {
    let (Ok(input), Ok(output)) = (from.stream(), to.write()) else {
        return false;
    };
    loop {
        let chunk = match input.blocking_read(CHUNK) {
            Ok(c) => c,
            Err(StreamError::Closed) => break,
            Err(_) => return false,
        };
        // blocking-write-and-flush takes at most 4096 bytes (wasmtime traps
        // on more); the benchmark's bodies are one such piece.
        for piece in chunk.chunks(4096) {
            if output.blocking_write_and_flush(piece).is_err() {
                return false;
            }
        }
    }
    true
}
