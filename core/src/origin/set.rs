//! The hashed origin set: an `allow_origins` list indexed for matching in a
//! handful of hash lookups, whatever its length.

use super::{parent_domains, OriginMatch, OriginParts, OriginPattern, PortPattern};
use crate::compiled::OriginTable;
use foldhash::fast::FixedState;
use std::collections::{HashMap, HashSet};

type FastSet<K> = HashSet<K, FixedState>;
type FastMap<K, V> = HashMap<K, V, FixedState>;

/// The compiled `allow_origins` list. Exact origins sit in a hash set and
/// wildcard patterns are indexed by host and by domain suffix, so matching
/// costs a handful of hash lookups however long the list is. A compiled
/// policy adds its patterns as a sorted [`OriginTable`] instead.
#[derive(Debug, Clone, Default)]
pub struct OriginSet {
    any: bool,
    null: bool,
    exact: FastSet<Box<str>>,
    subdomains: FastMap<Box<str>, Vec<(Box<str>, PortPattern)>>,
    any_port: FastMap<Box<str>, Vec<Box<str>>>,
    table: Option<OriginTable>,
    len: usize,
}

impl OriginSet {
    pub fn from_patterns<I: IntoIterator<Item = OriginPattern>>(patterns: I) -> Self {
        let mut set = OriginSet::default();
        for p in patterns {
            set.len += 1;
            match p {
                OriginPattern::Any => set.any = true,
                OriginPattern::Null => set.null = true,
                OriginPattern::Exact(s) => {
                    set.exact.insert(s.into());
                }
                OriginPattern::Subdomains {
                    scheme,
                    suffix,
                    port,
                } => set
                    .subdomains
                    .entry(suffix.into())
                    .or_default()
                    .push((scheme.into(), port)),
                OriginPattern::AnyPort { scheme, host } => set
                    .any_port
                    .entry(host.into())
                    .or_default()
                    .push(scheme.into()),
            }
        }
        set
    }

    /// Adds a compiled policy's table of patterns.
    pub fn with_table(mut self, table: OriginTable) -> Self {
        self.len += table.len();
        self.table = Some(table);
        self
    }

    /// True when the list contains `"*"`.
    pub fn allows_any(&self) -> bool {
        self.any
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Matches a request origin that has already been checked to be `null` or
    /// to parse with [`parse_origin`] (passed as `parts`).
    pub fn matches(&self, origin: &str, parts: Option<&OriginParts<'_>>) -> Option<OriginMatch> {
        if self.any {
            // `*` allows every origin, `null` included: a `*` response is
            // readable by any page anyway, so refusing `null` would add nothing.
            return Some(OriginMatch::Any);
        }
        let Some(parts) = parts else {
            return self.null.then_some(OriginMatch::Null);
        };
        if self.exact.contains(origin) {
            return Some(OriginMatch::Exact);
        }
        if parts.port.is_some() {
            if let Some(schemes) = self.any_port.get(parts.host) {
                if schemes.iter().any(|s| &**s == parts.scheme) {
                    return Some(OriginMatch::AnyPort);
                }
            }
        }
        if !self.subdomains.is_empty() {
            let host = parts.host;
            for suffix in parent_domains(host) {
                if let Some(entries) = self.subdomains.get(suffix) {
                    if entries
                        .iter()
                        .any(|(s, p)| &**s == parts.scheme && p.matches(parts.port))
                    {
                        return Some(OriginMatch::Subdomain);
                    }
                }
            }
        }
        match &self.table {
            Some(t) => t.matches(origin, parts),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::origin::{parse_origin, parse_pattern};

    fn set(entries: &[&str]) -> OriginSet {
        OriginSet::from_patterns(entries.iter().map(|e| parse_pattern(e).unwrap()))
    }

    fn allowed(s: &OriginSet, origin: &str) -> bool {
        if origin == "null" {
            return s.matches(origin, None).is_some();
        }
        match parse_origin(origin) {
            Some(p) => s.matches(origin, Some(&p)).is_some(),
            None => false,
        }
    }

    #[test]
    fn subdomain_pattern_resists_suffix_and_prefix_tricks() {
        let s = set(&["https://*.example.com"]);
        assert!(allowed(&s, "https://a.example.com"));
        assert!(allowed(&s, "https://a.b.c.example.com"));
        for bad in [
            "https://example.com",
            "https://evil-example.com",
            "https://example.com.evil.net",
            "https://a.example.com.evil.net",
            "http://a.example.com",
            "https://a.example.com:8443",
            "https://a.example.com.",
            "https://a.example.co",
            "https://aexample.com",
        ] {
            assert!(!allowed(&s, bad), "{bad} must not match");
        }
    }

    #[test]
    fn port_patterns() {
        let s = set(&["http://localhost:*", "https://*.dev.example:8443"]);
        assert!(allowed(&s, "http://localhost:3000"));
        assert!(!allowed(&s, "http://localhost"));
        assert!(!allowed(&s, "https://localhost:3000"));
        assert!(!allowed(&s, "http://localhost.evil.net:3000"));
        assert!(allowed(&s, "https://a.dev.example:8443"));
        assert!(!allowed(&s, "https://a.dev.example"));
    }

    #[test]
    fn exact_is_byte_exact_and_null_is_literal() {
        let s = set(&["https://app.example.com"]);
        assert!(allowed(&s, "https://app.example.com"));
        assert!(!allowed(&s, "https://app.example.com:443"));
        assert!(!allowed(&s, "null"));
        let s = set(&["null"]);
        assert!(allowed(&s, "null"));
        let s = set(&["*"]);
        assert!(allowed(&s, "https://anything.test"));
    }
}
