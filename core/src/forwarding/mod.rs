//! What crosses the gateway when it forwards a request, as pure rules the
//! host adapter applies: which request and response headers pass, which
//! forwarding headers (`X-Forwarded-*`, `Forwarded`, `Via`) the gateway sets,
//! how a body is framed, how `Vary` is merged, and the per-route forwarding
//! options.

mod request;
mod response;

pub use request::{accepts_trailers, parse_client_addr, request_headers};
pub use response::{
    framing, may_have_trailers, merge_vary, response_has_body, response_headers, trailer_allowed,
    Framing, InvalidContentLength,
};

use crate::headers::{trim_ows, HOP_BY_HOP};

/// The status the gateway answers when the host could not get a response,
/// by the case of the host's `wasi:http` `error-code` in its Rust `Debug`
/// form, payload and all (`ConnectionTimeout` from the WASI 0.2 bindings,
/// `ErrorCode::ConnectionTimeout` from the 0.3 ones): 504 for a timeout, 502
/// for every other failure.
pub fn error_status(code: &str) -> u16 {
    const TIMEOUTS: [&str; 5] = [
        "ConnectionTimeout",
        "ConnectionReadTimeout",
        "ConnectionWriteTimeout",
        "HttpResponseTimeout",
        "DnsTimeout",
    ];
    let code = code.strip_prefix("ErrorCode::").unwrap_or(code);
    let case = code.split(['(', ' ', '{']).next().unwrap_or(code);
    if TIMEOUTS.contains(&case) {
        504
    } else {
        502
    }
}

/// Default of `connect_timeout_ms`, `first_byte_timeout_ms` and
/// `idle_timeout_ms` when neither they nor `timeout_ms` are set.
pub const DEFAULT_TIMEOUT_MS: u32 = 30_000;
/// Default total deadline of one forwarded exchange (request and response).
pub const DEFAULT_DEADLINE_MS: u32 = 300_000;
/// Largest total deadline a policy may set (one hour).
pub const MAX_DEADLINE_MS: u32 = 3_600_000;

/// The forwarding options of one route, defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardOptions {
    /// Time to open the upstream connection.
    pub connect_timeout_ms: u32,
    /// Time from the end of the request (its body sent) to the response head.
    pub first_byte_timeout_ms: u32,
    /// Longest pause in either body while the exchange runs.
    pub idle_timeout_ms: u32,
    /// The whole exchange, from the request's arrival to the response's end.
    pub deadline_ms: u32,
    /// Request bodies larger than this are refused with 413.
    pub max_request_body_bytes: Option<u64>,
    /// Keep the client's forwarding headers and append to them (the client
    /// is a trusted proxy), instead of replacing them with the gateway's own.
    pub trust_forwarded_headers: bool,
    /// A `Via` pseudonym (`1.1 <via>` is appended in both directions).
    pub via: Option<String>,
}

impl Default for ForwardOptions {
    fn default() -> Self {
        ForwardOptions {
            connect_timeout_ms: DEFAULT_TIMEOUT_MS,
            first_byte_timeout_ms: DEFAULT_TIMEOUT_MS,
            idle_timeout_ms: DEFAULT_TIMEOUT_MS,
            deadline_ms: DEFAULT_DEADLINE_MS,
            max_request_body_bytes: None,
            trust_forwarded_headers: false,
            via: None,
        }
    }
}

/// What the host knows about the client side of the request.
#[derive(Debug, Clone, Copy)]
pub struct Peer<'a> {
    /// The client's IP address, when the host tells it (Spin does,
    /// `wasmtime serve` does not). Never taken from a client header.
    pub client_ip: Option<std::net::IpAddr>,
    /// The authority the client addressed (`Host`).
    pub host: Option<&'a str>,
    /// `http` or `https`, as the client connected.
    pub proto: &'a str,
}

/// Forwarding headers a client can send to claim an address, scheme or host.
pub(super) fn is_forwarding_header(name: &str) -> bool {
    name.eq_ignore_ascii_case("forwarded")
        || name.eq_ignore_ascii_case("x-real-ip")
        || name
            .get(..12)
            .is_some_and(|p| p.eq_ignore_ascii_case("x-forwarded-"))
}

/// Hop-by-hop for forwarding: RFC 9110 §7.6.1's set, minus `Trailer` (which
/// announces trailers the gateway forwards with the body), plus the names a
/// `Connection` header lists.
pub(super) fn is_hop(name: &str, connection: &[&[u8]]) -> bool {
    if name.eq_ignore_ascii_case("trailer") {
        return false;
    }
    HOP_BY_HOP.iter().any(|h| h.eq_ignore_ascii_case(name))
        || connection.iter().any(|v| {
            v.split(|&b| b == b',')
                .map(trim_ows)
                .any(|t| t.eq_ignore_ascii_case(name.as_bytes()))
        })
}

pub(super) fn connection_values<N: AsRef<str>>(headers: &[(N, Vec<u8>)]) -> Vec<&[u8]> {
    headers
        .iter()
        .filter(|(n, _)| n.as_ref().eq_ignore_ascii_case("connection"))
        .map(|(_, v)| v.as_slice())
        .collect()
}

/// All values of `name`, joined as one list (RFC 9110 §5.3).
pub(super) fn joined<N: AsRef<str>>(headers: &[(N, Vec<u8>)], name: &str) -> Option<Vec<u8>> {
    let mut out: Option<Vec<u8>> = None;
    for (_, v) in headers
        .iter()
        .filter(|(n, _)| n.as_ref().eq_ignore_ascii_case(name))
    {
        let v = trim_ows(v);
        if v.is_empty() {
            continue;
        }
        match &mut out {
            Some(o) => {
                o.extend_from_slice(b", ");
                o.extend_from_slice(v);
            }
            None => out = Some(v.to_vec()),
        }
    }
    out
}

/// With a `via` pseudonym, the message's `Via` with `1.1 <via>` appended
/// (both directions; the original `Via` lines were left out of `out`).
pub(super) fn append_via<N: AsRef<str>>(
    out: &mut Vec<(String, Vec<u8>)>,
    headers: &[(N, Vec<u8>)],
    opts: &ForwardOptions,
) {
    if let Some(via) = &opts.via {
        out.push((
            "via".into(),
            append_list(joined(headers, "via"), &format!("1.1 {via}")),
        ));
    }
}

pub(super) fn append_list(existing: Option<Vec<u8>>, add: &str) -> Vec<u8> {
    match existing {
        Some(mut e) => {
            e.extend_from_slice(b", ");
            e.extend_from_slice(add.as_bytes());
            e
        }
        None => add.as_bytes().to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_includes_connection_named() {
        let conn: [&[u8]; 1] = [b"close, X-Secret"];
        assert!(is_hop("x-secret", &conn));
        assert!(is_hop("Transfer-Encoding", &[]));
        assert!(!is_hop("x-other", &conn));
    }

    #[test]
    fn host_errors_map_to_504_for_timeouts_else_502() {
        // The cases of wasi:http's error-code as Rust's Debug prints them.
        for timeout in ["ConnectionTimeout", "DnsTimeout", "HttpResponseTimeout"] {
            assert_eq!(error_status(timeout), 504, "{timeout}");
        }
        assert_eq!(error_status("ConnectionReadTimeout"), 504);
        assert_eq!(error_status("ConnectionWriteTimeout"), 504);
        assert_eq!(error_status("ConnectionRefused"), 502);
        assert_eq!(
            error_status("DnsError(DnsErrorPayload { rcode: None, info-code: None })"),
            502
        );
        assert_eq!(error_status("HttpRequestBodySize(Some(5))"), 502);
        assert_eq!(error_status("InternalError(Some(\"timeout\"))"), 502);
        assert_eq!(error_status(""), 502);
        // The WASI 0.3 bindings name the enum.
        assert_eq!(error_status("ErrorCode::ConnectionTimeout"), 504);
        assert_eq!(error_status("ErrorCode::ConnectionRefused"), 502);
    }
}

#[cfg(test)]
mod testing {
    pub fn h(pairs: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    pub fn text(headers: &[(String, Vec<u8>)]) -> Vec<(String, String)> {
        headers
            .iter()
            .map(|(n, v)| (n.clone(), String::from_utf8_lossy(v).into_owned()))
            .collect()
    }

    pub fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    pub const SPOOFS: [(&str, &str); 7] = [
        ("X-Forwarded-For", "6.6.6.6"),
        ("forwarded", "for=6.6.6.6;proto=https"),
        ("x-real-ip", "6.6.6.6"),
        ("x-forwarded-port", "443"),
        ("x-forwarded-prefix", "/admin"),
        ("x-forwarded-host", "evil.example"),
        ("x-forwarded-proto", "https"),
    ];
}
