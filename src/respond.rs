//! Answers the gateway writes itself (preflights, refusals, errors, health).

use crate::log::{log, Req};
use crate::wasi_http::{Fields, OutgoingBody, OutgoingResponse, ResponseOutparam};
use cors_gateway_core::Decision;

const INTERNAL_ERROR: &[u8] = b"cors-gateway: internal error\n";

/// Constant headers of the 500 answer (they cannot be refused).
fn plain_500_fields() -> Fields {
    let fields = Fields::new();
    let _ = fields.append("content-type", b"text/plain; charset=utf-8");
    let _ = fields.append(
        "content-length",
        INTERNAL_ERROR.len().to_string().as_bytes(),
    );
    let _ = fields.append("cache-control", b"no-store");
    fields
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

/// The most one `blocking-write-and-flush` may take (WASI 0.2).
pub const MAX_WRITE_AND_FLUSH: usize = 4096;

/// Statuses that never have a body, so never a `Content-Length` (RFC 9110
/// §8.6: a server must not send one in a 204).
fn is_bodyless(status: u16) -> bool {
    status == 204 || status == 304 || (100..200).contains(&status)
}

/// Sends a complete response with a small body.
pub fn send(req: &Req, out: ResponseOutparam, head: Head<'_>, body: &[u8]) {
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
    // Values here come from the policy (validated at load) or are constants,
    // so the host accepts them. Should it refuse one anyway, the answer is a
    // plain 500, never this response stripped of its CORS headers.
    let (fields, status, body) = match Fields::from_list(&headers) {
        Ok(f) => (f, status, body),
        Err(e) => {
            log!(req, "cors-gateway: ERROR the host refused the headers of a {status} answer ({e:?}); answering 500");
            (plain_500_fields(), 500, INTERNAL_ERROR)
        }
    };
    req.note_status(status);
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
