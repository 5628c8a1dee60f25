//! cors-gateway, the component: a thin host adapter around
//! [`cors_gateway_core`]. It reads the request, asks the core for a decision,
//! and either answers or forwards. No CORS rule lives here.
//!
//! - [`source`]: where the policy comes from, and the per-instance cache;
//! - [`policy_file`]: reading the policy file, and noticing cheaply that it is unchanged;
//! - [`forward`]: outbound HTTP with streamed bodies;
//! - [`respond`]: answers the gateway writes itself.

#[cfg(feature = "spin")]
mod admin;
mod forward;
mod policy_file;
mod respond;
pub mod source;
#[cfg(feature = "spin")]
mod spin;

use cors_gateway_core::headers::{header_block_len, MAX_HEADER_BLOCK_BYTES};
use cors_gateway_core::{decide, Action, RequestView, HEALTH_PATH};
use respond::Head;

/// The WASI 0.2 HTTP types, as bound by spin-sdk.
pub(crate) mod wasi_http {
    pub use spin_sdk::wit::wasi::http0_2_0::outgoing_handler;
    pub use spin_sdk::wit::wasi::http0_2_0::types::{
        ErrorCode, Fields, IncomingBody, IncomingRequest, IncomingResponse, Method, OutgoingBody,
        OutgoingRequest, OutgoingResponse, RequestOptions, ResponseOutparam, Scheme,
    };
}

use wasi_http::{IncomingRequest, Method, ResponseOutparam};

// The export only exists on wasm: natively (clippy, `cargo test`) the adapter
// is type-checked but the WASI export name cannot be linked into a host library.
#[cfg_attr(target_family = "wasm", spin_sdk::http_component)]
#[cfg_attr(not(target_family = "wasm"), allow(dead_code))]
fn handle(request: IncomingRequest, out: spin_sdk::http::ResponseOutparam) {
    handle_request(request, out.into_inner());
}

fn method_str(m: &Method) -> &str {
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

fn handle_request(request: IncomingRequest, out: ResponseOutparam) {
    let method = request.method();
    let Some(path_with_query) = request.path_with_query() else {
        return respond::send(out, Head::new(400, &[], None), b"bad request target\n");
    };
    let headers = request.headers().entries();
    if header_block_len(&headers) > MAX_HEADER_BLOCK_BYTES {
        return respond::send(
            out,
            Head::new(431, &[], None),
            b"request header fields too large\n",
        );
    }
    let path = path_with_query
        .split_once('?')
        .map_or(path_with_query.as_str(), |(p, _)| p);

    // Spin build: the admin endpoint exists only when a token is configured,
    // and answers before the policy is loaded (it can repair a broken one).
    #[cfg(feature = "spin")]
    if admin::is_admin_path(path) {
        if let Some(token) = spin::admin_token() {
            return admin::handle(request, out, &method, path, &headers, &token);
        }
    }

    #[cfg(feature = "spin")]
    let current = {
        let store = spin::open_store();
        let raw = spin::source(&store);
        let keeper = spin::KvKeeper(store.as_ref().ok().and_then(Option::as_ref));
        source::current_with(raw, &keeper)
    };
    #[cfg(not(feature = "spin"))]
    let current = source::current(source::portable_source());

    if path == HEALTH_PATH && matches!(method, Method::Get | Method::Head) {
        return health(out, &current);
    }
    let current = match current {
        Ok(c) => c,
        Err(u) => {
            return respond::send(
                out,
                Head::new(503, &[], None).header("retry-after", "5"),
                format!("cors-gateway: no valid policy ({})\n", u.source).as_bytes(),
            );
        }
    };
    let policy = &current.loaded.policy;
    let mut scratch = Vec::new();
    let view = RequestView::from_headers(
        method_str(&method),
        &path_with_query,
        &headers,
        &mut scratch,
    );
    let decision = decide(policy, &view);

    if let Some(f) = decision.failure {
        eprintln!(
            "cors-gateway: {} {} {} route={} origin={}: {} ({})",
            match decision.action {
                Action::Respond(s) => s.to_string(),
                Action::Forward => "forwarded-without-cors".into(),
            },
            view.method,
            view.path,
            decision.route.map_or("-", |r| r.name.as_str()),
            OriginForLog(view.origin),
            f.code(),
            f
        );
    }

    if access_log_enabled() {
        // One line per request, for operators (and the browser suite, which
        // counts preflights with it). Request values are Debug-escaped.
        eprintln!(
            "cors-gateway: access {} {:?} kind={:?} action={:?} route={} origin={} failure={}",
            view.method,
            view.path,
            decision.kind,
            decision.action,
            decision.route.map_or("-", |r| r.name.as_str()),
            OriginForLog(view.origin),
            decision.failure.map_or("-", |f| f.code()),
        );
    }

    match (decision.action, decision.route) {
        (Action::Forward, Some(route)) => forward::forward(
            forward::Incoming {
                request,
                method: method.clone(),
                path_with_query: &path_with_query,
                headers: &headers,
            },
            route,
            &decision,
            out,
        ),
        (action, _) => {
            let status = match action {
                Action::Respond(s) => s,
                Action::Forward => 404,
            };
            let cors = respond::decision_headers(&decision);
            let mut head = Head::new(status, &cors, decision.vary);
            let mut body = match status {
                204 => String::new(),
                403 => "cors-gateway: refused by CORS policy\n".into(),
                404 => "cors-gateway: no route for this path\n".into(),
                _ => "cors-gateway: bad request\n".into(),
            };
            if let (true, Some(f)) = (policy.debug, decision.failure) {
                head = head.header("x-cors-gateway-debug", f.code());
                body = format!("{body}{f}\n");
            }
            respond::send(out, head, body.as_bytes());
        }
    }
}

/// An `Origin` for a log line: Debug-escaped text, so a hostile value cannot
/// forge log lines.
struct OriginForLog<'a>(cors_gateway_core::OriginHeader<'a>);

impl std::fmt::Display for OriginForLog<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            cors_gateway_core::OriginHeader::Absent => f.write_str("-"),
            cors_gateway_core::OriginHeader::Multiple => f.write_str("<several>"),
            cors_gateway_core::OriginHeader::One(v) => {
                write!(f, "{:?}", String::from_utf8_lossy(v))
            }
        }
    }
}

/// `CORS_GATEWAY_ACCESS_LOG=1` turns on the access log.
fn access_log_enabled() -> bool {
    source::env().access_log
}

fn health(out: ResponseOutparam, current: &Result<source::Current, source::Unavailable>) {
    let (status, body) = match current {
        Ok(c) => (
            200,
            serde_json::json!({
                "status": if c.stale_reason.is_some() { "degraded" } else { "ok" },
                "policy": {
                    "source": c.loaded.source,
                    "sha256": c.loaded.sha256(),
                    "compiled": c.loaded.policy.compiled_from.is_some(),
                    "routes": c.loaded.policy.routes.len(),
                },
                "last_known_good": c.stale_reason.is_some(),
                "error": c.stale_reason,
            }),
        ),
        Err(u) => (
            503,
            serde_json::json!({
                "status": "unavailable",
                "policy": null,
                "source": u.source,
                "error": u.reason,
            }),
        ),
    };
    let head = Head::new(status, &[], None)
        .header("content-type", "application/json")
        .header("cache-control", "no-store");
    respond::send(out, head, format!("{body}\n").as_bytes());
}
