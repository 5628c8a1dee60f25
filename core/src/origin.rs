//! Origins: the strict parser for what a browser sends, the policy's origin
//! patterns, and the set that matches one against the other.
//!
//! Matching never normalises the request: a browser always sends the canonical
//! serialisation, so anything else is either a bug or an attack and is refused.

use foldhash::fast::FixedState;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

type FastSet<K> = HashSet<K, FixedState>;
type FastMap<K, V> = HashMap<K, V, FixedState>;

/// A request `Origin` split into its parts. Only produced by [`parse_origin`],
/// so every field is known to be in canonical form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OriginParts<'a> {
    pub scheme: &'a str,
    pub host: &'a str,
    pub port: Option<u16>,
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        // The URL standard's other special scheme with a default port.
        "ftp" => Some(21),
        _ => None,
    }
}

fn is_scheme(s: &str) -> bool {
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
fn ends_in_number(host: &[u8]) -> bool {
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
fn is_canonical_host(h: &str) -> bool {
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
fn split_host_port(s: &str) -> Option<(&str, Option<&str>)> {
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
    fn matches(self, port: Option<u16>) -> bool {
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

/// How a request origin was allowed; `explain` and the debug header report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginMatch {
    Any,
    Null,
    Exact,
    Subdomain,
    AnyPort,
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
}

/// Origin patterns as a sorted table of their [`OriginPattern::table_key`]s,
/// searched in place: what a compiled policy carries instead of a long JSON
/// list, so loading it costs no work per entry at all. Matching builds the
/// keys a request origin could match (its own origin,
/// `scheme://*.suffix[:port|:*]` for each parent domain, `scheme://host:*`)
/// and compares them piecewise, without allocating.
///
/// Keys are stored with their host's labels in reverse order
/// (`https://com.example.tenant:8443`, `https://com.example.*`; IPv6 literals
/// as they are), so that sorting groups the origins of one domain, and every
/// pattern a request host could match is a prefix of that host reversed.
/// They are front- and back-coded in blocks, because a fresh instance pays
/// for every byte of the table it reads (a page fault per 4 KiB, and the
/// checksum pass): sorted keys share long prefixes (`https://com.example.`)
/// and often suffixes, so 10,000 tenants of 200 domains take about a third
/// of the space of their keys, and sequential names (`app1234`) a tenth. A
/// block holds up to [`BLOCK`] keys; each key is three LEB128 numbers `p`,
/// `s`, `m` and `m`
/// bytes: the first `p` bytes of the previous key, the `m` bytes, then the
/// last `s` bytes of the previous key. A block's first key has `p = s = 0`
/// (it is stored whole, and compared where it lies); a search bisects the
/// blocks by their first keys, then decodes one block. A key longer than
/// [`MAX_KEY`] is a block of its own, so decoding needs only a fixed buffer.
///
/// The table lives in shared bytes (the compiled policy file itself):
/// `blocks` little-endian u32 start offsets at `starts_at` into the
/// `data_len` bytes at `data_at`. Offsets and lengths are bounds-checked where
/// they are read (a damaged block matches nothing, never reads elsewhere); an
/// entry that is not a canonical pattern can never equal a key built from a
/// canonical request origin.
#[derive(Debug, Clone)]
pub struct OriginTable {
    bytes: Arc<Vec<u8>>,
    len: usize,
    starts_at: usize,
    blocks: usize,
    data_at: usize,
    data_len: usize,
}

/// Keys per block: a lookup decodes at most this many.
pub const BLOCK: usize = 16;
/// The longest key decoded through the fixed buffer (a host name has at most
/// 253 bytes; longer keys are blocks of their own).
pub const MAX_KEY: usize = 512;

/// Compares `entry` with the concatenation of `parts`, without building it.
fn cmp_concat(entry: &[u8], parts: &[&[u8]]) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let mut rest = entry;
    for part in parts {
        let n = rest.len().min(part.len());
        match rest[..n].cmp(&part[..n]) {
            Ordering::Equal if rest.len() < part.len() => return Ordering::Less,
            Ordering::Equal => rest = &rest[n..],
            other => return other,
        }
    }
    if rest.is_empty() {
        Ordering::Equal
    } else {
        Ordering::Greater
    }
}

fn put_leb128(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// One LEB128 number at `*at` (advanced past it); `None` past the end or
/// beyond 32 bits.
fn get_leb128(data: &[u8], at: &mut usize) -> Option<usize> {
    let mut n = 0usize;
    for shift in [0, 7, 14, 21, 28] {
        let b = *data.get(*at)?;
        *at += 1;
        n |= usize::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(n);
        }
    }
    None
}

/// One encoded key at `*at`: `(p, s, middle)`.
fn get_entry<'d>(data: &'d [u8], at: &mut usize) -> Option<(usize, usize, &'d [u8])> {
    let p = get_leb128(data, at)?;
    let s = get_leb128(data, at)?;
    let m = get_leb128(data, at)?;
    let middle = data.get(*at..at.checked_add(m)?)?;
    *at += m;
    Some((p, s, middle))
}

/// Writes `host` with its dot-separated labels in reverse order to `out`
/// (the same length): "a.b.example.com" → "com.example.b.a". An IPv6 literal
/// is copied as it is.
fn reverse_labels(host: &[u8], out: &mut [u8]) {
    if host.first() == Some(&b'[') {
        out.copy_from_slice(host);
        return;
    }
    let mut at = 0;
    for (i, label) in host.rsplit(|&c| c == b'.').enumerate() {
        // By label, not by position: a trailing dot's empty label comes first.
        if i > 0 {
            out[at] = b'.';
            at += 1;
        }
        out[at..at + label.len()].copy_from_slice(label);
        at += label.len();
    }
}

/// A key as the table stores it: `scheme://` + the host part (`host` or
/// `*.suffix`) with its labels reversed + the rest (`:port`, `:*`). An
/// involution on the host part, so distinct keys stay distinct.
fn table_form(key: &str) -> String {
    let Some((scheme, rest)) = key.split_once("://") else {
        return key.to_string();
    };
    let end = if rest.starts_with('[') {
        rest.len()
    } else {
        rest.find(':').unwrap_or(rest.len())
    };
    let (host, tail) = rest.split_at(end);
    let mut reversed = vec![0u8; host.len()];
    reverse_labels(host.as_bytes(), &mut reversed);
    let mut out = String::with_capacity(key.len());
    out.push_str(scheme);
    out.push_str("://");
    out.push_str(&String::from_utf8_lossy(&reversed));
    out.push_str(tail);
    out
}

impl OriginTable {
    /// Builds a table from keys ([`OriginPattern::table_key`] spellings;
    /// stored in [`table_form`], sorted and de-duplicated here).
    pub fn from_keys(keys: Vec<String>) -> OriginTable {
        let mut keys: Vec<String> = keys.iter().map(|k| table_form(k)).collect();
        keys.sort_unstable();
        keys.dedup();
        let mut starts = Vec::new();
        let mut data = Vec::new();
        let mut prev: &[u8] = &[];
        let mut in_block = BLOCK;
        for key in &keys {
            let key = key.as_bytes();
            if in_block == BLOCK || key.len() > MAX_KEY || prev.len() > MAX_KEY {
                starts.push(u32::try_from(data.len()).unwrap_or(u32::MAX));
                in_block = 0;
                prev = &[];
            }
            let p = key.iter().zip(prev).take_while(|(a, b)| a == b).count();
            let s = key[p..]
                .iter()
                .rev()
                .zip(prev[p..].iter().rev())
                .take_while(|(a, b)| a == b)
                .count();
            put_leb128(&mut data, p);
            put_leb128(&mut data, s);
            put_leb128(&mut data, key.len() - p - s);
            data.extend_from_slice(&key[p..key.len() - s]);
            prev = key;
            in_block += 1;
        }
        let mut bytes = Vec::with_capacity(starts.len() * 4 + data.len());
        for s in &starts {
            bytes.extend_from_slice(&s.to_le_bytes());
        }
        bytes.extend_from_slice(&data);
        OriginTable {
            bytes: bytes.into(),
            len: keys.len(),
            starts_at: 0,
            blocks: starts.len(),
            data_at: starts.len() * 4,
            data_len: data.len(),
        }
    }

    /// A table inside `bytes`, as [`OriginTable::from_keys`] lays it out:
    /// checks that both regions are inside `bytes` and that a table with
    /// entries has blocks (and one without, none). Nothing per entry or per
    /// block: see the type's docs.
    pub fn in_place(
        bytes: Arc<Vec<u8>>,
        len: usize,
        starts_at: usize,
        blocks: usize,
        data_at: usize,
        data_len: usize,
    ) -> Option<OriginTable> {
        let inside = |at: usize, n: usize| at.checked_add(n).is_some_and(|e| e <= bytes.len());
        if !inside(starts_at, blocks.checked_mul(4)?)
            || !inside(data_at, data_len)
            || (len == 0) != (blocks == 0)
            || blocks > len
        {
            return None;
        }
        Some(OriginTable {
            bytes,
            len,
            starts_at,
            blocks,
            data_at,
            data_len,
        })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The table as the compiled form stores it: the block offsets, then the data.
    pub fn starts_and_data(&self) -> (&[u8], &[u8]) {
        (
            &self.bytes[self.starts_at..self.starts_at + self.blocks * 4],
            self.data(),
        )
    }

    fn data(&self) -> &[u8] {
        &self.bytes[self.data_at..self.data_at + self.data_len]
    }

    /// Block `k`'s bytes, or `None` if its offsets are out of order or bounds.
    fn block(&self, k: usize) -> Option<&[u8]> {
        let start = |k: usize| -> Option<usize> {
            let at = self.starts_at + k * 4;
            let b: &[u8; 4] = self.bytes.get(at..at + 4)?.try_into().ok()?;
            Some(u32::from_le_bytes(*b) as usize)
        };
        let from = start(k)?;
        let to = if k + 1 < self.blocks {
            start(k + 1)?
        } else {
            self.data_len
        };
        self.data().get(from..to)
    }

    /// Block `k`'s first key (stored whole).
    fn first_key(&self, k: usize) -> Option<&[u8]> {
        let block = self.block(k)?;
        match get_entry(block, &mut 0)? {
            (0, 0, key) => Some(key),
            _ => None,
        }
    }

    /// True when the concatenation of `parts` is an entry.
    fn contains(&self, parts: &[&[u8]]) -> bool {
        use std::cmp::Ordering;
        // The last block whose first key is <= the target.
        let (mut lo, mut hi) = (0, self.blocks);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let Some(first) = self.first_key(mid) else {
                return false;
            };
            match cmp_concat(first, parts) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => return true,
            }
        }
        let Some(block) = lo.checked_sub(1).and_then(|k| self.block(k)) else {
            return false;
        };
        // Its first key is below the target (the bisection's verdict): only
        // the keys after it can match.
        let mut at = 0;
        let Some((0, 0, first)) = get_entry(block, &mut at) else {
            return false;
        };
        if first.len() > MAX_KEY {
            return false;
        }
        let mut key = [0u8; MAX_KEY];
        key[..first.len()].copy_from_slice(first);
        let mut key_len = first.len();
        while at < block.len() {
            let Some((p, s, middle)) = get_entry(block, &mut at) else {
                return false;
            };
            if p.checked_add(s).is_none_or(|ps| ps > key_len) || p + s + middle.len() > MAX_KEY {
                return false;
            }
            // The previous key's last `s` bytes move after the new middle.
            key.copy_within(key_len - s..key_len, p + middle.len());
            key[p..p + middle.len()].copy_from_slice(middle);
            key_len = p + middle.len() + s;
            match cmp_concat(&key[..key_len], parts) {
                Ordering::Less => {}
                Ordering::Equal => return true,
                Ordering::Greater => return false,
            }
        }
        false
    }

    fn matches(&self, origin: &str, parts: &OriginParts<'_>) -> Option<OriginMatch> {
        let (scheme, host) = (parts.scheme.as_bytes(), parts.host.as_bytes());
        // A canonical origin is `scheme://host` and then its port spelling,
        // if any (`:8443`): what follows the host.
        let tail = origin
            .as_bytes()
            .get(scheme.len() + 3 + host.len()..)
            .filter(|_| {
                origin
                    .as_bytes()
                    .get(scheme.len() + 3..scheme.len() + 3 + host.len())
                    == Some(host)
            })?;
        // The host reversed, on the stack: a canonical host has at most
        // MAX_HOST_LEN bytes, so no request allocates here.
        let mut stack = [0u8; MAX_HOST_LEN];
        let reversed: &mut [u8] = stack.get_mut(..host.len())?;
        reverse_labels(host, reversed);
        let reversed: &[u8] = reversed;
        if self.contains(&[scheme, b"://", reversed, tail]) {
            return Some(OriginMatch::Exact);
        }
        // The request's own port spelling: canonical, so it is the text after
        // the host's last ':' (never inside an IPv6 literal's brackets).
        let port = parts
            .port
            .map(|_| origin.rsplit_once(':').map_or("", |(_, p)| p).as_bytes());
        if port.is_some() && self.contains(&[scheme, b"://", reversed, b":*"]) {
            return Some(OriginMatch::AnyPort);
        }
        if host.first() == Some(&b'[') {
            return None;
        }
        // Each proper suffix after a dot ("b.example.com", "example.com",
        // "com" of "a.b.example.com"), reversed, is a prefix of the reversed
        // host ("com.example.b", ...), and its pattern is that prefix + ".*".
        for (i, _) in parts.host.match_indices('.') {
            let suffix = &reversed[..host.len() - i - 1];
            let hit = match port {
                None => self.contains(&[scheme, b"://", suffix, b".*"]),
                Some(p) => {
                    self.contains(&[scheme, b"://", suffix, b".*:", p])
                        || self.contains(&[scheme, b"://", suffix, b".*:*"])
                }
            };
            if hit {
                return Some(OriginMatch::Subdomain);
            }
        }
        None
    }
}

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
        if !self.subdomains.is_empty() && !parts.host.starts_with('[') {
            // Try every proper suffix that starts after a dot: "a.b.example.com"
            // looks up "b.example.com" then "example.com" then "com". A host
            // never matches its own pattern ("*.example.com" ≠ "example.com"),
            // and "evil-example.com" has no dot before "example.com".
            let host = parts.host;
            for (i, _) in host.match_indices('.') {
                let suffix = &host[i + 1..];
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

    /// The front-coded table finds exactly its keys, across blocks, with
    /// keys too long for the decoding buffer mixed in, and probes just
    /// before and after each key.
    #[test]
    fn table_finds_exactly_its_keys() {
        let mut keys: Vec<String> = (0..2000)
            .map(|i| match i % 4 {
                0 => format!("https://app{i}.example.com"),
                1 => format!("https://*.t{i}.example.net:8443"),
                2 => format!("http://h{}.test:*", i * 7919 % 1000),
                _ => format!("https://{}.example.org", "a".repeat(i % 300 + 1)),
            })
            .collect();
        keys.push(format!("https://{}.test", "b".repeat(700)));
        keys.push(format!("https://{}.test", "b".repeat(701)));
        keys.push(format!("https://{}c.test", "b".repeat(700)));
        let table = OriginTable::from_keys(keys.clone());
        let all: HashSet<&str> = keys.iter().map(String::as_str).collect();
        assert_eq!(table.len(), all.len());
        let (starts, data) = table.starts_and_data();
        let whole: usize = all.iter().map(|k| k.len() + 4).sum();
        assert!(
            data.len() + starts.len() < whole / 2,
            "{} of {whole}",
            data.len()
        );
        // Probes in the table's form (hosts reversed), which is one to one.
        let has = |k: &str| table.contains(&[table_form(k).as_bytes()]);
        for k in &keys {
            assert!(has(k), "{k}");
            let t = table_form(k);
            let (head, tail) = t.split_at(t.len() / 2);
            assert!(table.contains(&[head.as_bytes(), tail.as_bytes()]), "{k}");
            for probe in [
                format!("{k}x"),
                k[..k.len() - 1].to_string(),
                format!("{k}\0"),
            ] {
                assert_eq!(has(&probe), all.contains(&*probe), "{probe}");
            }
        }
        for probe in ["", "a", "https://", "zzzz", "https://app1.example.com"] {
            assert_eq!(has(probe), all.contains(probe), "{probe}");
        }
        assert_eq!(
            table_form("https://*.b.example.com:8443"),
            "https://com.example.b.*:8443"
        );
        assert_eq!(table_form("http://[::1]:*"), "http://[::1]:*");
        assert_eq!(table_form("https://example.com."), "https://.com.example");
        assert!(OriginTable::from_keys(Vec::new()).is_empty());
        assert!(!OriginTable::from_keys(Vec::new()).contains(&[b"x"]));
    }
}
