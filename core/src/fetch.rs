//! The Fetch standard's tables, one copy of each: the methods and request
//! headers browsers send without a preflight, the ones they normalise, and
//! the ones a script can never send.

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

#[cfg(test)]
mod tests {
    use super::*;

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
