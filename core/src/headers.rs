//! Header-level rules from the Fetch standard and RFC 9110 that the policy
//! validator and the decision engine share.

/// Bounds on `Access-Control-Request-Headers`. A browser sends one name per
/// non-safelisted header the script set; real pages stay far below these, so
/// anything larger is refused before any per-name work is done.
pub const MAX_REQUEST_HEADERS_BYTES: usize = 4096;
pub const MAX_REQUEST_HEADER_NAMES: usize = 64;

/// Bound on a whole header block (names + values) the gateway handles. Real
/// browser requests stay far below; WASI hosts refuse larger field sets (64 KiB
/// is half of wasmtime's default limit), so the gateway refuses them first,
/// with a status, instead of letting the host fail mid-request.
pub const MAX_HEADER_BLOCK_BYTES: usize = 64 * 1024;

/// Size of a header block as WASI hosts count it (names plus values).
pub fn header_block_len<N: AsRef<str>, V: AsRef<[u8]>>(headers: &[(N, V)]) -> usize {
    headers
        .iter()
        .map(|(n, v)| n.as_ref().len() + v.as_ref().len())
        .sum()
}

/// RFC 9110 `tchar`.
#[inline]
pub fn is_tchar(b: u8) -> bool {
    matches!(b,
        b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' |
        b'^' | b'_' | b'`' | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z')
}

/// RFC 9110 `token`: what a method or a header name must be.
pub fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// Methods a browser sends without asking first (Fetch: CORS-safelisted method).
pub fn is_safelisted_method(m: &str) -> bool {
    matches!(m, "GET" | "HEAD" | "POST")
}

/// Fetch normalises these six (case-insensitively) to upper case before sending,
/// so a policy that lists `delete` would never match what a browser sends.
pub const NORMALISED_METHODS: [&str; 6] = ["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"];

/// Methods a browser refuses to send at all (Fetch: forbidden method).
pub fn is_forbidden_method(m: &str) -> bool {
    ["CONNECT", "TRACE", "TRACK"]
        .iter()
        .any(|f| f.eq_ignore_ascii_case(m))
}

/// Fetch "forbidden request-header" names: scripts cannot set them, so listing one
/// in `allow_headers` is always a mistake. `name` must be lower case.
pub fn is_forbidden_request_header(name: &str) -> bool {
    const FORBIDDEN: [&str; 21] = [
        "accept-charset",
        "accept-encoding",
        "access-control-request-headers",
        "access-control-request-method",
        "access-control-request-private-network",
        "connection",
        "content-length",
        "cookie",
        "cookie2",
        "date",
        "dnt",
        "expect",
        "host",
        "keep-alive",
        "origin",
        "referer",
        "set-cookie",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ];
    FORBIDDEN.contains(&name)
        || name == "via"
        || name.starts_with("proxy-")
        || name.starts_with("sec-")
}

/// Request-header names a browser never puts in `Access-Control-Request-Headers`
/// for their common values (Fetch: CORS-safelisted request-header). Listing them
/// in `allow_headers` only matters for unusual values; `check` says so.
pub fn is_safelisted_request_header_name(name: &str) -> bool {
    matches!(
        name,
        "accept" | "accept-language" | "content-language" | "content-type" | "range"
    )
}

/// Response headers every script can read without `Access-Control-Expose-Headers`
/// (Fetch: CORS-safelisted response-header name).
pub fn is_safelisted_response_header_name(name: &str) -> bool {
    matches!(
        name,
        "cache-control"
            | "content-language"
            | "content-length"
            | "content-type"
            | "expires"
            | "last-modified"
            | "pragma"
    )
}

/// RFC 9110 §7.6.1 hop-by-hop fields plus the legacy ones proxies strip, and the
/// ones a WASI host refuses in outgoing requests. Lower case.
pub const HOP_BY_HOP: [&str; 10] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "http2-settings",
];

/// True when `name` (any case) must not be forwarded in either direction,
/// either because it is hop-by-hop or because `connection_values` (the raw
/// `Connection` header values of the same message) name it.
pub fn is_hop_by_hop(name: &str, connection_values: &[&[u8]]) -> bool {
    if HOP_BY_HOP.iter().any(|h| h.eq_ignore_ascii_case(name)) {
        return true;
    }
    connection_values.iter().any(|v| {
        v.split(|&b| b == b',')
            .map(trim_ows)
            .any(|tok| tok.eq_ignore_ascii_case(name.as_bytes()))
    })
}

/// Strip optional white space (SP / HTAB) from both ends.
#[inline]
pub fn trim_ows(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |i| i + 1);
    &s[start..end]
}

/// Why an `Access-Control-Request-Headers` value was refused before matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderListError {
    TooLarge,
    TooMany,
    NotAToken,
}

/// Iterates the names of one or more `Access-Control-Request-Headers` lines,
/// tolerating any case, order, optional white space, empty elements and
/// duplicates. Validates the bounds up front so a hostile list costs one scan.
pub fn parse_request_header_list<'a>(
    lines: &'a [&'a [u8]],
) -> Result<impl Iterator<Item = &'a [u8]> + 'a, HeaderListError> {
    let total: usize = lines.iter().map(|l| l.len()).sum();
    if total > MAX_REQUEST_HEADERS_BYTES {
        return Err(HeaderListError::TooLarge);
    }
    let mut count = 0usize;
    for name in names(lines) {
        count += 1;
        if count > MAX_REQUEST_HEADER_NAMES {
            return Err(HeaderListError::TooMany);
        }
        if !is_token(name) {
            return Err(HeaderListError::NotAToken);
        }
    }
    Ok(names(lines))
}

fn names<'a>(lines: &'a [&'a [u8]]) -> impl Iterator<Item = &'a [u8]> + 'a {
    lines
        .iter()
        .flat_map(|l| l.split(|&b| b == b','))
        .map(trim_ows)
        .filter(|n| !n.is_empty())
}

/// Merges the gateway's `Vary` tokens into the upstream's `Vary` lines: keeps
/// every upstream token, adds the missing ones, and keeps a lone `*` (which
/// already varies on everything). Returns `None` when nothing is to be sent.
pub fn merge_vary(upstream: &[&[u8]], add: Option<&str>) -> Option<String> {
    let mut tokens: Vec<&str> = Vec::new();
    let existing = upstream
        .iter()
        .flat_map(|l| l.split(|&b| b == b','))
        .map(trim_ows)
        .filter_map(|t| std::str::from_utf8(t).ok())
        .filter(|t| !t.is_empty() && is_token(t.as_bytes()));
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

    #[test]
    fn header_list_is_tolerant() {
        let lines: [&[u8]; 2] = [b" Content-Type ,X-Trace,, x-trace", b"\tauthorization"];
        let got: Vec<&[u8]> = parse_request_header_list(&lines).unwrap().collect();
        assert_eq!(
            got,
            vec![
                &b"Content-Type"[..],
                b"X-Trace",
                b"x-trace",
                b"authorization"
            ]
        );
    }

    #[test]
    fn header_list_is_bounded() {
        let big = vec![b'a'; MAX_REQUEST_HEADERS_BYTES + 1];
        let lines: [&[u8]; 1] = [&big];
        assert_eq!(
            parse_request_header_list(&lines).err(),
            Some(HeaderListError::TooLarge)
        );
        let many = "a,".repeat(MAX_REQUEST_HEADER_NAMES + 1);
        let lines: [&[u8]; 1] = [many.as_bytes()];
        assert_eq!(
            parse_request_header_list(&lines).err(),
            Some(HeaderListError::TooMany)
        );
        let lines: [&[u8]; 1] = [b"x-ok, bad header"];
        assert_eq!(
            parse_request_header_list(&lines).err(),
            Some(HeaderListError::NotAToken)
        );
    }

    #[test]
    fn hop_by_hop_includes_connection_named() {
        let conn: [&[u8]; 1] = [b"close, X-Secret"];
        assert!(is_hop_by_hop("x-secret", &conn));
        assert!(is_hop_by_hop("Transfer-Encoding", &[]));
        assert!(!is_hop_by_hop("x-other", &conn));
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

    #[test]
    fn forbidden_names() {
        assert!(is_forbidden_request_header("cookie"));
        assert!(is_forbidden_request_header("sec-fetch-mode"));
        assert!(is_forbidden_request_header("proxy-foo"));
        assert!(!is_forbidden_request_header("authorization"));
        assert!(is_forbidden_method("connect"));
        assert!(!is_forbidden_method("PATCH"));
    }
}
