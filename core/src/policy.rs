//! The policy document (version 1): its model, and the validator that turns JSON
//! into a compiled [`Policy`] or into every error it contains, each with the JSON
//! path of the offending value.

use crate::headers::{
    is_forbidden_method, is_forbidden_request_header, is_token, NORMALISED_METHODS,
};
use crate::origin::{parse_pattern, OriginPattern, OriginSet};
use serde_json::{Map, Value};
use std::fmt;

pub const DEFAULT_MAX_AGE_SECS: u32 = 600;
pub const MAX_MAX_AGE_SECS: u32 = 86_400;
pub const DEFAULT_TIMEOUT_MS: u32 = 30_000;
pub const MAX_TIMEOUT_MS: u32 = 300_000;
pub const DEFAULT_METHODS: [&str; 3] = ["GET", "HEAD", "POST"];

/// What happens to an actual request from an origin the policy does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDisallowed {
    /// 403, never forwarded.
    Reject,
    /// Forwarded without CORS headers: the browser then hides the response.
    Forward,
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
    pub origin_entries: Vec<String>,
    pub origins: OriginSet,
    pub allow_methods: NameList,
    pub allow_headers: NameList,
    pub expose_headers: NameList,
    pub allow_credentials: bool,
    pub max_age_secs: u32,
    pub max_age_value: String,
    pub allow_private_network: bool,
    pub on_disallowed_origin: OnDisallowed,
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
    pub cors: CorsConfig,
    /// Index in the document's `routes` array (for messages).
    pub index: usize,
}

/// A validated, compiled policy. Immutable; cheap to share.
#[derive(Debug, Clone)]
pub struct Policy {
    pub defaults: CorsConfig,
    /// Sorted by descending `path_prefix` length, so the first match is the longest.
    pub routes: Vec<Route>,
    pub debug: bool,
}

impl Policy {
    /// Parses and validates a policy document completely.
    pub fn from_json(text: &str) -> Result<Policy, PolicyErrors> {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            PolicyErrors(vec![PolicyError {
                path: String::new(),
                message: format!("not valid JSON: {e}"),
                line_col: (e.line() > 0).then(|| (e.line(), e.column())),
            }])
        })?;
        Policy::from_value(&value)
    }

    pub fn from_value(value: &Value) -> Result<Policy, PolicyErrors> {
        let mut v = Validator::default();
        let policy = v.policy(value);
        // A defaults-level combination is checked once per route that
        // inherits it: report each distinct problem once.
        let mut seen = std::collections::HashSet::new();
        v.errors
            .retain(|e| seen.insert((e.path.clone(), e.message.clone())));
        match policy {
            Some(p) if v.errors.is_empty() => Ok(p),
            _ => Err(PolicyErrors(v.errors)),
        }
    }

    /// Longest-prefix route for a request path.
    pub fn route_for(&self, path: &str) -> Option<&Route> {
        self.routes
            .iter()
            .find(|r| path.starts_with(r.path_prefix.as_str()))
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

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The `cors` object as written at one level, before merging.
#[derive(Default)]
struct CorsLayer<'a> {
    allow_origins: Option<(Vec<(String, OriginPattern)>, String)>,
    allow_methods: Option<(NameList, String)>,
    allow_headers: Option<(NameList, String)>,
    expose_headers: Option<(NameList, String)>,
    allow_credentials: Option<(bool, String)>,
    max_age_secs: Option<u32>,
    allow_private_network: Option<bool>,
    on_disallowed_origin: Option<OnDisallowed>,
    _v: std::marker::PhantomData<&'a ()>,
}

const TOP_FIELDS: [&str; 5] = ["$schema", "version", "cors", "routes", "debug"];
const CORS_FIELDS: [&str; 8] = [
    "allow_origins",
    "allow_methods",
    "allow_headers",
    "expose_headers",
    "allow_credentials",
    "max_age_secs",
    "allow_private_network",
    "on_disallowed_origin",
];
const ROUTE_FIELDS: [&str; 6] = [
    "name",
    "path_prefix",
    "upstream",
    "strip_prefix",
    "timeout_ms",
    "cors",
];

#[derive(Default)]
struct Validator {
    errors: Vec<PolicyError>,
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

impl Validator {
    fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(PolicyError {
            path: path.into(),
            message: message.into(),
            line_col: None,
        });
    }

    fn object<'v>(
        &mut self,
        v: &'v Value,
        path: &str,
        fields: &[&str],
    ) -> Option<&'v Map<String, Value>> {
        let Value::Object(map) = v else {
            self.error(path, format!("expected an object, found {}", type_name(v)));
            return None;
        };
        for key in map.keys() {
            if !fields.contains(&key.as_str()) {
                let hint = fields
                    .iter()
                    .find(|f| similar(f, key))
                    .map(|f| format!(" (did you mean \"{f}\"?)"))
                    .unwrap_or_default();
                self.error(
                    join(path, key),
                    format!(
                        "unknown field \"{key}\"{hint}; expected one of: {}",
                        fields.join(", ")
                    ),
                );
            }
        }
        Some(map)
    }

    fn bool(&mut self, v: &Value, path: &str) -> Option<bool> {
        match v {
            Value::Bool(b) => Some(*b),
            _ => {
                self.error(
                    path,
                    format!("expected true or false, found {}", type_name(v)),
                );
                None
            }
        }
    }

    fn u32_in(&mut self, v: &Value, path: &str, max: u32, min: u32) -> Option<u32> {
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

    fn str<'v>(&mut self, v: &'v Value, path: &str) -> Option<&'v str> {
        match v {
            Value::String(s) => Some(s),
            _ => {
                self.error(path, format!("expected a string, found {}", type_name(v)));
                None
            }
        }
    }

    fn strings<'v>(&mut self, v: &'v Value, path: &str) -> Vec<(&'v str, String)> {
        let Value::Array(items) = v else {
            self.error(
                path,
                format!("expected an array of strings, found {}", type_name(v)),
            );
            return Vec::new();
        };
        items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                let p = format!("{path}[{i}]");
                self.str(item, &p).map(|s| (s, p))
            })
            .collect()
    }

    fn policy(&mut self, v: &Value) -> Option<Policy> {
        let map = self.object(v, "", &TOP_FIELDS)?;
        match map.get("version") {
            None => self.error("version", "missing; expected 1"),
            Some(Value::Number(n)) if n.as_u64() == Some(1) => {}
            Some(other) => self.error(
                "version",
                format!("unsupported version {other}; this gateway reads version 1"),
            ),
        }
        if let Some(s) = map.get("$schema") {
            self.str(s, "$schema");
        }
        let debug = map
            .get("debug")
            .and_then(|d| self.bool(d, "debug"))
            .unwrap_or(false);
        let base = match map.get("cors") {
            Some(c) => self.cors_layer(c, "cors"),
            None => CorsLayer::default(),
        };
        let defaults = self.merge(&base, &CorsLayer::default(), "cors");
        let mut routes = Vec::new();
        match map.get("routes") {
            None => self.error("routes", "missing; expected an array of routes"),
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    if let Some(r) = self.route(item, i, &base) {
                        routes.push(r);
                    }
                }
            }
            Some(other) => self.error(
                "routes",
                format!("expected an array of routes, found {}", type_name(other)),
            ),
        }
        self.unique_routes(&routes);
        routes.sort_by_key(|r| std::cmp::Reverse(r.path_prefix.len()));
        Some(Policy {
            defaults: defaults?,
            routes,
            debug,
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
                if a.path_prefix == b.path_prefix {
                    self.error(
                        format!("routes[{}].path_prefix", a.index),
                        format!(
                            "duplicate path_prefix \"{}\" (also routes[{}]); the second route could never be chosen",
                            a.path_prefix, b.index
                        ),
                    );
                }
            }
        }
    }

    fn route(&mut self, v: &Value, index: usize, base: &CorsLayer) -> Option<Route> {
        let path = format!("routes[{index}]");
        let map = self.object(v, &path, &ROUTE_FIELDS)?;
        let required = |this: &mut Self, field: &str| -> Option<String> {
            let p = join(&path, field);
            match map.get(field) {
                None => {
                    this.error(p, "missing; this field is required");
                    None
                }
                Some(v) => this.str(v, &p).map(str::to_string),
            }
        };
        let name = required(self, "name");
        let prefix = required(self, "path_prefix");
        let upstream = required(self, "upstream");
        let name = name.filter(|n| {
            let ok = !n.is_empty();
            if !ok {
                self.error(join(&path, "name"), "must not be empty");
            }
            ok
        });
        let prefix = prefix.filter(|p| self.check_prefix(p, &join(&path, "path_prefix")));
        let upstream = upstream.and_then(|u| {
            parse_upstream(&u)
                .map_err(|m| self.error(join(&path, "upstream"), m))
                .ok()
        });
        let strip_prefix = match map.get("strip_prefix") {
            Some(v) => self.bool(v, &join(&path, "strip_prefix")),
            None => Some(false),
        };
        let timeout_ms = match map.get("timeout_ms") {
            Some(v) => self.u32_in(v, &join(&path, "timeout_ms"), MAX_TIMEOUT_MS, 1),
            None => Some(DEFAULT_TIMEOUT_MS),
        };
        let cors_path = join(&path, "cors");
        let layer = match map.get("cors") {
            Some(c) => self.cors_layer(c, &cors_path),
            None => CorsLayer::default(),
        };
        let cors = self.merge(base, &layer, &cors_path);
        Some(Route {
            name: name?,
            path_prefix: prefix?,
            upstream: upstream?,
            strip_prefix: strip_prefix?,
            timeout_ms: timeout_ms?,
            cors: cors?,
            index,
        })
    }

    fn check_prefix(&mut self, p: &str, path: &str) -> bool {
        let problem = if !p.starts_with('/') {
            Some("must start with \"/\"")
        } else if p.contains(['?', '#']) {
            Some("is matched against the path only; remove the query or fragment")
        } else if crate::decision::path_is_unsafe(p) {
            Some("must not contain \".\" or \"..\" segments, percent-encoded dots or slashes, or backslashes")
        } else if p.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            Some("must not contain white space or control characters")
        } else {
            None
        };
        if let Some(m) = problem {
            self.error(path, format!("\"{p}\" {m}"));
        }
        problem.is_none()
    }

    fn cors_layer<'v>(&mut self, v: &'v Value, path: &str) -> CorsLayer<'v> {
        let mut layer = CorsLayer::default();
        let Some(map) = self.object(v, path, &CORS_FIELDS) else {
            return layer;
        };
        if let Some(v) = map.get("allow_origins") {
            let p = join(path, "allow_origins");
            let mut out = Vec::new();
            for (s, ip) in self.strings(v, &p) {
                match parse_pattern(s) {
                    Ok(pat) => out.push((s.to_string(), pat)),
                    Err(e) => self.error(ip, e.to_string()),
                }
            }
            layer.allow_origins = Some((out, p));
        }
        if let Some(v) = map.get("allow_methods") {
            let p = join(path, "allow_methods");
            let list = self.method_list(v, &p);
            layer.allow_methods = Some((list, p));
        }
        if let Some(v) = map.get("allow_headers") {
            let p = join(path, "allow_headers");
            let list = self.header_list(v, &p, HeaderListKind::Allow);
            layer.allow_headers = Some((list, p));
        }
        if let Some(v) = map.get("expose_headers") {
            let p = join(path, "expose_headers");
            let list = self.header_list(v, &p, HeaderListKind::Expose);
            layer.expose_headers = Some((list, p));
        }
        if let Some(v) = map.get("allow_credentials") {
            let p = join(path, "allow_credentials");
            layer.allow_credentials = self.bool(v, &p).map(|b| (b, p));
        }
        if let Some(v) = map.get("max_age_secs") {
            layer.max_age_secs = self.u32_in(v, &join(path, "max_age_secs"), MAX_MAX_AGE_SECS, 0);
        }
        if let Some(v) = map.get("allow_private_network") {
            layer.allow_private_network = self.bool(v, &join(path, "allow_private_network"));
        }
        if let Some(v) = map.get("on_disallowed_origin") {
            let p = join(path, "on_disallowed_origin");
            layer.on_disallowed_origin = match v.as_str() {
                Some("reject") => Some(OnDisallowed::Reject),
                Some("forward") => Some(OnDisallowed::Forward),
                _ => {
                    self.error(p, format!("expected \"reject\" or \"forward\", found {v}"));
                    None
                }
            };
        }
        layer
    }

    fn method_list(&mut self, v: &Value, path: &str) -> NameList {
        let mut wildcard = false;
        let mut names: Vec<String> = Vec::new();
        for (m, p) in self.strings(v, path) {
            if m == "*" {
                wildcard = true;
            } else if !is_token(m.as_bytes()) {
                self.error(
                    p,
                    format!("\"{m}\" is not an HTTP method (a token such as \"PATCH\")"),
                );
            } else if is_forbidden_method(m) {
                self.error(p, format!("\"{m}\" is a method browsers never send (CONNECT, TRACE and TRACK are forbidden by Fetch)"));
            } else if let Some(norm) = NORMALISED_METHODS
                .iter()
                .find(|n| n.eq_ignore_ascii_case(m) && **n != m)
            {
                self.error(p, format!("\"{m}\" never matches: browsers normalise it to \"{norm}\"; write \"{norm}\""));
            } else if !names.iter().any(|n| n == m) {
                names.push(m.to_string());
            }
        }
        NameList::new(wildcard, names)
    }

    fn header_list(&mut self, v: &Value, path: &str, kind: HeaderListKind) -> NameList {
        let mut wildcard = false;
        let mut names: Vec<String> = Vec::new();
        for (h, p) in self.strings(v, path) {
            let lower = h.to_ascii_lowercase();
            if h == "*" {
                wildcard = true;
            } else if !is_token(h.as_bytes()) {
                self.error(
                    p,
                    format!("\"{h}\" is not a header name (a token such as \"x-request-id\")"),
                );
            } else if kind == HeaderListKind::Allow && lower.starts_with("access-control-") {
                self.error(p, format!("\"{h}\" is a CORS protocol header; scripts cannot send it, so it never belongs in allow_headers"));
            } else if kind == HeaderListKind::Allow && is_forbidden_request_header(&lower) {
                self.error(p, format!("\"{h}\" is a forbidden request header: browsers never let a script set it, so listing it changes nothing"));
            } else if kind == HeaderListKind::Expose
                && (lower == "set-cookie" || lower == "set-cookie2")
            {
                self.error(p, format!("\"{h}\" can never be exposed: browsers hide Set-Cookie from scripts whatever the server says"));
            } else if !names.contains(&lower) {
                names.push(lower);
            }
        }
        NameList::new(wildcard, names)
    }

    /// Merges a route's overrides onto the defaults and checks the combinations
    /// that only exist once both are known (`*` with credentials).
    fn merge(&mut self, base: &CorsLayer, over: &CorsLayer, path: &str) -> Option<CorsConfig> {
        fn pick<'a, T>(over: &'a Option<T>, base: &'a Option<T>) -> Option<&'a T> {
            over.as_ref().or(base.as_ref())
        }
        let origins = pick(&over.allow_origins, &base.allow_origins);
        let (credentials, cred_path) = pick(&over.allow_credentials, &base.allow_credentials)
            .map(|(b, p)| (*b, p.clone()))
            .unwrap_or((false, join(path, "allow_credentials")));
        let methods =
            pick(&over.allow_methods, &base.allow_methods).map(|(l, p)| (l.clone(), p.clone()));
        let headers =
            pick(&over.allow_headers, &base.allow_headers).map(|(l, p)| (l.clone(), p.clone()));
        let expose =
            pick(&over.expose_headers, &base.expose_headers).map(|(l, p)| (l.clone(), p.clone()));
        let before = self.errors.len();
        if credentials {
            let why = format!("allow_credentials is true (at {cred_path}) and browsers read \"*\" literally when credentials are included");
            if let Some((list, p)) = origins {
                if list.iter().any(|(_, pat)| *pat == OriginPattern::Any) {
                    self.error(p.clone(), format!("\"*\" cannot be combined with credentials: {why}; list the origins instead"));
                }
            }
            for (list, what) in [
                (&methods, "methods"),
                (&headers, "headers"),
                (&expose, "headers"),
            ] {
                if let Some((l, p)) = list {
                    if l.wildcard {
                        self.error(p.clone(), format!("\"*\" cannot be combined with credentials: {why}; list the {what} instead"));
                    }
                }
            }
        }
        if self.errors.len() != before {
            return None;
        }
        let entries: Vec<String> = origins
            .map(|(l, _)| l.iter().map(|(s, _)| s.clone()).collect())
            .unwrap_or_default();
        let set = OriginSet::from_patterns(
            origins
                .map(|(l, _)| l.iter().map(|(_, p)| p.clone()).collect::<Vec<_>>())
                .unwrap_or_default(),
        );
        let max_age = over
            .max_age_secs
            .or(base.max_age_secs)
            .unwrap_or(DEFAULT_MAX_AGE_SECS);
        Some(CorsConfig {
            origin_entries: entries,
            origins: set,
            allow_methods: methods.map(|(l, _)| l).unwrap_or_else(|| {
                NameList::new(false, DEFAULT_METHODS.map(String::from).to_vec())
            }),
            allow_headers: headers
                .map(|(l, _)| l)
                .unwrap_or_else(|| NameList::new(false, Vec::new())),
            expose_headers: expose
                .map(|(l, _)| l)
                .unwrap_or_else(|| NameList::new(false, Vec::new())),
            allow_credentials: credentials,
            max_age_secs: max_age,
            max_age_value: max_age.to_string(),
            allow_private_network: over
                .allow_private_network
                .or(base.allow_private_network)
                .unwrap_or(false),
            on_disallowed_origin: over
                .on_disallowed_origin
                .or(base.on_disallowed_origin)
                .unwrap_or(OnDisallowed::Reject),
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
    if crate::decision::path_is_unsafe(path)
        || path.bytes().any(|b| b.is_ascii_control() || b == b' ')
    {
        return Err(format!("\"{s}\": the base path must not contain dot segments, encoded slashes, white space or control characters"));
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
               "expose_headers":["set-cookie"],"max_age_secs":90000,"on_disallowed_origin":"drop"},
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
