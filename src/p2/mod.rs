//! The WASI 0.2 binding (`wasi:http/incoming-handler@0.2.0`, through
//! spin-sdk 5): the portable build and the Spin build. A request is read,
//! served by [`crate::serve`], and answered through its `response-outparam`;
//! forwarding is a blocking `wasi:io/poll` loop ([`forward`]).

#[cfg(feature = "spin")]
use crate::admin;
use crate::http::{Http, Incoming};
use crate::log::Req;
use crate::respond::{self, Head};
use cors_gateway_core::{Decision, Route};

pub(crate) mod forward;

/// The WASI 0.2 HTTP types, as bound by spin-sdk.
pub(crate) mod wasi_http {
    pub use spin_sdk::wit::wasi::http0_2_0::outgoing_handler;
    pub use spin_sdk::wit::wasi::http0_2_0::types::{
        ErrorCode, Fields, IncomingBody, IncomingRequest, IncomingResponse, Method, OutgoingBody,
        OutgoingRequest, OutgoingResponse, RequestOptions, ResponseOutparam, Scheme,
    };
}

use wasi_http::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

// The export only exists on wasm: natively (clippy, `cargo test`) the adapter
// is type-checked but the WASI export name cannot be linked into a host library.
#[cfg_attr(target_family = "wasm", spin_sdk::http_component)]
#[cfg_attr(not(target_family = "wasm"), allow(dead_code))]
fn handle(request: IncomingRequest, out: spin_sdk::http::ResponseOutparam) {
    let method = request.method();
    let headers = request.headers().entries();
    let path_with_query = request.path_with_query();
    let authority = request.authority();
    let (req, ()) = crate::handle_request::<P2>(
        request,
        out.into_inner(),
        method,
        headers,
        path_with_query,
        authority,
    );
    req.finish();
}

pub(crate) struct P2;

impl Http for P2 {
    type Request = IncomingRequest;
    type Method = Method;
    type Out = ResponseOutparam;
    type Done = ();

    fn method_name(m: &Method) -> &str {
        match m {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Connect => "CONNECT",
            Method::Options => "OPTIONS",
            Method::Trace => "TRACE",
            Method::Patch => "PATCH",
            Method::Other(s) => s,
        }
    }

    fn send(req: &Req, out: ResponseOutparam, head: Head<'_>, body: &[u8]) {
        send(req, out, head, body)
    }

    fn forward(
        req: &Req,
        incoming: Incoming<'_, P2>,
        route: &Route,
        decision: &Decision<'_>,
        out: ResponseOutparam,
    ) {
        let start = crate::monotonic_ns();
        forward::forward(req, incoming, route, decision, out);
        req.note_upstream_ms(crate::monotonic_ns().saturating_sub(start) / 1_000_000);
    }

    #[cfg(feature = "spin")]
    fn admin(
        req: &Req,
        request: IncomingRequest,
        out: ResponseOutparam,
        method: &Method,
        path: &str,
        headers: &[(String, Vec<u8>)],
        token: &str,
    ) {
        let method = Self::method_name(method);
        let body = admin::wants_body(method, path, headers, token).then(|| read_body(request));
        let (head, body) = admin::answer(req, method, path, headers, token, body);
        send(req, out, head, &body)
    }
}

/// The whole request body, at most [`admin::MAX_POLICY_BYTES`]; `Err(status)`
/// otherwise (the admin endpoint's `PUT`).
#[cfg(feature = "spin")]
fn read_body(request: IncomingRequest) -> Result<Vec<u8>, u16> {
    use wasi::io::streams::StreamError;
    let body = request.consume().map_err(|()| 400u16)?;
    let stream = body.stream().map_err(|()| 400u16)?;
    let mut out = Vec::new();
    let result = loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => {
                out.extend_from_slice(&chunk);
                if out.len() > admin::MAX_POLICY_BYTES {
                    break Err(413);
                }
            }
            Err(StreamError::Closed) => break Ok(out),
            Err(StreamError::LastOperationFailed(_)) => break Err(400),
        }
    };
    drop(stream);
    drop(body);
    result
}

/// The most one `blocking-write-and-flush` may take (WASI 0.2).
pub const MAX_WRITE_AND_FLUSH: usize = 4096;

/// Sends a complete response with a small body.
pub fn send(req: &Req, out: ResponseOutparam, head: Head<'_>, body: &[u8]) {
    let (fields, status, body) =
        respond::in_fields(req, head, body, |h| Fields::from_list(h), Fields::new);
    let response = OutgoingResponse::new(fields);
    let _ = response.set_status_code(status);
    let Ok(out_body) = response.body() else {
        return;
    };
    ResponseOutparam::set(out, Ok(response));
    // A 204 preflight has no body: opening a stream would be two more host
    // calls (open, drop) on the hottest path.
    if !body.is_empty() {
        if let Ok(stream) = out_body.write() {
            for chunk in body.chunks(MAX_WRITE_AND_FLUSH) {
                if stream.blocking_write_and_flush(chunk).is_err() {
                    return;
                }
            }
            drop(stream);
        }
    }
    let _ = OutgoingBody::finish(out_body, None);
}
