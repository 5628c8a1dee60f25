//! What crosses back to the client: the upstream's response headers without
//! hop-by-hop and CORS fields, the merged `Vary`, body framing and trailers.

use super::{append_via, connection_values, is_forwarding_header, is_hop, ForwardOptions};
use crate::headers::{is_token, list_elements, trim_ows};

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
    append_via(&mut out, headers, opts);
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

/// Merges the gateway's `Vary` tokens into the upstream's `Vary` lines: keeps
/// every upstream token, adds the missing ones, and keeps a lone `*` (which
/// already varies on everything). Returns `None` when nothing is to be sent.
pub fn merge_vary(upstream: &[&[u8]], add: Option<&str>) -> Option<String> {
    let mut tokens: Vec<&str> = Vec::new();
    let existing = list_elements(upstream)
        .filter_map(|t| std::str::from_utf8(t).ok())
        .filter(|t| is_token(t.as_bytes()));
    let added = add.into_iter().flat_map(|a| a.split(',')).map(str::trim);
    for t in existing.chain(added) {
        if t == "*" {
            return Some("*".to_string());
        }
        if !tokens.iter().any(|x| x.eq_ignore_ascii_case(t)) {
            tokens.push(t);
        }
    }
    (!tokens.is_empty()).then(|| tokens.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forwarding::testing::*;

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
    fn trailers_that_may_cross() {
        assert!(trailer_allowed("x-checksum"));
        assert!(trailer_allowed("grpc-status"));
        assert!(!trailer_allowed("Content-Length"));
        assert!(!trailer_allowed("access-control-allow-origin"));
        assert!(!trailer_allowed("x-forwarded-for"));
        assert!(!trailer_allowed("transfer-encoding"));
    }

    #[test]
    fn vary_is_merged_not_clobbered() {
        let up: [&[u8]; 2] = [b"Accept-Encoding", b"origin, Accept-Language"];
        assert_eq!(
            merge_vary(&up, Some("Origin")).as_deref(),
            Some("Accept-Encoding, origin, Accept-Language")
        );
        assert_eq!(
            merge_vary(&[b"Accept"], Some("Origin, Access-Control-Request-Method")).as_deref(),
            Some("Accept, Origin, Access-Control-Request-Method")
        );
        assert_eq!(merge_vary(&[b"*"], Some("Origin")).as_deref(), Some("*"));
        assert_eq!(merge_vary(&[], None), None);
        assert_eq!(merge_vary(&[b"bad value\r"], None), None);
    }
}
