//! Forwarding to a route's upstream over `wasi:http/outgoing-handler`: the
//! request is framed as the client framed it, both bodies stream at the same
//! time through [`pump`], and the route's timeouts, deadline and body limit
//! hold. Which headers cross is the core's rule ([`cors_gateway_core::forwarding`]).

mod pump;

use super::wasi_http::{
    outgoing_handler, ErrorCode, Fields, Method, OutgoingRequest, RequestOptions, ResponseOutparam,
    Scheme,
};
use super::P2;
use crate::http::Incoming;
use crate::log::{log, Req};
use crate::respond::{self, Head};
use cors_gateway_core::decision::{upstream_path, Decision};
use cors_gateway_core::forwarding::{self, Framing, Peer};
use cors_gateway_core::policy::UpstreamScheme;
use cors_gateway_core::Route;
use pump::{Clock, Exchange, Outcome, Pipe};

/// How an answer the gateway writes itself (not the upstream's) is sent.
pub(crate) struct Answer<'d> {
    pub(crate) req: &'d Req,
    pub(crate) route: &'d Route,
    pub(crate) decision: &'d Decision<'d>,
}

impl Answer<'_> {
    pub(crate) fn send(&self, out: ResponseOutparam, status: u16, reason: &str) {
        log!(
            self.req,
            "cors-gateway: upstream {} for route {}: {status} {reason}",
            self.route.upstream,
            self.route.name
        );
        let cors = respond::decision_headers(self.decision);
        super::send(
            self.req,
            out,
            Head::new(status, &cors, self.decision.sent_vary()),
            respond::forward_failure_body(status),
        );
    }
}

/// The client address the host vouches for: Spin puts it in its own
/// `spin-client-addr` header (a client cannot set `spin-*` headers there);
/// `wasmtime serve` tells none.
fn client_ip(headers: &[(String, Vec<u8>)]) -> Option<std::net::IpAddr> {
    if !cfg!(feature = "spin") {
        return None;
    }
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("spin-client-addr"))
        .and_then(|(_, v)| forwarding::parse_client_addr(v))
}

/// Forwards the request and streams the answer back with `decision`'s headers.
pub fn forward(
    req: &Req,
    incoming: Incoming<'_, P2>,
    route: &Route,
    decision: &Decision<'_>,
    out: ResponseOutparam,
) {
    let opts = &route.forward;
    let clock = Clock::start(opts);
    let answer = Answer {
        req,
        route,
        decision,
    };

    let Ok(framing) = forwarding::framing(incoming.headers) else {
        return answer.send(out, 400, "invalid Content-Length");
    };
    if let (Framing::Length(n), Some(limit)) = (framing, opts.max_request_body_bytes) {
        if n > limit {
            return answer.send(out, 413, "request body over max_request_body_bytes");
        }
    }

    let Ok(client_body) = incoming.request.consume() else {
        return answer.send(out, 400, "request body unavailable");
    };
    let Ok(client_stream) = client_body.stream() else {
        return answer.send(out, 400, "request body unavailable");
    };
    let mut upload = Pipe::new(client_stream, opts.max_request_body_bytes);
    // Without a Content-Length the host cannot say whether a body follows
    // (it removed `Transfer-Encoding`): the first read tells. An empty body
    // is then forwarded as none, never as an empty chunked one.
    let has_body = match framing {
        Framing::Length(n) => n > 0,
        Framing::Unknown => match upload.peek(&clock) {
            Ok(more) => more,
            Err(outcome) => {
                drop(upload);
                drop(client_body);
                return outcome.answer(&answer, out);
            }
        },
    };

    let peer = Peer {
        client_ip: client_ip(incoming.headers),
        host: incoming.authority,
        proto: match incoming.request.scheme() {
            Some(Scheme::Https) => "https",
            _ => "http",
        },
    };
    let headers = forwarding::request_headers(incoming.headers, opts, &peer);
    let Ok(fields) = Fields::from_list(&headers) else {
        return answer.send(out, 400, "request headers the host refuses to forward");
    };
    let request = OutgoingRequest::new(fields);
    let target = upstream_path(route, incoming.path, incoming.query);
    let scheme = match route.upstream.scheme {
        UpstreamScheme::Http => Scheme::Http,
        UpstreamScheme::Https => Scheme::Https,
    };
    // A new outgoing request is a GET (WASI 0.2's constructor): one host
    // call less for the commonest request.
    let is_get = matches!(incoming.method, Method::Get);
    if (!is_get && request.set_method(incoming.method).is_err())
        || request.set_scheme(Some(&scheme)).is_err()
        || request
            .set_authority(Some(&route.upstream.authority))
            .is_err()
        || request.set_path_with_query(Some(&target)).is_err()
    {
        return answer.send(out, 400, "request line the host refuses to forward");
    }
    // No `body()` call for a bodyless request: the host then sends neither
    // `Content-Length` nor `Transfer-Encoding`.
    let upstream_body = if has_body {
        match request.body() {
            Ok(b) => Some(b),
            Err(()) => return answer.send(out, 502, "outgoing body unavailable"),
        }
    } else {
        None
    };

    let options = RequestOptions::new();
    // Best effort: a host that does not support a timeout keeps its default.
    // With a body to send, the host's first-byte clock would also run during
    // the upload, so the pump keeps that one (from the upload's end).
    let _ = options.set_connect_timeout(Some(ms_to_ns(opts.connect_timeout_ms)));
    let first_byte = if has_body {
        clock.deadline_ns()
    } else {
        ms_to_ns(opts.first_byte_timeout_ms).min(clock.deadline_ns())
    };
    let _ = options.set_first_byte_timeout(Some(first_byte));
    let _ = options.set_between_bytes_timeout(Some(ms_to_ns(opts.idle_timeout_ms)));

    let future = match outgoing_handler::handle(request, Some(options)) {
        Ok(f) => f,
        Err(code) => {
            drop(upstream_body);
            let (status, reason) = classify(&code);
            return answer.send(out, status, &reason);
        }
    };

    let exchange = Exchange {
        answer: &answer,
        clock,
        is_head: matches!(incoming.method, Method::Head),
    };
    let upload = match upstream_body {
        Some(body) => upload.into_upload(client_body, body, framing == Framing::Unknown),
        None => {
            drop(upload);
            drop(client_body);
            None
        }
    };
    exchange.run(upload, future, out);
}

pub(crate) fn ms_to_ns(ms: u32) -> u64 {
    u64::from(ms) * 1_000_000
}

/// The status for a failure to get a response, and the host's reason.
pub(crate) fn classify(code: &ErrorCode) -> (u16, String) {
    let reason = format!("{code:?}");
    (forwarding::error_status(&reason), reason)
}

impl Outcome {
    /// The answer for an exchange that ended before the response head was sent.
    pub(crate) fn answer(self, answer: &Answer<'_>, out: ResponseOutparam) {
        match self {
            Outcome::Status(status, reason) => answer.send(out, status, &reason),
        }
    }
}
