//! What crosses toward the upstream: the client's headers minus hop-by-hop
//! and host-only ones, and the forwarding headers the gateway sets.

use super::{
    append_list, append_via, connection_values, is_forwarding_header, is_hop, joined,
    ForwardOptions, Peer,
};
use crate::headers::trim_ows;

/// The client IP of a host-provided socket address (`1.2.3.4:5678`,
/// `[::1]:5678`) or bare address; `None` when it is neither.
pub fn parse_client_addr(addr: &[u8]) -> Option<std::net::IpAddr> {
    let s = std::str::from_utf8(addr).ok()?.trim();
    s.parse::<std::net::SocketAddr>()
        .map(|a| a.ip())
        .or_else(|_| s.parse::<std::net::IpAddr>())
        .ok()
}

/// A `Forwarded` node for an address (RFC 7239 §6: IPv6 quoted, bracketed).
fn forwarded_node(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(a) => a.to_string(),
        std::net::IpAddr::V6(a) => format!("\"[{a}]\""),
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
    append_via(&mut out, headers, opts);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forwarding::testing::*;

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
}
