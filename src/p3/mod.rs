//! The WASI 0.3 binding (`wasi:http/handler@0.3.0`, feature `p3`): the same
//! request flow ([`crate::serve`]) as the 0.2 build, for hosts that reuse an
//! instance for many requests, some at once (Spin 4, `wasmtime serve`). The
//! per-instance caches of [`crate::source`] then parse a policy once per
//! instance. An answer is returned, not set; forwarding is async tasks
//! ([`forward`]). Everything the binding does not name is WASI 0.2 as in the
//! other builds (files, clocks, stderr), which these hosts provide too.

// Natively (clippy, `cargo test`) the export is not linked: the binding is
// type-checked and nothing calls it.
#![cfg_attr(not(target_family = "wasm"), allow(dead_code))]

#[cfg(feature = "spin")]
mod admin;
mod forward;
mod task;

use crate::http::{Http, Incoming};
use crate::log::Req;
use crate::respond::{self, Head};
use cors_gateway_core::{Decision, Route};
use wasip3::http::types::{ErrorCode, Fields, Method, Request, Response, Trailers};
use wasip3::wit_bindgen::rt::async_support::FutureReader;
use wasip3::{wit_future, wit_stream};

struct Gateway;

#[cfg(target_family = "wasm")]
wasip3::http::service::export!(Gateway);

impl wasip3::exports::http::handler::Guest for Gateway {
    async fn handle(request: Request) -> Result<Response, ErrorCode> {
        let method = request.get_method();
        let headers = request.get_headers().copy_all();
        let path_with_query = request.get_path_with_query();
        let authority = request.get_authority();
        let (req, reply) =
            crate::handle_request::<P3>(request, (), method, headers, path_with_query, authority);
        Ok(match reply {
            Reply::Ready(response) => {
                req.finish();
                response
            }
            Reply::Forward(exchange) => exchange.run(req).await,
            #[cfg(feature = "spin")]
            Reply::Admin(call) => {
                let response = call.run(&req).await;
                req.finish();
                response
            }
        })
    }
}

/// What serving a request gives back in WASI 0.3.
pub(crate) enum Reply {
    /// An answer the gateway wrote.
    Ready(Response),
    /// An exchange with the upstream, which makes the answer.
    Forward(Box<forward::Exchange>),
    /// A call of the admin endpoint (Spin build), which may read the body.
    #[cfg(feature = "spin")]
    Admin(Box<admin::Call>),
}

pub(crate) struct P3;

impl Http for P3 {
    type Request = Request;
    type Method = Method;
    type Out = ();
    type Done = Reply;

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

    fn send(req: &Req, _: (), head: Head<'_>, body: &[u8]) -> Reply {
        Reply::Ready(response(req, head, body))
    }

    fn forward(
        req: &Req,
        incoming: Incoming<'_, P3>,
        route: &Route,
        decision: &Decision<'_>,
        _: (),
    ) -> Reply {
        forward::prepare(req, incoming, route, decision)
    }

    #[cfg(feature = "spin")]
    fn admin(
        _: &Req,
        request: Request,
        _: (),
        method: &Method,
        path: &str,
        headers: &[(String, Vec<u8>)],
        token: &str,
    ) -> Reply {
        Reply::Admin(Box::new(admin::Call::new(
            request,
            Self::method_name(method),
            path,
            headers,
            token,
        )))
    }
}

/// No trailers: the writer dropped unwritten gives the reader `Ok(None)`.
fn no_trailers() -> FutureReader<Result<Option<Trailers>, ErrorCode>> {
    let (tx, rx) = wit_future::new(|| Ok(None));
    drop(tx);
    rx
}

/// A future that resolves `Ok(())`: what `consume-body` is given, as the
/// gateway reports no error of its own through it.
fn no_error() -> FutureReader<Result<(), ErrorCode>> {
    let (tx, rx) = wit_future::new(|| Ok(()));
    drop(tx);
    rx
}

/// A complete response with a small body.
pub(crate) fn response(req: &Req, head: Head<'_>, body: &[u8]) -> Response {
    let (fields, status, body) =
        respond::in_fields(req, head, body, |h| Fields::from_list(h), Fields::new);
    // A 204 has no body stream at all.
    let contents = (!body.is_empty()).then(|| {
        let (mut tx, rx) = wit_stream::new();
        let bytes = body.to_vec();
        wasip3::spawn(async move {
            let _ = tx.write_all(bytes).await;
        });
        rx
    });
    let (response, _sent) = Response::new(fields, contents, no_trailers());
    let _ = response.set_status_code(status);
    response
}
