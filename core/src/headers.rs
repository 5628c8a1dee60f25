//! Header syntax and limits from RFC 9110 that the policy validator, the
//! decision engine and the forwarding rules share: tokens, optional white
//! space, hop-by-hop fields, and the bounds on what the gateway reads.

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

/// A checked RFC 9110 token: a method or a header name as a policy lists it.
/// Made only by [`Token::new`], so a list of them always joins into a valid
/// header value. Not `http::Method` / `http::HeaderName`: their parsers (the
/// standard-header table) cost the component 4,915 B and 19,878 B (measured
/// on the portable .wasm, budget 400 KiB), and a policy's names only ever
/// reach the host inside a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token(Box<str>);

impl Token {
    /// `s` as a token, or `None` when it is not one (a `String` is kept, not copied).
    pub fn new<S: AsRef<str> + Into<Box<str>>>(s: S) -> Option<Token> {
        is_token(s.as_ref().as_bytes()).then(|| Token(s.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
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
    for name in list_elements(lines) {
        count += 1;
        if count > MAX_REQUEST_HEADER_NAMES {
            return Err(HeaderListError::TooMany);
        }
        if !is_token(name) {
            return Err(HeaderListError::NotAToken);
        }
    }
    Ok(list_elements(lines))
}

/// The elements of a list-valued field's lines (RFC 9110 §5.6.1): split at
/// commas, optional white space trimmed, empty elements dropped.
pub fn list_elements<'a>(lines: &'a [&'a [u8]]) -> impl Iterator<Item = &'a [u8]> + 'a {
    lines
        .iter()
        .flat_map(|l| l.split(|&b| b == b','))
        .map(trim_ows)
        .filter(|n| !n.is_empty())
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
}
