//! The validated policy's model: routes, their upstreams and their
//! effective CORS settings, with the defaults and bounds the validator applies.

use crate::headers::Token;
use crate::host::HostSet;
use crate::origin::OriginSet;
use http::HeaderValue;
use std::fmt;
use std::sync::Arc;

pub const DEFAULT_MAX_AGE_SECS: u32 = 600;
pub const MAX_MAX_AGE_SECS: u32 = 86_400;
pub const MAX_TIMEOUT_MS: u32 = 300_000;
/// Largest `max_request_body_bytes` (2^53: exact in every JSON reader).
pub const MAX_BODY_LIMIT: u64 = 1 << 53;
pub const DEFAULT_METHODS: [&str; 3] = ["GET", "HEAD", "POST"];

/// What happens to an actual request from an origin the policy does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDisallowed {
    /// 403, never forwarded.
    Reject,
    /// Forwarded without CORS headers: the browser then hides the response.
    Forward,
}

/// Whether a route's CORS decisions are enforced or only reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Enforce,
    /// The gateway forwards everything as if it were not there (the
    /// upstream's own CORS headers reach the client) and logs what it would
    /// have decided. Boundary checks (unsafe paths, hosts, the gateway's
    /// namespace) are not CORS decisions and stay enforced.
    ReportOnly,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::ReportOnly => "report-only",
        }
    }
}

/// A list that may be the wildcard `"*"` (meaningful only without credentials).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameList {
    /// `"*"` was listed.
    pub wildcard: bool,
    /// The other entries: methods as written, header names in lower case.
    names: Vec<Token>,
    /// The response header value, rendered once at load time (a
    /// `HeaderValue`: the host accepts it, by type).
    pub value: HeaderValue,
}

impl NameList {
    pub(super) fn new(wildcard: bool, names: Vec<Token>) -> Self {
        let mut parts: Vec<&str> = Vec::with_capacity(names.len() + 1);
        if wildcard {
            parts.push("*");
        }
        parts.extend(names.iter().map(Token::as_str));
        // Tokens joined by ", ": always a valid value (load time only).
        let value =
            HeaderValue::try_from(parts.join(", ")).expect("a list of tokens is a header value");
        NameList {
            wildcard,
            names,
            value,
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.names.iter().any(|n| n.as_str() == name)
    }

    pub fn contains_ignore_case(&self, name: &[u8]) -> bool {
        self.names
            .iter()
            .any(|n| n.as_str().as_bytes().eq_ignore_ascii_case(name))
    }

    pub fn is_empty(&self) -> bool {
        !self.wildcard && self.names.is_empty()
    }
}

/// The effective CORS settings of one route (defaults merged with overrides).
#[derive(Debug, Clone)]
pub struct CorsConfig {
    /// Shared by every route that inherits the same `allow_origins` list.
    pub origins: Arc<OriginSet>,
    pub allow_methods: Arc<NameList>,
    pub allow_headers: Arc<NameList>,
    pub expose_headers: Arc<NameList>,
    pub allow_credentials: bool,
    pub max_age_value: HeaderValue,
    pub allow_private_network: bool,
    pub on_disallowed_origin: OnDisallowed,
    pub mode: Mode,
}

impl CorsConfig {
    /// True when responses do not depend on the request's `Origin`, so no
    /// `Vary: Origin` is needed: any origin, answered with a literal `*`.
    pub fn origin_independent(&self) -> bool {
        self.origins.allows_any() && !self.allow_credentials
    }
}

/// `http`/`https` + authority + optional base path: the only place a route can send to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub scheme: UpstreamScheme,
    pub authority: String,
    /// Empty, or starts with `/` and has no trailing `/`.
    pub base_path: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamScheme {
    Http,
    Https,
}

impl UpstreamScheme {
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamScheme::Http => "http",
            UpstreamScheme::Https => "https",
        }
    }
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}{}",
            self.scheme.as_str(),
            self.authority,
            self.base_path
        )
    }
}

#[derive(Debug, Clone)]
pub struct Route {
    pub name: String,
    pub path_prefix: String,
    pub upstream: Upstream,
    pub strip_prefix: bool,
    /// Timeouts, body limit and forwarding headers ([`crate::forwarding`]).
    pub forward: crate::forwarding::ForwardOptions,
    pub cors: CorsConfig,
    /// `%2f` in paths is forwarded as it is (APIs such as GitLab's name
    /// resources with it); off by default, because an upstream that decodes
    /// it sees another path.
    pub allow_encoded_slashes: bool,
    /// The route's `allowed_hosts`, or the policy's when it has none.
    pub allowed_hosts: Option<Arc<HostSet>>,
    /// Index in the document's `routes` array (for messages).
    pub index: usize,
}
