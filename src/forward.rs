//! Forwarding to a route's upstream over `wasi:http/outgoing-handler`, with
//! both bodies streamed through a fixed-size buffer.

use crate::log::log;
use crate::respond::{self, Head};
use crate::wasi_http::{
    outgoing_handler, ErrorCode, Fields, IncomingBody, IncomingRequest, IncomingResponse, Method,
    OutgoingBody, OutgoingRequest, OutgoingResponse, RequestOptions, ResponseOutparam, Scheme,
};
use cors_gateway_core::decision::{upstream_path, Decision};
use cors_gateway_core::headers::{
    header_block_len, is_hop_by_hop, merge_vary, MAX_HEADER_BLOCK_BYTES,
};
use cors_gateway_core::policy::UpstreamScheme;
use cors_gateway_core::Route;
use wasi::io::streams::{InputStream, OutputStream, StreamError};

/// Bytes moved per read; the most body memory a transfer holds at once.
const CHUNK: u64 = 64 * 1024;

/// Headers never copied from the client to the upstream: hop-by-hop ones, the
/// ones the gateway sets itself, and `host` (the upstream's authority is the
/// route's, never the client's).
fn drop_request_header(name: &str, connection: &[&[u8]]) -> bool {
    is_hop_by_hop(name, connection)
        || name.eq_ignore_ascii_case("host")
        || name.eq_ignore_ascii_case("x-forwarded-host")
        || name.eq_ignore_ascii_case("x-forwarded-proto")
}

/// Headers never copied from the upstream's response: hop-by-hop ones, every
/// CORS header (the policy is the only authority), and `vary` (merged).
/// `transparent` (a report-only route): only hop-by-hop ones, the upstream's
/// own CORS headers and `Vary` reach the client unchanged.
fn drop_response_header(name: &str, connection: &[&[u8]], transparent: bool) -> bool {
    is_hop_by_hop(name, connection)
        || (!transparent
            && (name
                .get(..15)
                .is_some_and(|p| p.eq_ignore_ascii_case("access-control-"))
                || name.eq_ignore_ascii_case("vary")))
}

/// A `Content-Length` value, for the log.
pub fn content_length(headers: &[(String, Vec<u8>)]) -> Option<u64> {
    let (_, v) = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))?;
    std::str::from_utf8(v).ok()?.trim().parse().ok()
}

fn connection_values(headers: &[(String, Vec<u8>)]) -> Vec<&[u8]> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
        .map(|(_, v)| v.as_slice())
        .collect()
}

pub struct Incoming<'a> {
    pub request: IncomingRequest,
    pub method: Method,
    /// The normalised path the route was chosen by, and the query.
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a [(String, Vec<u8>)],
}

/// Forwards the request and streams the answer back with `decision`'s headers.
pub fn forward(
    incoming: Incoming<'_>,
    route: &Route,
    decision: &Decision<'_>,
    out: ResponseOutparam,
) {
    let cors = respond::decision_headers(decision);
    let fail = |status: u16, reason: &str, out: ResponseOutparam| {
        log!(
            "cors-gateway: upstream {} for route {}: {reason}",
            route.upstream,
            route.name
        );
        respond::send(
            out,
            Head::new(status, &cors, decision.vary),
            reason_body(status),
        );
    };

    let connection = connection_values(incoming.headers);
    let mut fwd: Vec<(String, Vec<u8>)> = incoming
        .headers
        .iter()
        .filter(|(n, _)| !drop_request_header(n, &connection))
        .cloned()
        .collect();
    if let Some(host) = incoming.request.authority() {
        fwd.push(("x-forwarded-host".into(), host.into_bytes()));
    }
    let proto = match incoming.request.scheme() {
        Some(Scheme::Https) => "https",
        _ => "http",
    };
    fwd.push(("x-forwarded-proto".into(), proto.into()));
    let Ok(fields) = Fields::from_list(&fwd) else {
        return fail(400, "request headers the host refuses to forward", out);
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
    if (!is_get && request.set_method(&incoming.method).is_err())
        || request.set_scheme(Some(&scheme)).is_err()
        || request
            .set_authority(Some(&route.upstream.authority))
            .is_err()
        || request.set_path_with_query(Some(&target)).is_err()
    {
        return fail(400, "request line the host refuses to forward", out);
    }
    let Ok(body) = request.body() else {
        return fail(502, "outgoing body unavailable", out);
    };
    let options = RequestOptions::new();
    let timeout_ns = u64::from(route.timeout_ms) * 1_000_000;
    // Best effort: a host that does not support a timeout keeps its default.
    let _ = options.set_connect_timeout(Some(timeout_ns));
    let _ = options.set_first_byte_timeout(Some(timeout_ns));
    let _ = options.set_between_bytes_timeout(Some(timeout_ns));

    let future = match outgoing_handler::handle(request, Some(options)) {
        Ok(f) => f,
        Err(code) => {
            drop(body);
            let (status, reason) = classify(&code);
            return fail(status, &reason, out);
        }
    };

    // Stream the client's body to the upstream. If the client's body breaks,
    // the outgoing body is dropped unfinished, which makes the host abort the
    // upstream request instead of sending a truncated one as complete.
    match stream_request_body(incoming.request, &body) {
        Ok(()) => {
            if let Err(code) = OutgoingBody::finish(body, None) {
                // The body did not match the client's own Content-Length (for
                // example Content-Length and Transfer-Encoding both sent): the
                // client's fault, and the upstream request was aborted.
                if matches!(code, ErrorCode::HttpRequestBodySize(_)) {
                    log!("cors-gateway: request body does not match its Content-Length; upstream request aborted");
                    return respond::send(
                        out,
                        Head::new(400, &cors, decision.vary),
                        b"request body does not match Content-Length\n",
                    );
                }
                let (status, reason) = classify(&code);
                return fail(status, &reason, out);
            }
        }
        Err(BodyError::Read(e)) => {
            drop(body);
            log!("cors-gateway: client request body failed: {e}; upstream request aborted");
            return respond::send(
                out,
                Head::new(400, &cors, decision.vary),
                b"request body incomplete\n",
            );
        }
        // The upstream stopped reading (for example it answered early):
        // its response, if any, is still the answer.
        Err(BodyError::Write(_)) => drop(body),
    }

    let pollable = future.subscribe();
    pollable.block();
    let response = match future.get() {
        Some(Ok(Ok(r))) => r,
        Some(Ok(Err(code))) => {
            let (status, reason) = classify(&code);
            return fail(status, &reason, out);
        }
        _ => return fail(502, "no response from the host", out),
    };
    send_upstream_response(response, decision, &cors, out, route);
}

fn send_upstream_response(
    response: IncomingResponse,
    decision: &Decision<'_>,
    cors: &[(&'static str, &str)],
    out: ResponseOutparam,
    route: &Route,
) {
    let upstream_headers = response.headers().entries();
    if header_block_len(&upstream_headers) > MAX_HEADER_BLOCK_BYTES {
        log!(
            "cors-gateway: upstream {} sent more than {MAX_HEADER_BLOCK_BYTES} bytes of headers",
            route.upstream
        );
        return respond::send(out, Head::new(502, cors, decision.vary), reason_body(502));
    }
    let connection = connection_values(&upstream_headers);
    let vary_lines: Vec<&[u8]> = upstream_headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("vary"))
        .map(|(_, v)| v.as_slice())
        .collect();
    let mut headers: Vec<(String, Vec<u8>)> = upstream_headers
        .iter()
        .filter(|(n, _)| !drop_response_header(n, &connection, decision.transparent))
        .filter(|(n, _)| !n.eq_ignore_ascii_case("x-request-id"))
        .cloned()
        .collect();
    // The gateway's request id (the one in its log) is the response's.
    headers.push(("x-request-id".into(), crate::log::request_id().into_bytes()));
    headers.extend(
        cors.iter()
            .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec())),
    );
    if let Some(vary) = merge_vary(&vary_lines, decision.vary).filter(|_| !decision.transparent) {
        headers.push(("vary".into(), vary.into_bytes()));
    }
    let Ok(fields) = Fields::from_list(&headers) else {
        log!(
            "cors-gateway: upstream {} sent headers that cannot be relayed",
            route.upstream
        );
        return respond::send(out, Head::new(502, cors, decision.vary), reason_body(502));
    };
    let outgoing = OutgoingResponse::new(fields);
    // A new response is a 200 (WASI 0.2's constructor).
    let status = response.status();
    crate::log::note_upstream(status, content_length(&upstream_headers));
    if status != 200 {
        let _ = outgoing.set_status_code(status);
    }
    let Ok(out_body) = outgoing.body() else {
        return;
    };
    let Ok(in_body) = response.consume() else {
        return;
    };
    ResponseOutparam::set(out, Ok(outgoing));
    match copy_body(&in_body, &out_body) {
        Ok(()) => {
            drop(in_body);
            let _ = OutgoingBody::finish(out_body, None);
        }
        Err(e) => {
            // Headers are gone already: dropping the body unfinished makes the
            // host abort the response, so the client sees a broken transfer
            // rather than a truncated body that looks complete.
            log!(
                "cors-gateway: response body from {} (route {}) broke mid-stream: {e}; response aborted",
                route.upstream, route.name
            );
            drop(out_body);
        }
    }
}

enum BodyError {
    Read(String),
    Write(String),
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::Read(e) => write!(f, "read: {e}"),
            BodyError::Write(e) => write!(f, "write: {e}"),
        }
    }
}

fn stream_request_body(request: IncomingRequest, body: &OutgoingBody) -> Result<(), BodyError> {
    let incoming = request
        .consume()
        .map_err(|()| BodyError::Read("request body already consumed".into()))?;
    let result = copy_body(&incoming, body);
    drop(incoming);
    result
}

/// Copies one body to another through a `CHUNK`-sized buffer.
fn copy_body(from: &IncomingBody, to: &OutgoingBody) -> Result<(), BodyError> {
    let input = from
        .stream()
        .map_err(|()| BodyError::Read("body stream unavailable".into()))?;
    let mut output = LazyOutput {
        body: to,
        stream: None,
    };
    let result = copy_stream(&input, &mut output);
    drop(input);
    drop(output);
    result
}

/// The output stream of a body, opened at the first byte: an empty body
/// (most requests) then costs two host calls less (open and drop).
struct LazyOutput<'a> {
    body: &'a OutgoingBody,
    stream: Option<OutputStream>,
}

impl LazyOutput<'_> {
    fn get(&mut self) -> Result<&OutputStream, BodyError> {
        let stream = match self.stream.take() {
            Some(s) => s,
            None => self
                .body
                .write()
                .map_err(|()| BodyError::Write("body stream unavailable".into()))?,
        };
        Ok(self.stream.insert(stream))
    }
}

fn copy_stream(input: &InputStream, output: &mut LazyOutput<'_>) -> Result<(), BodyError> {
    // Bytes written since the last flush: one small chunk (most API
    // responses) needs no separate flush.
    let mut unflushed = false;
    loop {
        let chunk = match input.blocking_read(CHUNK) {
            Ok(c) => c,
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(BodyError::Read(e.to_debug_string()))
            }
        };
        if chunk.is_empty() {
            continue;
        }
        let output = output.get()?;
        if chunk.len() <= respond::MAX_WRITE_AND_FLUSH {
            // One host call where check-write + write (+ flush) are three.
            output.blocking_write_and_flush(&chunk).map_err(write_err)?;
            unflushed = false;
            continue;
        }
        let mut rest = chunk.as_slice();
        while !rest.is_empty() {
            let permit = output.check_write().map_err(write_err)?;
            if permit == 0 {
                output.subscribe().block();
                continue;
            }
            let n = rest
                .len()
                .min(usize::try_from(permit).unwrap_or(usize::MAX));
            output.write(&rest[..n]).map_err(write_err)?;
            rest = &rest[n..];
        }
        unflushed = true;
    }
    if unflushed {
        output.get()?.blocking_flush().map_err(write_err)?;
    }
    Ok(())
}

fn write_err(e: StreamError) -> BodyError {
    BodyError::Write(match e {
        StreamError::Closed => "closed".into(),
        StreamError::LastOperationFailed(e) => e.to_debug_string(),
    })
}

/// 504 for timeouts, 502 for every other failure to get a response.
fn classify(code: &ErrorCode) -> (u16, String) {
    let status = match code {
        ErrorCode::ConnectionTimeout
        | ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout
        | ErrorCode::HttpResponseTimeout
        | ErrorCode::DnsTimeout => 504,
        _ => 502,
    };
    (status, format!("{code:?}"))
}

fn reason_body(status: u16) -> &'static [u8] {
    match status {
        504 => b"upstream timed out\n",
        400 => b"bad request\n",
        _ => b"upstream unavailable\n",
    }
}
