//! Answers the gateway writes itself (preflights, refusals, errors, health):
//! their head and body, the same for both wasi:http bindings (`p2`, `p3`),
//! which only hand them to the host.

use crate::log::{log, Req};
use cors_gateway_core::forwarding::{self, ForwardOptions, Framing};
use cors_gateway_core::headers::{header_block_len, MAX_HEADER_BLOCK_BYTES};
use cors_gateway_core::Decision;

const INTERNAL_ERROR: &[u8] = b"cors-gateway: internal error\n";

/// A complete answer in the binding's fields (`from_list` is its
/// `fields.from-list`), and the status and body that go with them. Values
/// come from the policy (validated at load) or are constants, so the host
/// accepts them; should it refuse one anyway, the answer is a plain 500,
/// never this one stripped of its CORS headers.
pub fn in_fields<'b, F, E: std::fmt::Debug>(
    req: &Req,
    head: Head<'_>,
    body: &'b [u8],
    from_list: impl Fn(&Fields) -> Result<F, E>,
    empty: impl FnOnce() -> F,
) -> (F, u16, &'b [u8]) {
    let (status, headers, body) = assemble(req, head, body);
    let (fields, status, body) = match from_list(&headers) {
        Ok(f) => (f, status, body),
        Err(e) => {
            log!(req, "cors-gateway: ERROR the host refused the headers of a {status} answer ({e:?}); answering 500");
            let plain: Fields = vec![
                ("content-type".into(), b"text/plain; charset=utf-8".to_vec()),
                (
                    "content-length".into(),
                    INTERNAL_ERROR.len().to_string().into_bytes(),
                ),
                ("cache-control".into(), b"no-store".to_vec()),
            ];
            (
                from_list(&plain).unwrap_or_else(|_| empty()),
                500,
                INTERNAL_ERROR,
            )
        }
    };
    req.note_status(status);
    (fields, status, body)
}

/// The CORS headers a decision sends (none in report-only), without `Vary`
/// (which callers merge).
pub fn decision_headers<'a>(d: &Decision<'a>) -> Vec<(&'static str, &'a [u8])> {
    d.sent_grant().iter().flat_map(|g| g.headers()).collect()
}

pub struct Head<'a> {
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    _marker: std::marker::PhantomData<&'a ()>,
}

impl<'a> Head<'a> {
    pub fn new(status: u16, cors: &[(&'static str, &[u8])], vary: Option<&str>) -> Self {
        let mut headers: Vec<(String, Vec<u8>)> = cors
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_vec()))
            .collect();
        if let Some(v) = vary {
            headers.push(("vary".into(), v.as_bytes().to_vec()));
        }
        Head {
            status,
            headers,
            _marker: std::marker::PhantomData,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.as_bytes().to_vec()));
        self
    }
}

/// Statuses that never have a body, so never a `Content-Length` (RFC 9110
/// §8.6: a server must not send one in a 204).
fn is_bodyless(status: u16) -> bool {
    status == 204 || status == 304 || (100..200).contains(&status)
}

/// Header fields as the bindings' `fields.from-list` takes them.
pub type Fields = Vec<(String, Vec<u8>)>;

/// A complete answer as it goes to the host: its status, every header
/// (`x-request-id`, and the body's type and length where it has one) and
/// its body.
fn assemble<'b>(req: &Req, head: Head<'_>, body: &'b [u8]) -> (u16, Fields, &'b [u8]) {
    let status = head.status;
    let mut headers = head.headers;
    headers.push(("x-request-id".into(), req.id().as_bytes().to_vec()));
    let body = if is_bodyless(status) { &[][..] } else { body };
    if !body.is_empty() && !headers.iter().any(|(n, _)| n == "content-type") {
        headers.push(("content-type".into(), b"text/plain; charset=utf-8".to_vec()));
    }
    if !is_bodyless(status) {
        headers.push(("content-length".into(), body.len().to_string().into_bytes()));
    }
    (status, headers, body)
}

/// The body of an answer the gateway writes for a decision it carries out
/// itself (`Action::Respond`), before any debug detail.
pub fn decision_body(status: u16) -> &'static str {
    match status {
        204 => "",
        403 => "cors-gateway: refused by CORS policy\n",
        404 => "cors-gateway: no route for this path\n",
        421 => "cors-gateway: this host is not served here\n",
        _ => "cors-gateway: bad request\n",
    }
}

/// The body of an answer the gateway writes when forwarding fails.
pub fn forward_failure_body(status: u16) -> &'static [u8] {
    match status {
        504 => b"upstream timed out\n",
        400 => b"bad request\n",
        408 => b"request body timed out\n",
        413 => b"request body too large\n",
        _ => b"upstream unavailable\n",
    }
}

/// The head the client gets for an upstream's response, and its framing:
/// the upstream's headers by the core's rule, the request id, the
/// decision's CORS headers and the merged `Vary` (report-only leaves the
/// upstream's as it is). Records the upstream's status and length on `req`.
/// `Err` is the reason for a 502: a header block over the limit.
pub fn relayed_head(
    req: &Req,
    upstream: &Fields,
    status: u16,
    opts: &ForwardOptions,
    report_only: bool,
    cors: &[(&'static str, &[u8])],
    sent_vary: Option<&str>,
) -> Result<(Fields, Framing), String> {
    if header_block_len(upstream) > MAX_HEADER_BLOCK_BYTES {
        return Err(format!(
            "more than {MAX_HEADER_BLOCK_BYTES} bytes of response headers"
        ));
    }
    let vary_lines: Vec<&[u8]> = upstream
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("vary"))
        .map(|(_, v)| v.as_slice())
        .collect();
    let mut headers = forwarding::response_headers(upstream, status, opts, report_only);
    headers.push(("x-request-id".into(), req.id().as_bytes().to_vec()));
    headers.extend(cors.iter().map(|(n, v)| (n.to_string(), v.to_vec())));
    let merged = forwarding::merge_vary(&vary_lines, sent_vary);
    if let Some(vary) = merged.filter(|_| !report_only) {
        headers.push(("vary".into(), vary.into_bytes()));
    }
    let framing = forwarding::framing(upstream).unwrap_or(Framing::Unknown);
    let length = match framing {
        Framing::Length(n) => Some(n),
        Framing::Unknown => None,
    };
    req.note_upstream(status, length);
    Ok((headers, framing))
}
