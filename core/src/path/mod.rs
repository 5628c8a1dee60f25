//! Request paths: one canonical form, so that the path a route is chosen by
//! is the path the upstream executes.
//!
//! Upstreams normalise paths before they route them: nginx merges slashes,
//! Tomcat and Spring drop `;` parameters, most servers decode percent-encoded
//! unreserved characters and resolve dot segments, some decode twice, map
//! `\` to `/` or fold Unicode look-alikes. A prefix check on the raw path can
//! then apply one route's policy to a request the API runs as another
//! route's. Every such shape is either normalised here, before routing, and
//! forwarded normalised, or refused:
//!
//! | shape | |
//! | --- | --- |
//! | empty segments (`//orders`) | merged to one `/` |
//! | `%41`-style escapes of unreserved characters (letters, digits, `-` `_` `~`) | decoded |
//! | `.` / `..` segments, `%2e` | refused |
//! | `;` (path parameters: `..;`, `/orders;x=1/`), `%3b` | refused |
//! | `\`, `%5c` | refused |
//! | `%2f` | refused, unless the route sets `allow_encoded_slashes` |
//! | `%25` followed by two hex digits (double encoding: `%252e`) | refused |
//! | malformed escapes (`%zz`, `%u002e`), `#`, raw control or non-ASCII bytes | refused |
//! | escapes of control characters, invalid UTF-8 (overlong `%c0%ae`) | refused |
//! | escaped Unicode look-alikes of `.`, `/`, `\` (`%ef%bc%8f`, …) | refused |
//!
//! Routes are matched ignoring ASCII case, so an upstream that routes
//! case-insensitively picks the same route as the gateway.

use std::borrow::Cow;
use std::fmt;

/// A request target as the gateway routes it: the normalised path and the
/// query, which is passed on untouched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target<'a> {
    /// [`normalize`]d; what routing, [`crate::decide`] and the upstream see.
    pub path: Cow<'a, str>,
    /// Empty, or `?` and the query.
    pub query: &'a str,
}

impl<'a> Target<'a> {
    /// Splits `path_with_query` at the first `?` and normalises the path.
    pub fn parse(path_with_query: &'a str) -> Self {
        let (path, query) = split_query(path_with_query);
        Target {
            path: normalize(path),
            query,
        }
    }
}

/// Splits a request target at its first `?`: the path, and the query (empty,
/// or `?` and the query). The one place a query is taken off.
pub fn split_query(path_with_query: &str) -> (&str, &str) {
    match path_with_query.find('?') {
        Some(i) => path_with_query.split_at(i),
        None => (path_with_query, ""),
    }
}

/// Why a path is not in canonical form (and is refused with 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathIssue {
    NotAbsolute,
    EmptySegment,
    DotSegment,
    EncodedDot,
    PathParameter,
    Backslash,
    EncodedSlash,
    DoubleEncoding,
    MalformedEscape,
    /// An escape `normalize` would have decoded (an unreserved character).
    EncodedUnreserved,
    ControlOrNonAscii,
    Fragment,
    InvalidUtf8,
    LookAlike,
}

impl fmt::Display for PathIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathIssue::NotAbsolute => "the path does not start with \"/\"",
            PathIssue::EmptySegment => "the path has an empty segment (\"//\")",
            PathIssue::DotSegment => "the path has a \".\" or \"..\" segment",
            PathIssue::EncodedDot => "the path has a percent-encoded dot (%2e)",
            PathIssue::PathParameter => "the path has a \";\" (path parameters)",
            PathIssue::Backslash => "the path has a backslash (\\ or %5c)",
            PathIssue::EncodedSlash => {
                "the path has an encoded slash (%2f) and the route does not allow them"
            }
            PathIssue::DoubleEncoding => "the path is double-encoded (%25 and two hex digits)",
            PathIssue::MalformedEscape => {
                "the path has a \"%\" that is not followed by two hex digits"
            }
            PathIssue::EncodedUnreserved => "the path has an escaped unreserved character",
            PathIssue::ControlOrNonAscii => {
                "the path has a control character or an unescaped non-ASCII byte"
            }
            PathIssue::Fragment => "the path has a \"#\"",
            PathIssue::InvalidUtf8 => "the path's escapes are not valid UTF-8",
            PathIssue::LookAlike => {
                "the path has an escaped Unicode look-alike of \".\", \"/\" or \"\\\""
            }
        })
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The byte a `%XX` at `b[i]` encodes, if `b[i..]` starts with a valid escape.
fn escape_at(b: &[u8], i: usize) -> Option<u8> {
    match (
        b.get(i),
        b.get(i + 1).copied().and_then(hex),
        b.get(i + 2).copied().and_then(hex),
    ) {
        (Some(b'%'), Some(h), Some(l)) => Some(h << 4 | l),
        _ => None,
    }
}

/// RFC 3986 unreserved, except `.`: an escaped dot stays an error (it is how
/// dot segments are smuggled), every other one is decoded.
fn decodes_to_unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'~')
}

/// Code points that Unicode compatibility normalisation (NFKC) or Windows'
/// best-fit mapping turn into `.`, `/` or `\`.
const LOOK_ALIKES: [char; 10] = [
    '\u{2024}', '\u{FE52}', '\u{FF0E}', // . (one dot leader, small and fullwidth full stop)
    '\u{2044}', '\u{2215}',
    '\u{FF0F}', // / (fraction slash, division slash, fullwidth solidus)
    '\u{2216}', '\u{29F5}', '\u{FE68}',
    '\u{FF3C}', // \ (set minus, reverse solidus operator, small and fullwidth)
];

/// The canonical form of a request path (without its query): empty segments
/// merged and escaped unreserved characters decoded. A path that has none of
/// these comes back borrowed. What cannot be normalised is left for
/// [`check`] to refuse; `normalize` never makes a refused path acceptable.
pub fn normalize(path: &str) -> Cow<'_, str> {
    let b = path.as_bytes();
    let needs = b.windows(2).any(|w| w == b"//")
        || (0..b.len()).any(|i| escape_at(b, i).is_some_and(decodes_to_unreserved));
    if !needs {
        return Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < b.len() {
        match escape_at(b, i) {
            Some(c) if decodes_to_unreserved(c) => {
                out.push(char::from(c));
                i += 3;
                continue;
            }
            _ => {}
        }
        if b[i] == b'/' && out.ends_with('/') {
            i += 1;
            continue;
        }
        // Everything else is copied byte for byte (ASCII, or a whole UTF-8
        // sequence that `check` refuses anyway).
        let ch_len = path[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&path[i..i + ch_len]);
        i += ch_len;
    }
    Cow::Owned(out)
}

/// Checks that `path` (without its query) is canonical: what [`normalize`]
/// returns unchanged, with none of the refused shapes. `%2f` is an error
/// unless `encoded_slashes` (the route's `allow_encoded_slashes`), and then
/// it separates segments for the dot-segment check, as an upstream that
/// decodes it would read them. Allocation-free.
pub fn check(path: &str, encoded_slashes: bool) -> Result<(), PathIssue> {
    let b = path.as_bytes();
    if b.first() != Some(&b'/') {
        return Err(PathIssue::NotAbsolute);
    }
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\\' => return Err(PathIssue::Backslash),
            b';' => return Err(PathIssue::PathParameter),
            b'#' => return Err(PathIssue::Fragment),
            b'/' if b.get(i + 1) == Some(&b'/') => return Err(PathIssue::EmptySegment),
            c if c.is_ascii_control() || !c.is_ascii() => return Err(PathIssue::ControlOrNonAscii),
            b'%' => {
                let Some(e) = escape_at(b, i) else {
                    return Err(PathIssue::MalformedEscape);
                };
                match e {
                    b'.' => return Err(PathIssue::EncodedDot),
                    b'/' if !encoded_slashes => return Err(PathIssue::EncodedSlash),
                    b'\\' => return Err(PathIssue::Backslash),
                    b';' => return Err(PathIssue::PathParameter),
                    b'%' if escape_at_hex_pair(b, i + 3) => return Err(PathIssue::DoubleEncoding),
                    e if decodes_to_unreserved(e) => return Err(PathIssue::EncodedUnreserved),
                    e if e.is_ascii_control() => return Err(PathIssue::ControlOrNonAscii),
                    e if !e.is_ascii() => {
                        i = check_escaped_utf8(b, i)?;
                        continue;
                    }
                    _ => {}
                }
                i += 3;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    for seg in path.split('/') {
        if is_dot_segment(seg) {
            return Err(PathIssue::DotSegment);
        }
        if encoded_slashes && split_encoded_slashes(seg).any(is_dot_segment) {
            return Err(PathIssue::DotSegment);
        }
    }
    Ok(())
}

fn escape_at_hex_pair(b: &[u8], i: usize) -> bool {
    matches!(
        (
            b.get(i).copied().and_then(hex),
            b.get(i + 1).copied().and_then(hex)
        ),
        (Some(_), Some(_))
    )
}

fn is_dot_segment(seg: &str) -> bool {
    seg == "." || seg == ".."
}

/// The parts of a segment between `%2f`s (either case).
fn split_encoded_slashes(seg: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(seg);
    std::iter::from_fn(move || {
        let s = rest?;
        let at = s
            .as_bytes()
            .windows(3)
            .position(|w| w[0] == b'%' && w[1] == b'2' && w[2].eq_ignore_ascii_case(&b'f'));
        match at {
            Some(i) => {
                rest = Some(&s[i + 3..]);
                Some(&s[..i])
            }
            None => {
                rest = None;
                Some(s)
            }
        }
    })
}

/// Checks the escaped UTF-8 sequence starting at `b[i]` (a `%XX` with the
/// high bit set): valid UTF-8, and not a look-alike. Returns the index after it.
fn check_escaped_utf8(b: &[u8], i: usize) -> Result<usize, PathIssue> {
    let mut buf = [0u8; 4];
    let lead = escape_at(b, i).ok_or(PathIssue::MalformedEscape)?;
    let len = match lead {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return Err(PathIssue::InvalidUtf8),
    };
    for (k, slot) in buf.iter_mut().enumerate().take(len) {
        *slot = escape_at(b, i + 3 * k).ok_or(PathIssue::InvalidUtf8)?;
    }
    let s = std::str::from_utf8(&buf[..len]).map_err(|_| PathIssue::InvalidUtf8)?;
    if s.chars().any(|c| LOOK_ALIKES.contains(&c)) {
        return Err(PathIssue::LookAlike);
    }
    Ok(i + 3 * len)
}

/// True when `path` starts with `prefix`, ignoring ASCII case (how routes
/// are matched).
pub fn has_prefix(path: &str, prefix: &str) -> bool {
    path.as_bytes()
        .get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix.as_bytes()))
}

#[cfg(test)]
mod tests;
