//! The policy document (version 1): its model, and the validator that turns JSON
//! into a compiled [`Policy`] or into every error it contains, each with the JSON
//! path of the offending value.

use crate::headers::{
    is_forbidden_method, is_forbidden_request_header, is_token, NORMALISED_METHODS,
};
use crate::host::HostSet;
use crate::json::Json;
use crate::origin::{parse_pattern, OriginSet, OriginTable};
use std::fmt;
use std::sync::Arc;

pub const DEFAULT_MAX_AGE_SECS: u32 = 600;
pub const MAX_MAX_AGE_SECS: u32 = 86_400;
pub const DEFAULT_TIMEOUT_MS: u32 = 30_000;
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
    pub names: Vec<String>,
    /// The response header value, rendered once at load time.
    pub value: String,
}

impl NameList {
    fn new(wildcard: bool, names: Vec<String>) -> Self {
        let mut parts: Vec<&str> = Vec::with_capacity(names.len() + 1);
        if wildcard {
            parts.push("*");
        }
        parts.extend(names.iter().map(String::as_str));
        let value = parts.join(", ");
        NameList {
            wildcard,
            names,
            value,
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }

    pub fn contains_ignore_case(&self, name: &[u8]) -> bool {
        self.names
            .iter()
            .any(|n| n.as_bytes().eq_ignore_ascii_case(name))
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
    pub max_age_secs: u32,
    pub max_age_value: String,
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
    pub timeout_ms: u32,
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

/// A validated, compiled policy. Immutable; cheap to share.
#[derive(Debug, Clone)]
pub struct Policy {
    pub defaults: CorsConfig,
    /// Sorted by descending `path_prefix` length, so the first match is the longest.
    pub routes: Vec<Route>,
    /// The top-level `allowed_hosts` (for requests no route matches).
    pub allowed_hosts: Option<Arc<HostSet>>,
    pub debug: bool,
    /// For a policy loaded from its compiled form (see [`crate::compiled`]):
    /// the SHA-256 of the JSON it was compiled from.
    pub compiled_from: Option<[u8; 32]>,
}

impl Policy {
    /// Parses and validates a policy document completely.
    pub fn from_json(text: &str) -> Result<Policy, PolicyErrors> {
        let value = Json::parse(text).map_err(|e| {
            PolicyErrors(vec![PolicyError {
                path: String::new(),
                message: format!("not valid JSON: {e}"),
                line_col: (e.line() > 0).then(|| (e.line(), e.column())),
            }])
        })?;
        Policy::from_value(&value, Vec::new())
    }

    /// [`Policy::from_json`] for the JSON part of a compiled policy: `tables`
    /// hold the patterns of the `allow_origins` lists at the given JSON paths.
    pub(crate) fn from_json_with_tables(
        text: &str,
        tables: Vec<(String, OriginTable)>,
    ) -> Result<Policy, PolicyErrors> {
        let value = Json::parse(text).map_err(|e| {
            PolicyErrors(vec![PolicyError {
                path: String::new(),
                message: format!("compiled policy: its JSON part is not valid JSON: {e}"),
                line_col: None,
            }])
        })?;
        Policy::from_value(&value, tables)
    }

    fn from_value(
        value: &Json,
        tables: Vec<(String, OriginTable)>,
    ) -> Result<Policy, PolicyErrors> {
        let mut v = Validator {
            errors: Vec::new(),
            tables,
        };
        let policy = v.policy(value);
        for (at, _) in std::mem::take(&mut v.tables) {
            v.error(
                at,
                "compiled policy: a table of origins for a list the policy does not have",
            );
        }
        // A defaults-level combination is checked once per route that
        // inherits it: report each distinct problem once.
        let mut seen = std::collections::BTreeSet::new();
        v.errors
            .retain(|e| seen.insert((e.path.clone(), e.message.clone())));
        match policy {
            Some(p) if v.errors.is_empty() => Ok(p),
            _ => Err(PolicyErrors(v.errors)),
        }
    }

    /// Longest-prefix route for a (normalised) request path. Prefixes match
    /// ignoring ASCII case, so an upstream that routes case-insensitively
    /// picks the same route.
    pub fn route_for(&self, path: &str) -> Option<&Route> {
        self.routes
            .iter()
            .find(|r| crate::path::has_prefix(path, &r.path_prefix))
    }
}

/// One problem in a policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// JSON path of the offending value, e.g. `routes[1].cors.allow_origins[0]`;
    /// empty for the document itself.
    pub path: String,
    pub message: String,
    /// Known for syntax errors; `check` locates the others from `path`.
    pub line_col: Option<(usize, usize)>,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found in a policy document (never empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyErrors(pub Vec<PolicyError>);

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyErrors {}

/// The `cors` object as written at one level, before merging. Lists are
/// compiled once per layer and shared (`Arc`) by every route that inherits them.
#[derive(Default)]
struct CorsLayer<'a> {
    /// JSON path of this `cors` object, for messages.
    path: At<'a>,
    allow_origins: Option<Arc<OriginSet>>,
    allow_methods: Option<Arc<NameList>>,
    allow_headers: Option<Arc<NameList>>,
    expose_headers: Option<Arc<NameList>>,
    allow_credentials: Option<bool>,
    max_age_secs: Option<u32>,
    allow_private_network: Option<bool>,
    on_disallowed_origin: Option<OnDisallowed>,
    mode: Option<Mode>,
}

const TOP_FIELDS: [&str; 6] = [
    "$schema",
    "version",
    "cors",
    "routes",
    "debug",
    "allowed_hosts",
];
const CORS_FIELDS: [&str; 9] = [
    "allow_origins",
    "allow_methods",
    "allow_headers",
    "expose_headers",
    "allow_credentials",
    "max_age_secs",
    "allow_private_network",
    "on_disallowed_origin",
    "mode",
];
const ROUTE_FIELDS: [&str; 15] = [
    "name",
    "path_prefix",
    "upstream",
    "strip_prefix",
    "timeout_ms",
    "connect_timeout_ms",
    "first_byte_timeout_ms",
    "idle_timeout_ms",
    "deadline_ms",
    "max_request_body_bytes",
    "trust_forwarded_headers",
    "via",
    "cors",
    "allow_encoded_slashes",
    "allowed_hosts",
];

struct Validator {
    errors: Vec<PolicyError>,
    /// A compiled policy's origin tables not yet attached, by JSON path.
    tables: Vec<(String, OriginTable)>,
}

/// The JSON path of a value, rendered (`routes[1].cors.allow_origins[0]`) only
/// when a message needs it: a host without instance reuse validates the policy
/// on every request, and formatting every field's path cost a fifth of that.
#[derive(Clone, Copy, Default)]
enum At<'a> {
    #[default]
    Root,
    Field(&'a At<'a>, &'a str),
    Index(&'a At<'a>, usize),
}

static ROOT: At<'static> = At::Root;
static ROUTES: At<'static> = At::Field(&ROOT, "routes");

impl<'a> At<'a> {
    fn field(&'a self, name: &'a str) -> At<'a> {
        At::Field(self, name)
    }
    fn index(&'a self, i: usize) -> At<'a> {
        At::Index(self, i)
    }
}

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            At::Root => Ok(()),
            At::Field(At::Root, name) => f.write_str(name),
            At::Field(parent, name) => write!(f, "{parent}.{name}"),
            At::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

impl Validator {
    fn error(&mut self, path: impl fmt::Display, message: impl Into<String>) {
        self.errors.push(PolicyError {
            path: path.to_string(),
            message: message.into(),
            line_col: None,
        });
    }

    /// Checks that `v` is an object with only known, distinct members.
    fn object<'v, 'a>(
        &mut self,
        v: &'v Json<'a>,
        path: At,
        fields: &[&str],
    ) -> Option<&'v Json<'a>> {
        let Json::Object(members) = v else {
            self.error(path, format!("expected an object, found {}", v.type_name()));
            return None;
        };
        for (i, (key, _)) in members.iter().enumerate() {
            let key: &str = key;
            if !fields.contains(&key) {
                let hint = fields
                    .iter()
                    .find(|f| similar(f, key))
                    .map(|f| format!(" (did you mean \"{f}\"?)"))
                    .unwrap_or_default();
                self.error(
                    path.field(key),
                    format!(
                        "unknown field \"{key}\"{hint}; expected one of: {}",
                        fields.join(", ")
                    ),
                );
            } else if members[..i].iter().any(|(k, _)| k == key) {
                // Most JSON readers keep the last one silently: an edit that
                // appends a second `allow_origins` must not quietly win.
                self.error(
                    path.field(key),
                    format!("\"{key}\" is written more than once; keep one"),
                );
            }
        }
        Some(v)
    }

    fn bool(&mut self, v: &Json, path: At) -> Option<bool> {
        match v {
            Json::Bool(b) => Some(*b),
            _ => {
                self.error(
                    path,
                    format!("expected true or false, found {}", v.type_name()),
                );
                None
            }
        }
    }

    fn u32_in(&mut self, v: &Json, path: At, max: u32, min: u32) -> Option<u32> {
        match v.as_u64() {
            Some(n) if n >= u64::from(min) && n <= u64::from(max) => u32::try_from(n).ok(),
            _ => {
                self.error(
                    path,
                    format!("expected a whole number from {min} to {max}, found {v}"),
                );
                None
            }
        }
    }

    fn str<'v>(&mut self, v: &'v Json, path: At) -> Option<&'v str> {
        match v {
            Json::Str(s) => Some(s),
            _ => {
                self.error(path, format!("expected a string, found {}", v.type_name()));
                None
            }
        }
    }

    /// The strings of an array with their indexes. Paths are formatted only
    /// for errors: a 10,000-entry list must not cost 10,000 `format!`s.
    fn strings<'v>(&mut self, v: &'v Json, path: At) -> Vec<(&'v str, usize)> {
        let Json::Array(items) = v else {
            self.error(
                path,
                format!("expected an array of strings, found {}", v.type_name()),
            );
            return Vec::new();
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item {
                Json::Str(s) => out.push((&**s, i)),
                _ => {
                    self.str(item, path.index(i));
                }
            }
        }
        out
    }

    fn policy(&mut self, v: &Json) -> Option<Policy> {
        let map = self.object(v, ROOT, &TOP_FIELDS)?;
        match map.get("version") {
            None => self.error("version", "missing; expected 1"),
            Some(v) if v.as_u64() == Some(1) => {}
            Some(other) => self.error(
                "version",
                format!("unsupported version {other}; this gateway reads version 1"),
            ),
        }
        if let Some(s) = map.get("$schema") {
            self.str(s, ROOT.field("$schema"));
        }
        let debug = map
            .get("debug")
            .and_then(|d| self.bool(d, ROOT.field("debug")))
            .unwrap_or(false);
        let base = match map.get("cors") {
            Some(c) => self.cors_layer(c, ROOT.field("cors")),
            None => CorsLayer::default(),
        };
        let defaults = self.merge(&base, &CorsLayer::default());
        let allowed_hosts = map
            .get("allowed_hosts")
            .and_then(|v| self.hosts(v, ROOT.field("allowed_hosts")));
        let mut routes = Vec::new();
        match map.get("routes") {
            None => self.error("routes", "missing; expected an array of routes"),
            Some(Json::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    if let Some(r) = self.route(item, i, &base, &allowed_hosts) {
                        routes.push(r);
                    }
                }
            }
            Some(other) => self.error(
                "routes",
                format!("expected an array of routes, found {}", other.type_name()),
            ),
        }
        self.unique_routes(&routes);
        routes.sort_by_key(|r| std::cmp::Reverse(r.path_prefix.len()));
        Some(Policy {
            defaults: defaults?,
            routes,
            allowed_hosts,
            debug,
            compiled_from: None,
        })
    }

    fn unique_routes(&mut self, routes: &[Route]) {
        for (i, a) in routes.iter().enumerate() {
            for b in &routes[..i] {
                if a.name == b.name {
                    self.error(
                        format!("routes[{}].name", a.index),
                        format!(
                            "duplicate route name \"{}\" (also routes[{}])",
                            a.name, b.index
                        ),
                    );
                }
                if a.path_prefix.eq_ignore_ascii_case(&b.path_prefix) {
                    self.error(
                        format!("routes[{}].path_prefix", a.index),
                        format!(
                            "duplicate path_prefix \"{}\" (also routes[{}], \"{}\"; prefixes match ignoring case); the second route could never be chosen",
                            a.path_prefix, b.index, b.path_prefix
                        ),
                    );
                }
                // An upstream that decodes %2f could reach a route nested
                // under one that forwards them: forbid the nesting.
                for (outer, inner) in [(a, b), (b, a)] {
                    if outer.allow_encoded_slashes
                        && inner.path_prefix.len() > outer.path_prefix.len()
                        && crate::path::has_prefix(&inner.path_prefix, &outer.path_prefix)
                    {
                        self.error(
                            format!("routes[{}].allow_encoded_slashes", outer.index),
                            format!(
                                "route \"{}\" forwards encoded slashes, so no other route's path_prefix may lie under \"{}\" (routes[{}] has \"{}\"): an upstream that decodes %2f would run such a request as the other route's",
                                outer.name, outer.path_prefix, inner.index, inner.path_prefix
                            ),
                        );
                    }
                }
            }
        }
    }

    fn hosts(&mut self, v: &Json, path: At) -> Option<Arc<HostSet>> {
        let entries = self.strings(v, path);
        if entries.is_empty() {
            if matches!(v, Json::Array(_)) {
                self.error(path, "is empty, which would refuse every request; list the hosts clients use, or leave the field out to accept any Host");
            }
            return None;
        }
        match HostSet::parse(entries) {
            Ok(set) => Some(Arc::new(set)),
            Err(errors) => {
                for (i, e) in errors {
                    self.error(path.index(i), e.to_string());
                }
                None
            }
        }
    }

    fn route(
        &mut self,
        v: &Json,
        index: usize,
        base: &CorsLayer,
        policy_hosts: &Option<Arc<HostSet>>,
    ) -> Option<Route> {
        let path = ROUTES.index(index);
        let map = self.object(v, path, &ROUTE_FIELDS)?;
        let required = |this: &mut Self, field: &str| -> Option<String> {
            let p = path.field(field);
            match map.get(field) {
                None => {
                    this.error(p, "missing; this field is required");
                    None
                }
                Some(v) => this.str(v, p).map(str::to_string),
            }
        };
        let name = required(self, "name");
        let prefix = required(self, "path_prefix");
        let upstream = required(self, "upstream");
        let name = name.filter(|n| {
            let ok = !n.is_empty();
            if !ok {
                self.error(path.field("name"), "must not be empty");
            }
            ok
        });
        let prefix = prefix.filter(|p| self.check_prefix(p, path.field("path_prefix")));
        let upstream = upstream.and_then(|u| {
            parse_upstream(&u)
                .map_err(|m| self.error(path.field("upstream"), m))
                .ok()
        });
        let strip_prefix = match map.get("strip_prefix") {
            Some(v) => self.bool(v, path.field("strip_prefix")),
            None => Some(false),
        };
        let timeout_ms = match map.get("timeout_ms") {
            Some(v) => self.u32_in(v, path.field("timeout_ms"), MAX_TIMEOUT_MS, 1),
            None => Some(DEFAULT_TIMEOUT_MS),
        };
        let allow_encoded_slashes = match map.get("allow_encoded_slashes") {
            Some(v) => self.bool(v, path.field("allow_encoded_slashes")),
            None => Some(false),
        };
        let allowed_hosts = match map.get("allowed_hosts") {
            Some(v) => self.hosts(v, path.field("allowed_hosts")),
            None => policy_hosts.clone(),
        };
        let forward = self.forward_options(map, path, timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS));
        let cors_path = path.field("cors");
        let layer = match map.get("cors") {
            Some(c) => self.cors_layer(c, cors_path),
            None => CorsLayer::default(),
        };
        let cors = self.merge(base, &layer);
        Some(Route {
            name: name?,
            path_prefix: prefix?,
            upstream: upstream?,
            strip_prefix: strip_prefix?,
            timeout_ms: timeout_ms?,
            forward: forward?,
            cors: cors?,
            allow_encoded_slashes: allow_encoded_slashes?,
            allowed_hosts,
            index,
        })
    }

    /// A route's forwarding options; each timeout defaults to `timeout_ms`.
    fn forward_options(
        &mut self,
        map: &Json,
        path: At,
        timeout_ms: u32,
    ) -> Option<crate::forwarding::ForwardOptions> {
        use crate::forwarding::{ForwardOptions, DEFAULT_DEADLINE_MS, MAX_DEADLINE_MS};
        let mut ok = true;
        let mut ms = |this: &mut Self, field: &str, max: u32, default: u32| match map.get(field) {
            Some(v) => this
                .u32_in(v, path.field(field), max, 1)
                .unwrap_or_else(|| {
                    ok = false;
                    default
                }),
            None => default,
        };
        let connect = ms(self, "connect_timeout_ms", MAX_TIMEOUT_MS, timeout_ms);
        let first_byte = ms(self, "first_byte_timeout_ms", MAX_TIMEOUT_MS, timeout_ms);
        let idle = ms(self, "idle_timeout_ms", MAX_TIMEOUT_MS, timeout_ms);
        let deadline = ms(self, "deadline_ms", MAX_DEADLINE_MS, DEFAULT_DEADLINE_MS);
        let max_body = match map.get("max_request_body_bytes") {
            Some(v) => match v.as_u64() {
                Some(n) if n <= MAX_BODY_LIMIT => Some(n),
                _ => {
                    self.error(
                        path.field("max_request_body_bytes"),
                        format!("expected a whole number of bytes from 0 to {MAX_BODY_LIMIT}, found {v}"),
                    );
                    ok = false;
                    None
                }
            },
            None => None,
        };
        let trust = match map.get("trust_forwarded_headers") {
            Some(v) => self
                .bool(v, path.field("trust_forwarded_headers"))
                .unwrap_or_else(|| {
                    ok = false;
                    false
                }),
            None => false,
        };
        let via = match map.get("via") {
            Some(v) => match self.str(v, path.field("via")) {
                Some(s) if is_token(s.as_bytes()) => Some(s.to_string()),
                Some(s) => {
                    self.error(
                        path.field("via"),
                        format!(
                            "\"{s}\" is not a Via pseudonym (a token such as \"cors-gateway\")"
                        ),
                    );
                    ok = false;
                    None
                }
                None => {
                    ok = false;
                    None
                }
            },
            None => None,
        };
        ok.then_some(ForwardOptions {
            connect_timeout_ms: connect,
            first_byte_timeout_ms: first_byte,
            idle_timeout_ms: idle,
            deadline_ms: deadline,
            max_request_body_bytes: max_body,
            trust_forwarded_headers: trust,
            via,
        })
    }

    fn check_prefix(&mut self, p: &str, path: At) -> bool {
        let problem = if !p.starts_with('/') {
            Some("must start with \"/\"")
        } else if p.contains(['?', '#']) {
            Some("is matched against the path only; remove the query or fragment")
        } else if p.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            Some("must not contain white space or control characters")
        } else if p.contains('%') || crate::path::check(p, false).is_err() {
            Some("must be a plain canonical path: no \".\" or \"..\" or empty segments, no \";\", \"\\\" or percent-encoding (requests are normalised before routing, so such a prefix could never match)")
        } else if crate::is_reserved_path(p) {
            Some("is inside /.well-known/cors-gateway/, which belongs to the gateway; requests there are never forwarded")
        } else {
            None
        };
        if let Some(m) = problem {
            self.error(path, format!("\"{p}\" {m}"));
        }
        problem.is_none()
    }

    fn cors_layer<'p>(&mut self, v: &Json, path: At<'p>) -> CorsLayer<'p> {
        let mut layer = CorsLayer {
            path,
            ..CorsLayer::default()
        };
        let Some(map) = self.object(v, path, &CORS_FIELDS) else {
            return layer;
        };
        if let Some(v) = map.get("allow_origins") {
            let p = path.field("allow_origins");
            let mut patterns = Vec::new();
            for (s, i) in self.strings(v, p) {
                match parse_pattern(s) {
                    Ok(pat) => patterns.push(pat),
                    Err(e) => self.error(p.index(i), e.to_string()),
                }
            }
            let mut set = OriginSet::from_patterns(patterns);
            // Only a compiled policy has tables: a JSON one renders no path.
            if !self.tables.is_empty() {
                let p = p.to_string();
                if let Some(i) = self.tables.iter().position(|(at, _)| *at == p) {
                    set = set.with_table(self.tables.swap_remove(i).1);
                }
            }
            layer.allow_origins = Some(Arc::new(set));
        }
        if let Some(v) = map.get("allow_methods") {
            let list = self.method_list(v, path.field("allow_methods"));
            layer.allow_methods = Some(Arc::new(list));
        }
        if let Some(v) = map.get("allow_headers") {
            let list = self.header_list(v, path.field("allow_headers"), HeaderListKind::Allow);
            layer.allow_headers = Some(Arc::new(list));
        }
        if let Some(v) = map.get("expose_headers") {
            let list = self.header_list(v, path.field("expose_headers"), HeaderListKind::Expose);
            layer.expose_headers = Some(Arc::new(list));
        }
        if let Some(v) = map.get("allow_credentials") {
            layer.allow_credentials = self.bool(v, path.field("allow_credentials"));
        }
        if let Some(v) = map.get("max_age_secs") {
            layer.max_age_secs = self.u32_in(v, path.field("max_age_secs"), MAX_MAX_AGE_SECS, 0);
        }
        if let Some(v) = map.get("allow_private_network") {
            layer.allow_private_network = self.bool(v, path.field("allow_private_network"));
        }
        if let Some(v) = map.get("on_disallowed_origin") {
            layer.on_disallowed_origin = match v.as_str() {
                Some("reject") => Some(OnDisallowed::Reject),
                Some("forward") => Some(OnDisallowed::Forward),
                _ => {
                    self.error(
                        path.field("on_disallowed_origin"),
                        format!("expected \"reject\" or \"forward\", found {v}"),
                    );
                    None
                }
            };
        }
        if let Some(v) = map.get("mode") {
            layer.mode = match v.as_str() {
                Some("enforce") => Some(Mode::Enforce),
                Some("report-only") => Some(Mode::ReportOnly),
                _ => {
                    self.error(
                        path.field("mode"),
                        format!("expected \"enforce\" or \"report-only\", found {v}"),
                    );
                    None
                }
            };
        }
        layer
    }

    fn method_list(&mut self, v: &Json, path: At) -> NameList {
        let mut wildcard = false;
        let mut names: Vec<String> = Vec::new();
        for (m, i) in self.strings(v, path) {
            let p = || path.index(i);
            if m == "*" {
                wildcard = true;
            } else if !is_token(m.as_bytes()) {
                self.error(
                    p(),
                    format!("\"{m}\" is not an HTTP method (a token such as \"PATCH\")"),
                );
            } else if is_forbidden_method(m) {
                self.error(p(), format!("\"{m}\" is a method browsers never send (CONNECT, TRACE and TRACK are forbidden by Fetch)"));
            } else if let Some(norm) = NORMALISED_METHODS
                .iter()
                .find(|n| n.eq_ignore_ascii_case(m) && **n != m)
            {
                self.error(p(), format!("\"{m}\" never matches: browsers normalise it to \"{norm}\"; write \"{norm}\""));
            } else if !names.iter().any(|n| n == m) {
                names.push(m.to_string());
            }
        }
        NameList::new(wildcard, names)
    }

    fn header_list(&mut self, v: &Json, path: At, kind: HeaderListKind) -> NameList {
        let mut wildcard = false;
        let mut names: Vec<String> = Vec::new();
        for (h, i) in self.strings(v, path) {
            let p = || path.index(i);
            let lower = h.to_ascii_lowercase();
            if h == "*" {
                wildcard = true;
            } else if !is_token(h.as_bytes()) {
                self.error(
                    p(),
                    format!("\"{h}\" is not a header name (a token such as \"x-request-id\")"),
                );
            } else if kind == HeaderListKind::Allow && lower.starts_with("access-control-") {
                self.error(p(), format!("\"{h}\" is a CORS protocol header; scripts cannot send it, so it never belongs in allow_headers"));
            } else if kind == HeaderListKind::Allow && is_forbidden_request_header(&lower) {
                self.error(p(), format!("\"{h}\" is a forbidden request header: browsers never let a script set it, so listing it changes nothing"));
            } else if kind == HeaderListKind::Expose
                && (lower == "set-cookie" || lower == "set-cookie2")
            {
                self.error(p(), format!("\"{h}\" can never be exposed: browsers hide Set-Cookie from scripts whatever the server says"));
            } else if !names.contains(&lower) {
                names.push(lower);
            }
        }
        NameList::new(wildcard, names)
    }

    /// Merges a route's overrides onto the defaults and checks the combinations
    /// that only exist once both are known (`*` with credentials).
    fn merge(&mut self, base: &CorsLayer, over: &CorsLayer) -> Option<CorsConfig> {
        /// The overriding value if set, else the default, with the path of
        /// the `cors` object it was written in.
        fn pick<'l, 'p, T>(
            base: &'l CorsLayer<'p>,
            over: &'l CorsLayer<'p>,
            field: impl Fn(&'l CorsLayer<'p>) -> &'l Option<T>,
        ) -> Option<(&'l T, At<'p>)> {
            [over, base]
                .into_iter()
                .find_map(|l| field(l).as_ref().map(|v| (v, l.path)))
        }
        let origins = pick(base, over, |l| &l.allow_origins);
        let credentials = pick(base, over, |l| &l.allow_credentials);
        let methods = pick(base, over, |l| &l.allow_methods);
        let headers = pick(base, over, |l| &l.allow_headers);
        let expose = pick(base, over, |l| &l.expose_headers);
        let before = self.errors.len();
        if let Some((true, cred_at)) = credentials {
            let why = || {
                format!("allow_credentials is true (at {}) and browsers read \"*\" literally when credentials are included", cred_at.field("allow_credentials"))
            };
            if let Some((set, at)) = origins {
                if set.allows_any() {
                    self.error(at.field("allow_origins"), format!("\"*\" cannot be combined with credentials: {}; list the origins instead", why()));
                }
            }
            for (list, field, what) in [
                (methods, "allow_methods", "methods"),
                (headers, "allow_headers", "headers"),
                (expose, "expose_headers", "headers"),
            ] {
                if let Some((l, at)) = list {
                    if l.wildcard {
                        self.error(at.field(field), format!("\"*\" cannot be combined with credentials: {}; list the {what} instead", why()));
                    }
                }
            }
        }
        if self.errors.len() != before {
            return None;
        }
        let list = |l: Option<(&Arc<NameList>, At)>, default: &[&str]| {
            l.map(|(l, _)| Arc::clone(l)).unwrap_or_else(|| {
                Arc::new(NameList::new(
                    false,
                    default.iter().map(|s| s.to_string()).collect(),
                ))
            })
        };
        let max_age =
            pick(base, over, |l| &l.max_age_secs).map_or(DEFAULT_MAX_AGE_SECS, |(v, _)| *v);
        Some(CorsConfig {
            origins: origins.map(|(s, _)| Arc::clone(s)).unwrap_or_default(),
            allow_methods: list(methods, &DEFAULT_METHODS),
            allow_headers: list(headers, &[]),
            expose_headers: list(expose, &[]),
            allow_credentials: credentials.is_some_and(|(b, _)| *b),
            max_age_secs: max_age,
            max_age_value: max_age.to_string(),
            allow_private_network: pick(base, over, |l| &l.allow_private_network)
                .is_some_and(|(b, _)| *b),
            on_disallowed_origin: pick(base, over, |l| &l.on_disallowed_origin)
                .map_or(OnDisallowed::Reject, |(v, _)| *v),
            mode: pick(base, over, |l| &l.mode).map_or(Mode::Enforce, |(v, _)| *v),
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum HeaderListKind {
    Allow,
    Expose,
}

/// One edit apart (a typo), for "did you mean" hints on unknown fields.
fn similar(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len().abs_diff(b.len()) > 1 {
        return false;
    }
    // Levenshtein distance <= 2, computed on two rows.
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()] <= 2
}

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

    fn errors(json: &str) -> Vec<PolicyError> {
        Policy::from_json(json).unwrap_err().0
    }

    fn has_error(errs: &[PolicyError], path: &str, needle: &str) -> bool {
        errs.iter()
            .any(|e| e.path == path && e.message.contains(needle))
    }

    const ROUTE: &str =
        r#"{"name":"api","path_prefix":"/api/","upstream":"http://127.0.0.1:9000"}"#;

    #[test]
    fn spec_example_loads() {
        let p = Policy::from_json(include_str!("../../policies/policy.json")).unwrap();
        assert_eq!(p.routes.len(), 2);
        let public = p.route_for("/public/x").unwrap();
        assert!(public.cors.origins.allows_any());
        assert!(!public.cors.allow_credentials);
        assert_eq!(public.cors.allow_methods.value, "GET, POST, PUT, DELETE");
        let orders = p.route_for("/orders/1").unwrap();
        assert!(orders.cors.allow_credentials);
        assert_eq!(orders.cors.max_age_value, "7200");
    }

    #[test]
    fn unknown_fields_are_errors_everywhere() {
        let errs = errors(
            r#"{"version":1,"cors":{"alow_origins":[]},"routes":[{"name":"a","path_prefix":"/","upstream":"http://u","strip":true,"cors":{"max_age":1}}],"extra":0}"#,
        );
        assert!(has_error(
            &errs,
            "cors.alow_origins",
            "did you mean \"allow_origins\""
        ));
        assert!(has_error(&errs, "routes[0].strip", "unknown field"));
        assert!(has_error(&errs, "routes[0].cors.max_age", "unknown field"));
        assert!(has_error(&errs, "extra", "unknown field"));
    }

    #[test]
    fn a_field_written_twice_is_an_error_not_a_silent_override() {
        let errs = errors(&format!(
            r#"{{"version":1,"cors":{{"allow_origins":["https://a.test"],"allow_origins":["*"]}},"routes":[{ROUTE}]}}"#
        ));
        assert!(has_error(&errs, "cors.allow_origins", "more than once"));
        assert_eq!(errs.len(), 1, "{errs:#?}");
    }

    #[test]
    fn wildcard_with_credentials_is_an_error_at_the_merged_level() {
        let errs = errors(
            r#"{"version":1,"cors":{"allow_origins":["https://a.test"],"allow_credentials":true},
               "routes":[{"name":"p","path_prefix":"/p/","upstream":"http://u","cors":{"allow_origins":["*"]}}]}"#,
        );
        assert!(has_error(
            &errs,
            "routes[0].cors.allow_origins",
            "cannot be combined with credentials"
        ));
        let errs = errors(&format!(
            r#"{{"version":1,"cors":{{"allow_origins":["https://a.test"],"allow_credentials":true,"expose_headers":["*"]}},"routes":[{ROUTE}]}}"#
        ));
        assert!(has_error(
            &errs,
            "cors.expose_headers",
            "cannot be combined with credentials"
        ));
        // Overriding credentials off makes the same wildcard legal.
        Policy::from_json(
            r#"{"version":1,"cors":{"allow_origins":["https://a.test"],"allow_credentials":true},
               "routes":[{"name":"p","path_prefix":"/p/","upstream":"http://u","cors":{"allow_origins":["*"],"allow_credentials":false}}]}"#,
        )
        .unwrap();
    }

    #[test]
    fn names_every_invalid_field() {
        let errs = errors(
            r#"{"version":2,"cors":{"allow_origins":["https://A.test/","example.com"],
               "allow_methods":["get","TRACE","PATCH"],"allow_headers":["Cookie","access-control-allow-origin","sec-x","x ok"],
               "expose_headers":["set-cookie"],"max_age_secs":90000,"on_disallowed_origin":"drop","mode":"shadow"},
               "routes":[{"name":"a","path_prefix":"api","upstream":"ftp://x"},
                         {"name":"a","path_prefix":"/b/../c","upstream":"https://user:pw@host"}]}"#,
        );
        for (path, needle) in [
            ("version", "unsupported version 2"),
            ("cors.allow_origins[0]", "\"https://a.test\""),
            ("cors.allow_origins[1]", "no scheme"),
            ("cors.allow_methods[0]", "normalise it to \"GET\""),
            ("cors.allow_methods[1]", "forbidden"),
            ("cors.allow_headers[0]", "forbidden request header"),
            ("cors.allow_headers[1]", "CORS protocol header"),
            ("cors.allow_headers[2]", "forbidden request header"),
            ("cors.allow_headers[3]", "not a header name"),
            ("cors.expose_headers[0]", "Set-Cookie"),
            ("cors.max_age_secs", "0 to 86400"),
            ("cors.on_disallowed_origin", "\"reject\" or \"forward\""),
            ("cors.mode", "\"enforce\" or \"report-only\""),
            ("routes[0].path_prefix", "must start with"),
            ("routes[0].upstream", "not supported"),
            ("routes[1].path_prefix", "segments"),
            ("routes[1].upstream", "user info"),
        ] {
            assert!(
                has_error(&errs, path, needle),
                "missing {path} ~ {needle} in {errs:#?}"
            );
        }
    }

    #[test]
    fn forwarding_options_default_to_timeout_ms_and_are_validated() {
        let p = Policy::from_json(&format!(
            r#"{{"version":1,"routes":[{ROUTE},
               {{"name":"b","path_prefix":"/b/","upstream":"http://u","timeout_ms":1500,
                 "idle_timeout_ms":200,"deadline_ms":9000,"max_request_body_bytes":1024,
                 "trust_forwarded_headers":true,"via":"edge-gw"}}]}}"#
        ))
        .unwrap();
        let a = &p.route_for("/api/x").unwrap().forward;
        assert_eq!(a, &crate::forwarding::ForwardOptions::default());
        assert_eq!(
            (
                a.connect_timeout_ms,
                a.first_byte_timeout_ms,
                a.idle_timeout_ms,
                a.deadline_ms
            ),
            (30_000, 30_000, 30_000, 300_000)
        );
        let b = &p.route_for("/b/x").unwrap().forward;
        assert_eq!(
            (
                b.connect_timeout_ms,
                b.first_byte_timeout_ms,
                b.idle_timeout_ms,
                b.deadline_ms
            ),
            (1500, 1500, 200, 9000)
        );
        assert_eq!(b.max_request_body_bytes, Some(1024));
        assert!(b.trust_forwarded_headers);
        assert_eq!(b.via.as_deref(), Some("edge-gw"));
        let errs = errors(
            r#"{"version":1,"routes":[{"name":"b","path_prefix":"/b/","upstream":"http://u",
                 "connect_timeout_ms":0,"deadline_ms":3600001,"max_request_body_bytes":-1,
                 "trust_forwarded_headers":"yes","via":"two words","idle_timout_ms":5}]}"#,
        );
        for (path, needle) in [
            ("routes[0].connect_timeout_ms", "from 1 to 300000"),
            ("routes[0].deadline_ms", "from 1 to 3600000"),
            ("routes[0].max_request_body_bytes", "whole number of bytes"),
            ("routes[0].trust_forwarded_headers", "true or false"),
            ("routes[0].via", "not a Via pseudonym"),
            (
                "routes[0].idle_timout_ms",
                "did you mean \"idle_timeout_ms\"",
            ),
        ] {
            assert!(
                has_error(&errs, path, needle),
                "missing {path} ~ {needle} in {errs:#?}"
            );
        }
    }

    #[test]
    fn syntax_errors_have_line_and_column() {
        let errs = errors("{\n  \"version\": 1,\n  oops\n}");
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].line_col.map(|(l, _)| l), Some(3));
    }

    #[test]
    fn upstream_forms() {
        let u = parse_upstream("https://Api.Example.com:8443/v1/").unwrap();
        assert_eq!(u.authority, "api.example.com:8443");
        assert_eq!(u.base_path, "/v1");
        assert!(parse_upstream("https://api.example.com?x=1").is_err());
        assert!(parse_upstream("https://").is_err());
        assert!(parse_upstream("https://a b").is_err());
    }

    #[test]
    fn longest_prefix_wins_and_duplicates_are_errors() {
        let p = Policy::from_json(
            r#"{"version":1,"cors":{"allow_origins":["*"]},"routes":[
                {"name":"all","path_prefix":"/","upstream":"http://a"},
                {"name":"api","path_prefix":"/api/","upstream":"http://b"},
                {"name":"v2","path_prefix":"/api/v2/","upstream":"http://c"}]}"#,
        )
        .unwrap();
        assert_eq!(p.route_for("/api/v2/x").unwrap().name, "v2");
        assert_eq!(p.route_for("/api/v1").unwrap().name, "api");
        assert_eq!(p.route_for("/other").unwrap().name, "all");
        let errs = errors(&format!(
            r#"{{"version":1,"cors":{{"allow_origins":["*"]}},"routes":[{ROUTE},{ROUTE}]}}"#
        ));
        assert!(has_error(&errs, "routes[1].name", "duplicate"));
        assert!(has_error(&errs, "routes[1].path_prefix", "duplicate"));
    }
}
