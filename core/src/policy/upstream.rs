//! A route's `upstream`: the only place a route can send to.

use super::{Upstream, UpstreamScheme};

/// Parses a route's `upstream`: `http`/`https`, an authority without user
/// info, an optional base path, nothing else.
pub fn parse_upstream(s: &str) -> Result<Upstream, String> {
    const EXPECTED: &str = "expected \"http(s)://host[:port][/base/path]\"";
    let (scheme, rest) = match s.split_once("://") {
        Some(("https", rest)) => (UpstreamScheme::Https, rest),
        Some(("http", rest)) => (UpstreamScheme::Http, rest),
        Some((other, _)) => {
            return Err(format!(
                "\"{s}\": scheme \"{other}\" is not supported; {EXPECTED}"
            ))
        }
        None => return Err(format!("\"{s}\" is not a URL; {EXPECTED}")),
    };
    if rest.contains(['?', '#']) {
        return Err(format!("\"{s}\" has a query or fragment; {EXPECTED}"));
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(format!(
            "\"{s}\" contains user info; credentials in an upstream URL would leak into logs. {EXPECTED}"
        ));
    }
    // The `http` crate's authority parser is the one the request path uses.
    let parsed: http::uri::Authority = authority
        .parse()
        .map_err(|_| format!("\"{s}\": \"{authority}\" is not a valid host[:port]; {EXPECTED}"))?;
    if parsed.host().is_empty() {
        return Err(format!("\"{s}\" has no host; {EXPECTED}"));
    }
    if !path.is_empty() && (path.contains('%') || crate::path::check(path, false).is_err()) {
        return Err(format!("\"{s}\": the base path must be a plain canonical path: no dot or empty segments, \";\", backslashes, percent-encoding, white space or control characters"));
    }
    Ok(Upstream {
        scheme,
        authority: authority.to_ascii_lowercase(),
        base_path: path.trim_end_matches('/').to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_forms() {
        let u = parse_upstream("https://Api.Example.com:8443/v1/").unwrap();
        assert_eq!(u.authority, "api.example.com:8443");
        assert_eq!(u.base_path, "/v1");
        assert!(parse_upstream("https://api.example.com?x=1").is_err());
        assert!(parse_upstream("https://").is_err());
        assert!(parse_upstream("https://a b").is_err());
    }
}
