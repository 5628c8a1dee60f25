//! Origins: the strict parser for what a browser sends, the policy's origin
//! patterns, and the set that matches one against the other.
//!
//! Matching never normalises the request: a browser always sends the canonical
//! serialisation, so anything else is either a bug or an attack and is refused.

mod parse;
mod pattern;
mod set;

pub(crate) use parse::parent_domains;
pub use parse::{
    parse_origin, OriginParts, MAX_HOST_LEN, MAX_LABEL_LEN, MAX_ORIGIN_LEN, MAX_SCHEME_LEN,
};
pub use pattern::{parse_pattern, parse_pattern_general, OriginPattern, PatternError, PortPattern};
pub use set::OriginSet;

/// How a request origin was allowed; `explain` and the debug header report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginMatch {
    Any,
    Null,
    Exact,
    Subdomain,
    AnyPort,
}
