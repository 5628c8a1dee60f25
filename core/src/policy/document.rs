//! Validating the document: its top level, each route, the route's
//! forwarding options, and the checks across routes.

use super::cors::CorsLayer;
use super::validate::{At, Validator, ROOT, ROUTES};
use super::*;
use crate::forwarding::DEFAULT_TIMEOUT_MS;
use crate::headers::is_token;

const TOP_FIELDS: [&str; 6] = [
    "$schema",
    "version",
    "cors",
    "routes",
    "debug",
    "allowed_hosts",
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

impl Validator {
    pub(super) fn policy(&mut self, v: &Json) -> Option<Policy> {
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
        // `timeout_ms` is the default of the timeouts in `forward`; an
        // invalid one still invalidates the route.
        timeout_ms?;
        Some(Route {
            name: name?,
            path_prefix: prefix?,
            upstream: upstream?,
            strip_prefix: strip_prefix?,
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
}
