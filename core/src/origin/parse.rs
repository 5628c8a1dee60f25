//! The strict parser for the `Origin` a browser sends: only the canonical
//! serialisation of a tuple origin parses, so every part it returns is
//! known to be in canonical form.

/// A request `Origin` split into its parts. Only produced by [`parse_origin`],
/// so every field is known to be in canonical form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OriginParts<'a> {
    pub scheme: &'a str,
    pub host: &'a str,
    pub port: Option<u16>,
}

pub(super) fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        // The URL standard's other special scheme with a default port.
        "ftp" => Some(21),
        _ => None,
    }
}

pub(super) fn is_scheme(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_lowercase()
        && b.iter().all(|&c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'+' | b'-' | b'.')
        })
}

/// The longest host a browser can send: a DNS name has at most 253 bytes,
/// plus one trailing dot (an IPv6 literal is shorter).
pub const MAX_HOST_LEN: usize = 254;
/// The longest DNS label.
pub const MAX_LABEL_LEN: usize = 63;
/// The longest scheme accepted in an origin (`safari-web-extension` has 20).
pub const MAX_SCHEME_LEN: usize = 32;
/// The longest `Origin` a browser can send: scheme, `://`, the longest host
/// and `:65535`. Anything longer is refused before any other work, so a
/// hostile value costs O(1) whatever its size.
pub const MAX_ORIGIN_LEN: usize = MAX_SCHEME_LEN + 3 + MAX_HOST_LEN + 6;

/// WHATWG URL's "ends in a number": the last label (a trailing dot aside) is
/// decimal digits or `0x` hex, so the URL parser reads the host as IPv4.
pub(super) fn ends_in_number(host: &[u8]) -> bool {
    let body = host.strip_suffix(b".").unwrap_or(host);
    let last = body.rsplit(|&c| c == b'.').next().unwrap_or(body);
    (!last.is_empty() && last.iter().all(u8::is_ascii_digit))
        || last
            .strip_prefix(b"0x")
            .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
}

/// Host as a browser serialises it: lower-case ASCII (IDNs arrive as `xn--`)
/// labels of at most 63 bytes, at most 253 bytes with one optional trailing
/// dot; or an IPv4 address in dotted-decimal form; or a bracketed IPv6
/// literal in its RFC 5952 form (never IPv4-mapped).
pub(super) fn is_canonical_host(h: &str) -> bool {
    let b = h.as_bytes();
    if b.is_empty() || b.len() > MAX_HOST_LEN {
        return false;
    }
    if let Some(inner) = h.strip_prefix('[') {
        let Some(inner) = inner.strip_suffix(']') else {
            return false;
        };
        // A browser serialises the address itself, so its one text is the
        // only spelling accepted; an IPv4-mapped one is the IPv4 host in
        // disguise (and is shown in another form).
        return inner.len() <= 39
            && inner.bytes().all(|c| c.is_ascii_hexdigit() || c == b':')
            && inner
                .parse::<std::net::Ipv6Addr>()
                .is_ok_and(|a| a.to_ipv4_mapped().is_none() && a.to_string() == inner);
    }
    if ends_in_number(b) {
        return h
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|a| a.to_string() == h);
    }
    // Labels of [a-z0-9_-], none empty, one optional trailing dot. One pass
    // over the bytes (a `split` per label costs several times more, and this
    // runs for every policy entry and every request's `Origin`).
    let body = b.strip_suffix(b".").unwrap_or(b);
    if body.len() > MAX_HOST_LEN - 1 {
        return false;
    }
    let mut label_len = 0usize;
    for &c in body {
        if c == b'.' {
            if label_len == 0 {
                return false;
            }
            label_len = 0;
        } else if c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_' {
            label_len += 1;
            if label_len > MAX_LABEL_LEN {
                return false;
            }
        } else {
            return false;
        }
    }
    label_len > 0
}

/// Parses a canonical port: digits, no leading zero, at most 65535.
fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || p.len() > 5 || (p.len() > 1 && p.starts_with('0')) {
        return None;
    }
    if !p.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    p.parse().ok()
}

/// Splits `host[:port]`, honouring IPv6 brackets. `None` when text follows
/// an IPv6 literal's `]` that is not a `:port` (`[::1]junk`).
pub(super) fn split_host_port(s: &str) -> Option<(&str, Option<&str>)> {
    if s.starts_with('[') {
        match s.find(']') {
            Some(i) => {
                let (h, rest) = s.split_at(i + 1);
                match rest {
                    "" => Some((h, None)),
                    _ => rest.strip_prefix(':').map(|p| (h, Some(p))),
                }
            }
            None => Some((s, None)),
        }
    } else {
        Some(match s.rfind(':') {
            Some(i) => (&s[..i], Some(&s[i + 1..])),
            None => (s, None),
        })
    }
}

/// `host`'s proper parent domains, longest first: "b.example.com",
/// "example.com" and "com" for "a.b.example.com".
/// The one suffix walk of both matchers: the hashed set looks each suffix
/// up, the compiled table each reversed prefix. A host is never its own
/// parent ("*.example.com" does not match "example.com"), "evil-example.com"
/// has no dot before "example.com", and an IPv6 literal has no parents.
pub(crate) fn parent_domains(host: &str) -> impl Iterator<Item = &str> {
    let labels = if host.starts_with('[') { 0 } else { host.len() };
    host.bytes()
        .take(labels)
        .enumerate()
        .filter(|&(_, b)| b == b'.')
        .map(move |(i, _)| &host[i + 1..])
}

/// Parses a request's `Origin` value. `None` means it is not the canonical
/// serialisation of a tuple origin (the caller treats that as a refusal).
/// `null` is not a tuple origin and is handled by the caller.
pub fn parse_origin(s: &str) -> Option<OriginParts<'_>> {
    if s.len() > MAX_ORIGIN_LEN {
        return None;
    }
    // A scheme has no ':', so the first one must start "://" (cheaper than a
    // substring search; this runs for every policy entry and every request).
    let colon = s.bytes().position(|b| b == b':')?;
    let (scheme, rest) = (&s[..colon], s[colon..].strip_prefix("://")?);
    if scheme.len() > MAX_SCHEME_LEN || !is_scheme(scheme) {
        return None;
    }
    let (host, port) = split_host_port(rest)?;
    if !is_canonical_host(host) {
        return None;
    }
    let port = match port {
        None => None,
        Some(p) => {
            let n = parse_port(p)?;
            if default_port(scheme) == Some(n) {
                return None;
            }
            Some(n)
        }
    };
    Some(OriginParts { scheme, host, port })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::origin::parse_pattern;

    #[test]
    fn parses_canonical_origins_only() {
        assert!(parse_origin("https://app.example.com").is_some());
        assert!(parse_origin("http://localhost:8080").is_some());
        assert!(parse_origin("http://[::1]:3000").is_some());
        for bad in [
            "https://App.example.com",
            "HTTPS://app.example.com",
            "https://app.example.com/",
            "https://app.example.com:443",
            "http://app.example.com:80",
            "https://user@app.example.com",
            "https://app.example.com:08080",
            "https://app.example.com:99999",
            "https://app..example.com",
            "https://.example.com",
            "https://app.example.com ",
            "https://app.example.com\r\nx: y",
            "https://",
            "app.example.com",
            "https://ex%61mple.com",
        ] {
            assert!(parse_origin(bad).is_none(), "{bad:?} must not parse");
        }
    }

    proptest::proptest! {
        /// The one-pass host check accepts exactly what the rule says: labels
        /// of [a-z0-9_-], none empty, one optional trailing dot (written here
        /// the plain way, with `split`); a host whose last label is a number
        /// (what the URL standard parses as IPv4) only as four decimal
        /// numbers up to 255 without leading zeros.
        #[test]
        fn host_check_is_the_label_rule(h in "[aZ0-9x._-]{0,12}|\\[[a:.]{0,4}\\]?") {
            let rule = if h.starts_with('[') {
                is_canonical_host(&h) // the IPv6 branch has its own tests
            } else {
                let body = h.strip_suffix('.').unwrap_or(&h);
                let last = body.rsplit('.').next().unwrap_or("");
                let numeric = (!last.is_empty() && last.bytes().all(|c| c.is_ascii_digit()))
                    || last.strip_prefix("0x").is_some_and(|x| x.bytes().all(|c| c.is_ascii_hexdigit()));
                if numeric {
                    let parts: Vec<&str> = h.split('.').collect();
                    parts.len() == 4
                        && parts.iter().all(|p| {
                            !p.is_empty()
                                && p.bytes().all(|c| c.is_ascii_digit())
                                && (p.len() == 1 || !p.starts_with('0'))
                                && p.len() <= 3
                                && p.parse::<u32>().is_ok_and(|n| n <= 255)
                        })
                } else {
                    !body.is_empty()
                        && body.split('.').all(|l| {
                            !l.is_empty()
                                && l.bytes().all(|c| {
                                    c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_'
                                })
                        })
                }
            };
            proptest::prop_assert_eq!(is_canonical_host(&h), rule, "{:?}", h);
        }
    }

    #[test]
    fn hosts_are_held_to_what_a_browser_serialises() {
        for ok in [
            "127.0.0.1",
            "[::1]",
            "[2001:db8::1]",
            "[::]",
            "[fe80::1:2]",
            "a.b",
            "x.0a",
            "0xg",
        ] {
            assert!(is_canonical_host(ok), "{ok}");
        }
        let long_label = format!("{}.example", "a".repeat(64));
        let long_name = format!("{}example", "abcdefghi.".repeat(25));
        for bad in [
            "[::1]junk",
            "[::ffff:1.2.3.4]",
            "[::ffff:102:304]",
            "[0:0:0:0:0:0:0:1]",
            "[::1:2:3:4:5:6:7]",
            "[2001:DB8::1]",
            "[::1%25eth0]",
            "[1.2.3.4]",
            "1.2.3",
            "01.2.3.4",
            "1.2.3.4.",
            "0x7f.0.0.1",
            "a.0x1",
            "0x",
            "256.0.0.1",
            "example.123",
            &long_label,
            &long_name,
        ] {
            assert!(!is_canonical_host(bad), "{bad}");
        }
        assert!(parse_origin("http://[::1]junk").is_none());
        assert!(parse_origin("http://[::1]:3000").is_some());
        assert!(parse_pattern("http://[::1]junk").is_err());
        let e = parse_pattern("https://*.0.1").unwrap_err();
        assert!(e.message.contains("IP address has no subdomains"), "{e}");
        assert!(parse_pattern("https://*.example.123").is_err());
        assert!(parse_pattern(&format!("https://*.{}", "a".repeat(64))).is_err());
        assert!(parse_pattern("http://127.0.0.1:*").is_ok());
    }

    #[test]
    fn no_origin_longer_than_a_real_one_parses() {
        let host = format!(
            "{}.{}.{}.{}",
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61)
        );
        assert_eq!(host.len(), 253);
        let longest = format!("https://{host}:65535");
        assert!(parse_origin(&longest).is_some());
        let scheme = "s".repeat(MAX_SCHEME_LEN);
        let at_bound = format!("{scheme}://{host}.:65535");
        assert_eq!(at_bound.len(), MAX_ORIGIN_LEN);
        assert!(parse_origin(&at_bound).is_some());
        assert!(parse_origin(&format!("{scheme}s://{host}.:65535")).is_none());
        assert!(
            parse_origin(&format!("https://{}", "a.".repeat(30_000) + "example.com")).is_none()
        );
    }
}
