//! Validating `cors` objects: each level as written (a layer), its origin,
//! method and header lists, and the merge of a route's layer onto the defaults.

use super::validate::{At, Validator};
use super::*;
use crate::fetch::{is_forbidden_method, is_forbidden_request_header, NORMALISED_METHODS};
use crate::headers::Token;
use crate::origin::{parse_pattern, OriginSet};

/// The `cors` object as written at one level, before merging. Lists are
/// compiled once per layer and shared (`Arc`) by every route that inherits them.
#[derive(Default)]
pub(super) struct CorsLayer<'a> {
    /// JSON path of this `cors` object, for messages.
    pub(super) path: At<'a>,
    pub(super) allow_origins: Option<Arc<OriginSet>>,
    pub(super) allow_methods: Option<Arc<NameList>>,
    pub(super) allow_headers: Option<Arc<NameList>>,
    pub(super) expose_headers: Option<Arc<NameList>>,
    pub(super) allow_credentials: Option<bool>,
    pub(super) max_age_secs: Option<u32>,
    pub(super) allow_private_network: Option<bool>,
    pub(super) on_disallowed_origin: Option<OnDisallowed>,
    pub(super) mode: Option<Mode>,
}

/// The fields of a `cors` object, in the order the documentation gives them.
pub const CORS_FIELDS: [&str; 9] = [
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

impl Validator {
    pub(super) fn cors_layer<'p>(&mut self, v: &Json, path: At<'p>) -> CorsLayer<'p> {
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
        let mut names: Vec<Token> = Vec::new();
        for (m, i) in self.strings(v, path) {
            let p = || path.index(i);
            // `*` is a token too, so the wildcard is taken first.
            if m == "*" {
                wildcard = true;
                continue;
            }
            let Some(token) = Token::new(m) else {
                self.error(
                    p(),
                    format!("\"{m}\" is not an HTTP method (a token such as \"PATCH\")"),
                );
                continue;
            };
            if is_forbidden_method(m) {
                self.error(p(), format!("\"{m}\" is a method browsers never send (CONNECT, TRACE and TRACK are forbidden by Fetch)"));
            } else if let Some(norm) = NORMALISED_METHODS
                .iter()
                .find(|n| n.eq_ignore_ascii_case(m) && **n != m)
            {
                self.error(p(), format!("\"{m}\" never matches: browsers normalise it to \"{norm}\"; write \"{norm}\""));
            } else if !names.contains(&token) {
                names.push(token);
            }
        }
        NameList::new(wildcard, names)
    }

    fn header_list(&mut self, v: &Json, path: At, kind: HeaderListKind) -> NameList {
        let mut wildcard = false;
        let mut names: Vec<Token> = Vec::new();
        for (h, i) in self.strings(v, path) {
            let p = || path.index(i);
            if h == "*" {
                wildcard = true;
                continue;
            }
            let Some(token) = Token::new(h.to_ascii_lowercase()) else {
                self.error(
                    p(),
                    format!("\"{h}\" is not a header name (a token such as \"x-request-id\")"),
                );
                continue;
            };
            let lower = token.as_str();
            if kind == HeaderListKind::Allow && lower.starts_with("access-control-") {
                self.error(p(), format!("\"{h}\" is a CORS protocol header; scripts cannot send it, so it never belongs in allow_headers"));
            } else if kind == HeaderListKind::Allow && is_forbidden_request_header(lower) {
                self.error(p(), format!("\"{h}\" is a forbidden request header: browsers never let a script set it, so listing it changes nothing"));
            } else if kind == HeaderListKind::Expose
                && (lower == "set-cookie" || lower == "set-cookie2")
            {
                self.error(p(), format!("\"{h}\" can never be exposed: browsers hide Set-Cookie from scripts whatever the server says"));
            } else if !names.contains(&token) {
                names.push(token);
            }
        }
        NameList::new(wildcard, names)
    }

    /// Merges a route's overrides onto the defaults and checks the combinations
    /// that only exist once both are known (`*` with credentials).
    pub(super) fn merge(&mut self, base: &CorsLayer, over: &CorsLayer) -> Option<CorsConfig> {
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
                    default.iter().filter_map(|s| Token::new(*s)).collect(),
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
            max_age_value: http::HeaderValue::from(max_age),
            allow_private_network: pick(base, over, |l| &l.allow_private_network)
                .is_some_and(|(b, _)| *b),
            on_disallowed_origin: pick(base, over, |l| &l.on_disallowed_origin)
                .map_or(OnDisallowed::Reject, |(v, _)| *v),
            mode: pick(base, over, |l| &l.mode).map_or(Mode::Enforce, |(v, _)| *v),
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum HeaderListKind {
    Allow,
    Expose,
}
