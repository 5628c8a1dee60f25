//! What crosses the gateway when it forwards a request, as pure rules the
//! host adapter applies: which request and response headers pass, which
//! forwarding headers (`X-Forwarded-*`, `Forwarded`, `Via`) the gateway sets,
//! how a body is framed, and the per-route forwarding options.

use crate::headers::{trim_ows, HOP_BY_HOP};

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

/// The client IP of a host-provided socket address (`1.2.3.4:5678`,
/// `[::1]:5678`) or bare address; `None` when it is neither.
pub fn parse_client_addr(addr: &[u8]) -> Option<std::net::IpAddr> {
    let s = std::str::from_utf8(addr).ok()?.trim();
    s.parse::<std::net::SocketAddr>()
        .map(|a| a.ip())
        .or_else(|_| s.parse::<std::net::IpAddr>())
        .ok()
}

/// Forwarding headers a client can send to claim an address, scheme or host.
fn is_forwarding_header(name: &str) -> bool {
    name.eq_ignore_ascii_case("forwarded")
        || name.eq_ignore_ascii_case("x-real-ip")
        || name
            .get(..12)
            .is_some_and(|p| p.eq_ignore_ascii_case("x-forwarded-"))
}

/// Hop-by-hop for forwarding: RFC 9110 §7.6.1's set, minus `Trailer` (which
/// announces trailers the gateway forwards with the body), plus the names a
/// `Connection` header lists.
fn is_hop(name: &str, connection: &[&[u8]]) -> bool {
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

fn connection_values<N: AsRef<str>>(headers: &[(N, Vec<u8>)]) -> Vec<&[u8]> {
    headers
        .iter()
        .filter(|(n, _)| n.as_ref().eq_ignore_ascii_case("connection"))
        .map(|(_, v)| v.as_slice())
        .collect()
}

/// All values of `name`, joined as one list (RFC 9110 §5.3).
fn joined<N: AsRef<str>>(headers: &[(N, Vec<u8>)], name: &str) -> Option<Vec<u8>> {
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

/// A `Forwarded` node for an address (RFC 7239 §6: IPv6 quoted, bracketed).
fn forwarded_node(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(a) => a.to_string(),
        std::net::IpAddr::V6(a) => format!("\"[{a}]\""),
    }
}

fn append_list(existing: Option<Vec<u8>>, add: &str) -> Vec<u8> {
    match existing {
        Some(mut e) => {
            e.extend_from_slice(b", ");
            e.extend_from_slice(add.as_bytes());
            e
        }
        None => add.as_bytes().to_vec(),
    }
}

/// The headers sent to the upstream for a client request's `headers`:
/// - hop-by-hop ones, `Host` (the upstream's authority is the route's),
///   `Expect` (the host's HTTP server answers `100-continue` itself) and the
///   host's own `spin-*` headers are dropped;
/// - by default the client's `Forwarded`, `X-Forwarded-*` and `X-Real-IP` are
///   dropped and the gateway sets `X-Forwarded-For` (when the host tells the
///   client address), `X-Forwarded-Host` and `X-Forwarded-Proto`;
/// - with `trust_forwarded_headers`, the client's are kept, the client address
///   is appended to `X-Forwarded-For` (and to `Forwarded` when there is one),
///   and `X-Forwarded-Host`/`-Proto` are set only when absent;
/// - with `via`, `1.1 <via>` is appended to `Via`.
pub fn request_headers<N: AsRef<str>>(
    headers: &[(N, Vec<u8>)],
    opts: &ForwardOptions,
    peer: &Peer<'_>,
) -> Vec<(String, Vec<u8>)> {
    let connection = connection_values(headers);
    let trust = opts.trust_forwarded_headers;
    let mut out: Vec<(String, Vec<u8>)> = Vec::with_capacity(headers.len() + 4);
    for (n, v) in headers {
        let n = n.as_ref();
        if is_hop(n, &connection)
            || n.eq_ignore_ascii_case("host")
            || n.eq_ignore_ascii_case("expect")
            || n.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("spin-"))
            || (opts.via.is_some() && n.eq_ignore_ascii_case("via"))
        {
            continue;
        }
        if is_forwarding_header(n) {
            // Rewritten below when trusted; dropped otherwise.
            let rewritten =
                n.eq_ignore_ascii_case("x-forwarded-for") || n.eq_ignore_ascii_case("forwarded");
            if !trust || (rewritten && peer.client_ip.is_some()) {
                continue;
            }
        }
        out.push((n.to_string(), v.clone()));
    }
    let has = |out: &[(String, Vec<u8>)], name: &str| {
        out.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
    };
    if let Some(ip) = peer.client_ip {
        let ip_text = ip.to_string();
        let xff = if trust {
            append_list(joined(headers, "x-forwarded-for"), &ip_text)
        } else {
            ip_text.into_bytes()
        };
        out.push(("x-forwarded-for".into(), xff));
        if trust {
            if let Some(f) = joined(headers, "forwarded") {
                let node = format!("for={}", forwarded_node(ip));
                out.push(("forwarded".into(), append_list(Some(f), &node)));
            }
        }
    }
    if let Some(host) = peer.host {
        if !(trust && has(&out, "x-forwarded-host")) {
            out.push(("x-forwarded-host".into(), host.as_bytes().to_vec()));
        }
    }
    if !(trust && has(&out, "x-forwarded-proto")) {
        out.push(("x-forwarded-proto".into(), peer.proto.as_bytes().to_vec()));
    }
    // `TE` is hop-by-hop, but a client that accepts trailers gets them
    // through the gateway, so the gateway asks the upstream for them too
    // (HTTP/1.1 servers send trailers only to a request with `TE: trailers`).
    if accepts_trailers(headers) {
        out.push(("te".into(), b"trailers".to_vec()));
    }
    if let Some(via) = &opts.via {
        out.push((
            "via".into(),
            append_list(joined(headers, "via"), &format!("1.1 {via}")),
        ));
    }
    out
}

/// Whether a request's `TE` lists `trailers`.
pub fn accepts_trailers<N: AsRef<str>>(headers: &[(N, Vec<u8>)]) -> bool {
    headers
        .iter()
        .filter(|(n, _)| n.as_ref().eq_ignore_ascii_case("te"))
        .flat_map(|(_, v)| v.split(|&b| b == b','))
        .any(|t| {
            let t = trim_ows(t);
            let name = t.split(|&b| b == b';').next().map_or(t, trim_ows);
            name.eq_ignore_ascii_case(b"trailers")
        })
}

/// Whether a response to `method` with `status` carries a body
/// (RFC 9110 §6.4.1: never for `HEAD`, 1xx, 204 and 304).
pub fn response_has_body(method_is_head: bool, status: u16) -> bool {
    !(method_is_head || (100..200).contains(&status) || status == 204 || status == 304)
}

/// The upstream response headers the client gets, before the policy's CORS
/// headers and the merged `Vary` are added: hop-by-hop ones (except
/// `Trailer`), every `Access-Control-*` (the policy is the only authority)
/// and `Vary` (merged by the caller) are dropped, `Content-Length` of a 204 /
/// 1xx too (RFC 9110 §8.6 forbids it there), and `Via` is appended to.
/// `transparent` (a report-only route): the upstream's own CORS headers and
/// `Vary` are kept, as if the gateway were not there. The upstream's
/// `x-request-id` is always dropped: the gateway's (the one in its log) is
/// the response's.
pub fn response_headers<N: AsRef<str>>(
    headers: &[(N, Vec<u8>)],
    status: u16,
    opts: &ForwardOptions,
    transparent: bool,
) -> Vec<(String, Vec<u8>)> {
    let connection = connection_values(headers);
    let no_length = status == 204 || (100..200).contains(&status);
    let mut out: Vec<(String, Vec<u8>)> = headers
        .iter()
        .filter(|(n, _)| {
            let n = n.as_ref();
            let cors = n
                .get(..15)
                .is_some_and(|p| p.eq_ignore_ascii_case("access-control-"))
                || n.eq_ignore_ascii_case("vary");
            !(is_hop(n, &connection)
                || (cors && !transparent)
                || n.eq_ignore_ascii_case("x-request-id")
                || (no_length && n.eq_ignore_ascii_case("content-length"))
                || (opts.via.is_some() && n.eq_ignore_ascii_case("via")))
        })
        .map(|(n, v)| (n.as_ref().to_string(), v.clone()))
        .collect();
    if let Some(via) = &opts.via {
        out.push((
            "via".into(),
            append_list(joined(headers, "via"), &format!("1.1 {via}")),
        ));
    }
    out
}

/// How a message's body is delimited, as far as its headers tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length: n`: forwarded with the same length.
    Length(u64),
    /// No `Content-Length`: either no body or a chunked one (WASI hosts
    /// remove `Transfer-Encoding`), so the body itself must tell.
    Unknown,
}

/// A `Content-Length` that is not one decimal number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidContentLength;

/// The framing a message's `Content-Length` gives; `Err` when it is not one
/// decimal number (several equal values count as one, RFC 9110 §8.6).
pub fn framing<N: AsRef<str>>(headers: &[(N, Vec<u8>)]) -> Result<Framing, InvalidContentLength> {
    let mut found: Option<u64> = None;
    for (_, v) in headers
        .iter()
        .filter(|(n, _)| n.as_ref().eq_ignore_ascii_case("content-length"))
    {
        for part in v.split(|&b| b == b',') {
            let part = trim_ows(part);
            if part.is_empty() || part.len() > 19 || !part.iter().all(u8::is_ascii_digit) {
                return Err(InvalidContentLength);
            }
            let n = std::str::from_utf8(part)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or(InvalidContentLength)?;
            match found {
                Some(f) if f != n => return Err(InvalidContentLength),
                _ => found = Some(n),
            }
        }
    }
    Ok(found.map_or(Framing::Unknown, Framing::Length))
}

/// Whether a response body of `framing` may carry trailers: only a chunked
/// one (HTTP/1.1 has no trailers after a `Content-Length` body).
pub fn may_have_trailers(framing: Framing) -> bool {
    framing == Framing::Unknown
}

/// Trailer fields that may cross (RFC 9110 §6.5.1: never framing, routing,
/// authentication or the fields the gateway controls).
pub fn trailer_allowed(name: &str) -> bool {
    const NEVER: [&str; 12] = [
        "content-length",
        "content-type",
        "content-encoding",
        "host",
        "authorization",
        "set-cookie",
        "cookie",
        "vary",
        "trailer",
        "expect",
        "cache-control",
        "via",
    ];
    !(NEVER.iter().any(|f| f.eq_ignore_ascii_case(name))
        || is_hop(name, &[])
        || name
            .get(..15)
            .is_some_and(|p| p.eq_ignore_ascii_case("access-control-"))
        || is_forwarding_header(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    fn text(headers: &[(String, Vec<u8>)]) -> Vec<(String, String)> {
        headers
            .iter()
            .map(|(n, v)| (n.clone(), String::from_utf8_lossy(v).into_owned()))
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    const SPOOFS: [(&str, &str); 7] = [
        ("X-Forwarded-For", "6.6.6.6"),
        ("forwarded", "for=6.6.6.6;proto=https"),
        ("x-real-ip", "6.6.6.6"),
        ("x-forwarded-port", "443"),
        ("x-forwarded-prefix", "/admin"),
        ("x-forwarded-host", "evil.example"),
        ("x-forwarded-proto", "https"),
    ];

    #[test]
    fn client_forwarding_claims_are_replaced_by_default() {
        let mut input = vec![("accept", "*/*")];
        input.extend(SPOOFS);
        input.extend([
            ("spin-client-addr", "1.1.1.1:1"),
            ("Spin-Full-Url", "http://x/"),
            ("host", "gw.example"),
            ("expect", "100-continue"),
            ("te", "trailers"),
            ("keep-alive", "5"),
            ("trailer", "x-checksum"),
        ]);
        let peer = Peer {
            client_ip: Some("203.0.113.7".parse().unwrap()),
            host: Some("gw.example"),
            proto: "https",
        };
        let out = request_headers(&h(&input), &ForwardOptions::default(), &peer);
        assert_eq!(
            text(&out),
            pairs(&[
                ("accept", "*/*"),
                ("trailer", "x-checksum"),
                ("x-forwarded-for", "203.0.113.7"),
                ("x-forwarded-host", "gw.example"),
                ("x-forwarded-proto", "https"),
                ("te", "trailers"),
            ])
        );
        assert!(accepts_trailers(&h(&[("TE", "gzip, Trailers;q=1")])));
        assert!(!accepts_trailers(&h(&[("te", "gzip")])));
        // Without a host-known address no X-Forwarded-For at all.
        let peer = Peer {
            client_ip: None,
            ..peer
        };
        let out = request_headers(&h(&input), &ForwardOptions::default(), &peer);
        assert!(out.iter().all(|(n, _)| n != "x-forwarded-for"));
        assert!(out
            .iter()
            .all(|(n, _)| !n.eq_ignore_ascii_case("x-real-ip")));
    }

    #[test]
    fn a_trusted_inner_proxy_is_appended_to() {
        let input = h(&[
            ("x-forwarded-for", "198.51.100.1"),
            ("X-Forwarded-For", "10.0.0.2"),
            ("forwarded", "for=198.51.100.1"),
            ("x-forwarded-proto", "https"),
            ("x-real-ip", "198.51.100.1"),
            ("via", "1.1 edge"),
        ]);
        let opts = ForwardOptions {
            trust_forwarded_headers: true,
            via: Some("cors-gateway".into()),
            ..ForwardOptions::default()
        };
        let peer = Peer {
            client_ip: Some("::1".parse().unwrap()),
            host: Some("gw.example"),
            proto: "http",
        };
        let out = request_headers(&input, &opts, &peer);
        assert_eq!(
            text(&out),
            pairs(&[
                ("x-forwarded-proto", "https"),
                ("x-real-ip", "198.51.100.1"),
                ("x-forwarded-for", "198.51.100.1, 10.0.0.2, ::1"),
                ("forwarded", "for=198.51.100.1, for=\"[::1]\""),
                ("x-forwarded-host", "gw.example"),
                ("via", "1.1 edge, 1.1 cors-gateway"),
            ])
        );
        // Trusted but the address unknown: the chain is passed on unchanged.
        let out = request_headers(
            &input,
            &opts,
            &Peer {
                client_ip: None,
                ..peer
            },
        );
        assert_eq!(
            out.iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("x-forwarded-for"))
                .count(),
            2
        );
    }

    #[test]
    fn connection_named_headers_are_hop_by_hop() {
        let input = h(&[("connection", "x-hop"), ("x-hop", "1"), ("x-keep", "2")]);
        let peer = Peer {
            client_ip: None,
            host: None,
            proto: "http",
        };
        let out = request_headers(&input, &ForwardOptions::default(), &peer);
        assert_eq!(
            text(&out),
            pairs(&[("x-keep", "2"), ("x-forwarded-proto", "http")])
        );
    }

    #[test]
    fn response_headers_drop_cors_hop_and_forbidden_lengths() {
        let input = h(&[
            ("content-type", "text/plain"),
            ("content-length", "0"),
            ("Access-Control-Allow-Origin", "*"),
            ("vary", "accept"),
            ("transfer-encoding", "chunked"),
            ("trailer", "x-sum"),
        ]);
        let opts = ForwardOptions::default();
        assert_eq!(
            text(&response_headers(&input, 200, &opts, false)),
            pairs(&[
                ("content-type", "text/plain"),
                ("content-length", "0"),
                ("trailer", "x-sum")
            ])
        );
        assert_eq!(
            text(&response_headers(&input, 204, &opts, false)),
            pairs(&[("content-type", "text/plain"), ("trailer", "x-sum")])
        );
        let via = ForwardOptions {
            via: Some("gw".into()),
            ..ForwardOptions::default()
        };
        assert_eq!(
            text(&response_headers(
                &h(&[("via", "1.0 up")]),
                200,
                &via,
                false
            )),
            pairs(&[("via", "1.0 up, 1.1 gw")])
        );
    }

    #[test]
    fn bodies_by_method_and_status() {
        assert!(response_has_body(false, 200));
        assert!(!response_has_body(true, 200));
        assert!(!response_has_body(false, 204));
        assert!(!response_has_body(false, 304));
        assert!(!response_has_body(false, 101));
        assert!(response_has_body(false, 404));
    }

    #[test]
    fn content_length_framing() {
        assert_eq!(framing(&h(&[])), Ok(Framing::Unknown));
        assert_eq!(
            framing(&h(&[("Content-Length", "12")])),
            Ok(Framing::Length(12))
        );
        assert_eq!(
            framing(&h(&[("content-length", "3, 3"), ("content-length", "3")])),
            Ok(Framing::Length(3))
        );
        assert_eq!(
            framing(&h(&[("content-length", "3, 4")])),
            Err(InvalidContentLength)
        );
        assert_eq!(
            framing(&h(&[("content-length", "+3")])),
            Err(InvalidContentLength)
        );
        assert_eq!(
            framing(&h(&[("content-length", "")])),
            Err(InvalidContentLength)
        );
        assert_eq!(
            framing(&h(&[("content-length", "99999999999999999999")])),
            Err(InvalidContentLength)
        );
        assert!(may_have_trailers(Framing::Unknown));
        assert!(!may_have_trailers(Framing::Length(0)));
    }

    #[test]
    fn client_addresses() {
        assert_eq!(
            parse_client_addr(b"127.0.0.1:5000"),
            Some("127.0.0.1".parse().unwrap())
        );
        assert_eq!(
            parse_client_addr(b"[2001:db8::1]:443"),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(
            parse_client_addr(b"10.1.2.3"),
            Some("10.1.2.3".parse().unwrap())
        );
        assert_eq!(parse_client_addr(b"evil, 1.2.3.4"), None);
    }

    #[test]
    fn trailers_that_may_cross() {
        assert!(trailer_allowed("x-checksum"));
        assert!(trailer_allowed("grpc-status"));
        assert!(!trailer_allowed("Content-Length"));
        assert!(!trailer_allowed("access-control-allow-origin"));
        assert!(!trailer_allowed("x-forwarded-for"));
        assert!(!trailer_allowed("transfer-encoding"));
    }
}
