//! `allowed_hosts`: the `Host` values a policy (or a route) answers. Any other
//! `Host` is refused with 421, so a page on a rebound DNS name cannot read
//! the API through the gateway with Origin-less same-origin requests.

use std::fmt;

/// One `allowed_hosts` entry: `host`, `host:port`, `*.domain` or `*.domain:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HostEntry {
    /// Lower case; for a wildcard, the domain after `*.`.
    host: String,
    wildcard: bool,
    /// `None`: any port (or none).
    port: Option<u16>,
}

/// The validated `allowed_hosts` list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostSet {
    entries: Vec<HostEntry>,
}

/// An entry that is not a host: the message names what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostError(pub String);

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const EXPECTED: &str =
    "expected a host name as clients send it in Host: \"api.example.com\", \"api.example.com:8443\", \"*.example.com\" or \"127.0.0.1:3000\"";

fn is_label(l: &str) -> bool {
    !l.is_empty()
        && l.len() <= 63
        && l.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_')
}

/// Splits `host[:port]` (a bracketed IPv6 literal keeps its colons).
fn split_port(s: &[u8]) -> (&[u8], Option<&[u8]>) {
    let colon = if s.first() == Some(&b'[') {
        s.iter()
            .position(|&c| c == b']')
            .and_then(|i| (s.get(i + 1) == Some(&b':')).then_some(i + 1))
    } else {
        s.iter().rposition(|&c| c == b':')
    };
    match colon {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    }
}

fn parse_port(p: &[u8]) -> Option<u16> {
    if p.is_empty() || p.len() > 5 || !p.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(p).ok()?.parse().ok()
}

impl HostSet {
    /// Parses the entries; every bad one is reported with its index.
    pub fn parse<'a>(
        entries: impl IntoIterator<Item = (&'a str, usize)>,
    ) -> Result<HostSet, Vec<(usize, HostError)>> {
        let mut set = HostSet::default();
        let mut errors = Vec::new();
        for (e, i) in entries {
            match Self::entry(e) {
                Ok(h) => set.entries.push(h),
                Err(m) => errors.push((i, m)),
            }
        }
        if errors.is_empty() {
            Ok(set)
        } else {
            Err(errors)
        }
    }

    fn entry(e: &str) -> Result<HostEntry, HostError> {
        let bad = |why: &str| HostError(format!("\"{e}\" {why}; {EXPECTED}"));
        if e.contains("://") || e.contains('/') {
            return Err(bad("is not a host (no scheme or path)"));
        }
        if e != e.to_ascii_lowercase() {
            return Err(bad("must be lower case (Host is matched ignoring case)"));
        }
        let (host, port) = split_port(e.as_bytes());
        let port = match port {
            None => None,
            Some(p) => Some(
                parse_port(p).ok_or_else(|| bad("has a port that is not a number up to 65535"))?,
            ),
        };
        let host = std::str::from_utf8(host).map_err(|_| bad("is not ASCII"))?;
        let (wildcard, name) = match host.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, host),
        };
        let ok = if let Some(v6) = name.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            !wildcard && v6.parse::<std::net::Ipv6Addr>().is_ok()
        } else if name.parse::<std::net::Ipv4Addr>().is_ok() {
            !wildcard
        } else {
            name.len() <= 253 && name.split('.').all(is_label)
        };
        if !ok {
            return Err(bad(if wildcard {
                "is not a wildcard over a domain name (\"*.\" and then a domain)"
            } else {
                "is not a host name or IP address"
            }));
        }
        Ok(HostEntry {
            host: name.to_string(),
            wildcard,
            port,
        })
    }

    /// True when a request's `Host` value is allowed (ASCII case ignored).
    pub fn contains(&self, host: &[u8]) -> bool {
        let (name, port) = split_port(host);
        let port = match port {
            None => None,
            Some(p) => match parse_port(p) {
                Some(n) => Some(n),
                None => return false,
            },
        };
        self.entries.iter().any(|e| {
            let name_ok = if e.wildcard {
                // A strict subdomain: ".example.com" ends the name, and
                // something comes before it.
                name.len() > e.host.len() + 1
                    && name[name.len() - e.host.len()..].eq_ignore_ascii_case(e.host.as_bytes())
                    && name[name.len() - e.host.len() - 1] == b'.'
            } else {
                name.eq_ignore_ascii_case(e.host.as_bytes())
            };
            name_ok && (e.port.is_none() || e.port == port)
        })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(e: &[&str]) -> HostSet {
        HostSet::parse(e.iter().copied().zip(0..)).unwrap()
    }

    #[test]
    fn matches_names_ports_and_subdomains() {
        let s = set(&[
            "api.example.com",
            "admin.example.com:8443",
            "*.tenants.example",
            "127.0.0.1:3000",
            "[::1]",
        ]);
        for ok in [
            "api.example.com",
            "API.Example.com",
            "api.example.com:8080",
            "admin.example.com:8443",
            "a.tenants.example",
            "a.b.tenants.example:9",
            "127.0.0.1:3000",
            "[::1]",
            "[::1]:80",
        ] {
            assert!(s.contains(ok.as_bytes()), "{ok}");
        }
        for no in [
            "evil.com",
            "api.example.com.evil.com",
            "xapi.example.com",
            "admin.example.com",
            "admin.example.com:443",
            "tenants.example",
            "eviltenants.example",
            "127.0.0.1",
            "127.0.0.1:3001",
            "",
            "api.example.com:",
            "api.example.com:x",
            "api.example.com.",
            "[::2]",
        ] {
            assert!(!s.contains(no.as_bytes()), "{no}");
        }
    }

    #[test]
    fn bad_entries_name_what_was_expected() {
        for bad in [
            "https://api.example.com",
            "API.example.com",
            "api.example.com:99999",
            "*.127.0.0.1",
            "a..b",
            "api/x",
            "*",
        ] {
            let errs = HostSet::parse([(bad, 3)]).unwrap_err();
            assert_eq!(errs[0].0, 3);
            assert!(
                errs[0].1 .0.contains("expected a host name"),
                "{bad}: {}",
                errs[0].1
            );
        }
    }
}
