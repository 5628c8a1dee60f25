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

/// CORS-safelisted request headers whose every common value is safelisted
/// (Fetch bounds the value; browsers send theirs without a preflight).
/// Listing them in `allow_headers` only matters for unusual values; `check`
/// says so.
pub const SAFELISTED_ANY_VALUE: [&str; 3] = ["accept", "accept-language", "content-language"];

/// Whether a browser sends a request header without asking first (Fetch:
/// CORS-safelisted request-header), for a lower-case `name` and the value a
/// script set: the three above up to 128 bytes, a `content-type` of one of
/// the three form types, a `range` of bytes. Any other header is listed in
/// `Access-Control-Request-Headers`.
pub fn is_safelisted_request_header(name: &str, value: &str) -> bool {
    if SAFELISTED_ANY_VALUE.contains(&name) {
        return value.len() <= 128;
    }
    match name {
        "content-type" => {
            let essence = value.split(';').next().unwrap_or("").trim();
            [
                "application/x-www-form-urlencoded",
                "multipart/form-data",
                "text/plain",
            ]
            .iter()
            .any(|t| t.eq_ignore_ascii_case(essence))
        }
        "range" => value.starts_with("bytes="),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safelisted_request_headers_by_value() {
        assert!(is_safelisted_request_header("accept", "*/*"));
        assert!(!is_safelisted_request_header("accept", &"a".repeat(129)));
        assert!(is_safelisted_request_header(
            "content-type",
            "Text/Plain; charset=utf-8"
        ));
        assert!(!is_safelisted_request_header(
            "content-type",
            "application/json"
        ));
        assert!(is_safelisted_request_header("range", "bytes=0-1"));
        assert!(!is_safelisted_request_header("authorization", "x"));
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
