//! The policy's `allow_origins` entries: the pattern language (exact
//! origins, `*.domain` subdomains, `host:*` ports, `*`, `null`), its parser,
//! and the messages that name the canonical form when an entry is written
//! the way no browser sends it.

use super::parse::{
    default_port, ends_in_number, is_canonical_host, is_scheme, parse_origin, split_host_port,
    MAX_HOST_LEN, MAX_LABEL_LEN, MAX_SCHEME_LEN,
};

/// The port part of a wildcard pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortPattern {
    /// No port in the origin (the scheme's default).
    Default,
    Exact(u16),
    /// `:*`: any explicit port.
    Any,
}

/// How the port part is written after the host: nothing, `:N` or `:*`.
impl std::fmt::Display for PortPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PortPattern::Default => Ok(()),
            PortPattern::Exact(n) => write!(f, ":{n}"),
            PortPattern::Any => f.write_str(":*"),
        }
    }
}

impl PortPattern {
    pub(super) fn matches(self, port: Option<u16>) -> bool {
        match self {
            PortPattern::Default => port.is_none(),
            PortPattern::Exact(p) => port == Some(p),
            PortPattern::Any => port.is_some(),
        }
    }
}

/// One parsed `allow_origins` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginPattern {
    Any,
    Null,
    /// Matched byte for byte.
    Exact(String),
    /// `scheme://*.suffix[:port|:*]`: strict subdomains of `suffix`, any depth.
    Subdomains {
        scheme: String,
        suffix: String,
        port: PortPattern,
    },
    /// `scheme://host:*`.
    AnyPort {
        scheme: String,
        host: String,
    },
}

/// A policy entry that is not a valid pattern, with the canonical form when the
/// mistake is mechanical (case, default port, trailing slash or path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    pub message: String,
    pub canonical: Option<String>,
}

impl std::fmt::Display for PatternError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if let Some(c) = &self.canonical {
            write!(f, "; the browser sends \"{c}\", write that")?;
        }
        Ok(())
    }
}

fn err(message: impl Into<String>) -> PatternError {
    PatternError {
        message: message.into(),
        canonical: None,
    }
}

const EXPECTED: &str = "expected an origin \"scheme://host[:port]\", \"scheme://*.domain\", \"scheme://host:*\", \"*\" or \"null\"";

/// Parses one `allow_origins` entry.
pub fn parse_pattern(entry: &str) -> Result<OriginPattern, PatternError> {
    // Fast path for the common case, an exact origin already in canonical
    // form: no allocation but the entry itself. `+` is left to the general
    // parser, which reads it as a regex hint (a scheme may contain it).
    if !entry.contains('+') && parse_origin(entry).is_some() {
        return Ok(OriginPattern::Exact(entry.to_string()));
    }
    parse_pattern_general(entry)
}

/// [`parse_pattern`] without the fast path: every entry, every message.
pub fn parse_pattern_general(entry: &str) -> Result<OriginPattern, PatternError> {
    match entry {
        "*" => return Ok(OriginPattern::Any),
        "null" => return Ok(OriginPattern::Null),
        _ => {}
    }
    if entry.is_empty() {
        return Err(err(format!("empty origin; {EXPECTED}")));
    }
    if entry.trim() != entry || entry.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(err(format!(
            "\"{entry}\" contains white space or control characters; {EXPECTED}"
        )));
    }
    if !entry.is_ascii() {
        return Err(err(format!(
            "\"{entry}\" is not ASCII: browsers send internationalised hosts in their punycode (xn--) form; write that"
        )));
    }
    if entry.bytes().any(|b| {
        matches!(
            b,
            b'^' | b'$' | b'\\' | b'(' | b')' | b'[' | b'|' | b'+' | b'?' | b'{'
        )
    }) && !entry.contains("://[")
    {
        return Err(err(format!(
            "\"{entry}\" looks like a regular expression; patterns are not regexes. {EXPECTED}"
        )));
    }
    let Some((scheme_raw, rest_raw)) = entry.split_once("://") else {
        return Err(err(format!(
            "\"{entry}\" has no scheme (a bare domain is ambiguous: http or https?); {EXPECTED}, e.g. \"https://{entry}\""
        )));
    };
    let scheme = scheme_raw.to_ascii_lowercase();
    if !is_scheme(&scheme) {
        return Err(err(format!(
            "\"{entry}\": \"{scheme_raw}\" is not a URL scheme"
        )));
    }
    // Mechanical deviations from the canonical form are collected and reported
    // together with the form the browser actually sends.
    let mut fixes: Vec<&str> = Vec::new();
    if scheme != scheme_raw {
        fixes.push("the scheme must be lower case");
    }
    let authority = match rest_raw.find(['/', '?', '#']) {
        Some(i) => {
            fixes.push(if &rest_raw[i..] == "/" {
                "an origin has no trailing slash"
            } else {
                "an origin has no path, query or fragment"
            });
            &rest_raw[..i]
        }
        None => rest_raw,
    };
    if authority.contains('@') {
        return Err(err(format!(
            "\"{entry}\": an origin has no user name or password (\"user@\"); {EXPECTED}"
        )));
    }
    let Some((host_raw, port_raw)) = split_host_port(authority) else {
        return Err(err(format!(
            "\"{entry}\": only \":port\" may follow an IPv6 address's \"]\"; {EXPECTED}"
        )));
    };
    let host = host_raw.to_ascii_lowercase();
    if host != host_raw {
        fixes.push("the host must be lower case");
    }
    let port = match port_raw {
        None => PortPattern::Default,
        Some("*") => PortPattern::Any,
        Some(p) => {
            let digits = p.trim_start_matches('0');
            let n: u16 = match (p.bytes().all(|c| c.is_ascii_digit()), digits.parse()) {
                (true, Ok(n)) if !p.is_empty() => n,
                (true, _) if !p.is_empty() && digits.is_empty() => 0,
                _ => {
                    return Err(err(format!(
                    "\"{entry}\": \"{p}\" is not a port (a number up to 65535, or * for any port)"
                )))
                }
            };
            // "0" is canonical; "00", "000", "080" are not.
            if p.len() > 1 && p.starts_with('0') {
                fixes.push("a port has no leading zeros");
            }
            if default_port(&scheme) == Some(n) {
                fixes.push("the default port is never part of an origin");
                PortPattern::Default
            } else {
                PortPattern::Exact(n)
            }
        }
    };
    let (wild, bare_host) = match host.strip_prefix("*.") {
        Some(suffix) => (true, suffix.to_string()),
        None => (false, host.clone()),
    };
    if bare_host.contains('*') {
        return Err(err(format!(
            "\"{entry}\": '*' is only allowed as the whole first label (\"https://*.example.com\") or as the whole port (\"http://localhost:*\")"
        )));
    }
    if wild && (bare_host.starts_with('[') || ends_in_number(bare_host.as_bytes())) {
        return Err(err(format!(
            "\"{entry}\": an IP address has no subdomains (a host whose last label is a number is an IPv4 address to a browser)"
        )));
    }
    if scheme.len() > MAX_SCHEME_LEN {
        return Err(err(format!(
            "\"{entry}\": the scheme is longer than {MAX_SCHEME_LEN} bytes; {EXPECTED}"
        )));
    }
    // A subdomain adds at least two bytes ("a.") to the suffix.
    let room = if wild { MAX_HOST_LEN - 3 } else { MAX_HOST_LEN };
    if bare_host.len() > room || bare_host.split('.').any(|l| l.len() > MAX_LABEL_LEN) {
        return Err(err(format!(
            "\"{entry}\": a host name has labels of at most {MAX_LABEL_LEN} bytes and at most 253 bytes in all{}",
            if wild { ", its subdomains included" } else { "" }
        )));
    }
    if !is_canonical_host(&bare_host) {
        return Err(err(format!(
            "\"{entry}\": \"{host_raw}\" is not a valid host{}",
            if bare_host.starts_with('[') {
                " (an IPv6 address is written as browsers serialise it: lower case, zeros compressed, never IPv4-mapped)"
            } else if ends_in_number(bare_host.as_bytes()) {
                " (a host ending in a number is an IPv4 address, written as four decimal numbers without leading zeros)"
            } else {
                ""
            }
        )));
    }
    if !fixes.is_empty() {
        let canonical = format!("{scheme}://{host}{port}");
        return Err(PatternError {
            message: format!("\"{entry}\" is not in canonical form: {}", fixes.join(", ")),
            canonical: Some(canonical),
        });
    }
    Ok(match (wild, port) {
        (true, port) => OriginPattern::Subdomains {
            scheme,
            suffix: bare_host,
            port,
        },
        (false, PortPattern::Any) => OriginPattern::AnyPort {
            scheme,
            host: bare_host,
        },
        (false, _) => OriginPattern::Exact(entry.to_string()),
    })
}

impl OriginPattern {
    /// The pattern's one canonical spelling (what a policy writes for it), the
    /// key of the compiled policy's sorted table. `*` and `null` have none:
    /// they are flags of the set, never table entries.
    pub fn table_key(&self) -> Option<String> {
        Some(match self {
            OriginPattern::Any | OriginPattern::Null => return None,
            OriginPattern::Exact(s) => s.clone(),
            OriginPattern::Subdomains {
                scheme,
                suffix,
                port,
            } => format!("{scheme}://*.{suffix}{port}"),
            OriginPattern::AnyPort { scheme, host } => {
                format!("{scheme}://{host}{}", PortPattern::Any)
            }
        })
    }

    /// True when every origin `inner` allows, `self` allows too (`check`
    /// reports an entry another one already covers).
    pub fn covers(&self, inner: &OriginPattern) -> bool {
        use OriginPattern::*;
        match (self, inner) {
            (Any, Any) => false,
            (Any, _) => true,
            (
                Subdomains {
                    scheme,
                    suffix,
                    port,
                },
                Exact(e),
            ) => parse_origin(e).is_some_and(|o| {
                o.scheme == scheme
                    && o.host
                        .strip_suffix(suffix.as_str())
                        .is_some_and(|h| h.ends_with('.') && h.len() > 1)
                    && port.matches(o.port)
            }),
            (
                Subdomains {
                    scheme,
                    suffix,
                    port,
                },
                Subdomains {
                    scheme: s2,
                    suffix: x2,
                    port: p2,
                },
            ) => {
                scheme == s2
                    && port == p2
                    && x2 != suffix
                    && x2
                        .strip_suffix(suffix.as_str())
                        .is_some_and(|h| h.ends_with('.'))
            }
            (AnyPort { scheme, host }, Exact(e)) => parse_origin(e)
                .is_some_and(|o| o.scheme == scheme && o.host == host && o.port.is_some()),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_canonical_entries_name_the_canonical_form() {
        for (entry, canonical) in [
            ("https://App.Example.com", "https://app.example.com"),
            ("HTTPS://app.example.com", "https://app.example.com"),
            ("https://app.example.com/", "https://app.example.com"),
            ("https://app.example.com/path", "https://app.example.com"),
            ("https://app.example.com:443", "https://app.example.com"),
            ("http://localhost:080", "http://localhost"),
            // Found by the origin_match fuzz target: ":000" was taken as exact.
            ("http://localhost:000", "http://localhost:0"),
            ("http://localhost:00080", "http://localhost"),
        ] {
            let e = parse_pattern(entry).unwrap_err();
            assert_eq!(e.canonical.as_deref(), Some(canonical), "{entry}: {e}");
        }
    }

    #[test]
    fn guesses_are_errors() {
        for bad in [
            "example.com",
            "*.example.com",
            "^https://.*\\.example\\.com$",
            "https://*example.com",
            "https://a.*.example.com",
            "https://user:pw@example.com",
            "https://exa mple.com",
            "https://bücher.example",
            "",
            "https://example.com:http",
        ] {
            assert!(parse_pattern(bad).is_err(), "{bad:?} must be an error");
        }
    }
}
