//! The CORS decision: given a compiled policy and the CORS-relevant parts of a
//! request, what to do and which headers to send. This is the one place the
//! rules of the gateway's response table (tests/cases/decisions.json) live;
//! the component, `explain` and the benchmarks all call [`decide`].
//!
//! The decision borrows from the policy and the request and allocates nothing.

mod failure;
mod outcome;
mod request;

pub use failure::Failure;
pub use outcome::{Action, ActionForLog, Decision, Grant, Kind, Would};
pub use request::{OriginHeader, RequestView};

use crate::fetch::is_safelisted_method;
use crate::headers::{is_token, parse_request_header_list};
use crate::origin::{parse_origin, OriginMatch, OriginParts, MAX_ORIGIN_LEN};
use crate::path;
use crate::policy::{CorsConfig, Mode, OnDisallowed, Policy, Route};
use http::StatusCode;

/// `Vary` on every answer to an `OPTIONS` request, preflight or not, allowed
/// or not: a preflight's answer depends on all four.
pub const VARY_PREFLIGHT: &str = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers, Access-Control-Request-Private-Network";
pub const VARY_ORIGIN: &str = "Origin";

enum Origin<'r> {
    Absent,
    Malformed,
    Null(&'r str),
    Tuple(&'r str, OriginParts<'r>),
}

fn classify_origin<'r>(h: OriginHeader<'r>) -> Origin<'r> {
    match h {
        OriginHeader::Absent => Origin::Absent,
        OriginHeader::Multiple => Origin::Malformed,
        // Longer than any origin a browser can send: refused before any
        // per-byte work, so a hostile value costs O(1).
        OriginHeader::One(bytes) if bytes.len() > MAX_ORIGIN_LEN => Origin::Malformed,
        OriginHeader::One(bytes) => match std::str::from_utf8(bytes) {
            Ok("null") => Origin::Null("null"),
            Ok(s) => match parse_origin(s) {
                Some(parts) => Origin::Tuple(s, parts),
                None => Origin::Malformed,
            },
            Err(_) => Origin::Malformed,
        },
    }
}

/// Decides what to do with a request. Pure, allocation-free.
pub fn decide<'a>(policy: &'a Policy, req: &RequestView<'a>) -> Decision<'a> {
    let origin = classify_origin(req.origin);
    let kind = match origin {
        Origin::Absent => Kind::NotCors,
        _ if req.method == "OPTIONS" && req.request_method.is_some() => Kind::Preflight,
        _ => Kind::Actual,
    };
    let route = policy.route_for(req.path);
    let cors = route.map_or(&policy.defaults, |r| &r.cors);
    let vary = match origin {
        // An OPTIONS answer may be taken for a preflight's by a cache.
        _ if kind == Kind::Preflight || req.method == "OPTIONS" => Some(VARY_PREFLIGHT),
        // The refusal of a malformed Origin depends on the Origin, even on a
        // route whose other answers do not.
        Origin::Malformed => Some(VARY_ORIGIN),
        _ if cors.origin_independent() => None,
        _ => Some(VARY_ORIGIN),
    };
    let mut d = Draft {
        kind,
        origin_match: None,
        failure: None,
        grant: None,
        vary,
        report_only: None,
    };
    let refuse = |mut d: Draft<'a>, status: StatusCode, failure: Failure<'a>| {
        d.failure = Some(failure);
        d.respond(status, route)
    };
    if let Err(issue) = path::check(req.path, route.is_some_and(|r| r.allow_encoded_slashes)) {
        return refuse(d, StatusCode::BAD_REQUEST, Failure::UnsafePath(issue));
    }
    let hosts = route.map_or(&policy.allowed_hosts, |r| &r.allowed_hosts);
    if let Some(hosts) = hosts {
        if !req.host.is_some_and(|h| hosts.contains(h)) {
            return refuse(d, StatusCode::MISDIRECTED_REQUEST, Failure::HostNotAllowed);
        }
    }
    if crate::is_reserved_path(req.path) {
        return refuse(d, StatusCode::NOT_FOUND, Failure::ReservedPath);
    }
    // Past the boundary checks, which report-only never relaxes.
    d.report_only = route.filter(|r| r.cors.mode == Mode::ReportOnly);
    let (origin_str, parts) = match origin {
        Origin::Absent => {
            return match route {
                // A route that answers every origin with `*` answers requests
                // without Origin the same way: then the response is the same
                // for everyone, which is what makes leaving out `Vary: Origin`
                // safe (a cached copy is right for any later CORS request).
                Some(r) if r.cors.origin_independent() => {
                    d.grant = Some(actual_grant(&r.cors, "*"));
                    d.forward(r)
                }
                Some(r) => d.forward(r),
                None => refuse(d, StatusCode::NOT_FOUND, Failure::NoRoute),
            };
        }
        Origin::Malformed => return refuse(d, StatusCode::FORBIDDEN, Failure::MalformedOrigin),
        Origin::Null(s) => (s, None),
        Origin::Tuple(s, p) => (s, Some(p)),
    };
    d.origin_match = cors.origins.matches(origin_str, parts.as_ref());
    let Some(route) = route else {
        // A 404 the page can read when the defaults allow its origin.
        if d.origin_match.is_some() {
            d.grant = Some(actual_grant(cors, origin_str));
        }
        return refuse(d, StatusCode::NOT_FOUND, Failure::NoRoute);
    };
    if d.origin_match.is_none() {
        return match (kind, cors.on_disallowed_origin) {
            (Kind::Actual, OnDisallowed::Forward) => {
                d.failure = Some(Failure::OriginNotAllowed);
                d.forward(route)
            }
            _ => refuse(d, StatusCode::FORBIDDEN, Failure::OriginNotAllowed),
        };
    }
    if kind == Kind::Actual {
        d.grant = Some(actual_grant(&route.cors, origin_str));
        return d.forward(route);
    }
    match check_preflight(&route.cors, req) {
        Ok(requested_headers) => {
            let c = &route.cors;
            d.grant = Some(Grant {
                allow_origin: allow_origin_value(c, origin_str),
                allow_credentials: c.allow_credentials,
                allow_methods: (!c.allow_methods.is_empty()).then_some(&c.allow_methods.value),
                allow_headers: (requested_headers && !c.allow_headers.is_empty())
                    .then_some(&c.allow_headers.value),
                max_age: Some(&c.max_age_value),
                allow_private_network: req.request_private_network,
                expose_headers: None,
            });
            d.respond(StatusCode::NO_CONTENT, Some(route))
        }
        Err(f) => refuse(d, StatusCode::FORBIDDEN, f),
    }
}

/// A decision being made: everything but the action, which is set last, from
/// a route in hand (so a forward without one cannot be written).
struct Draft<'a> {
    kind: Kind,
    origin_match: Option<OriginMatch>,
    failure: Option<Failure<'a>>,
    grant: Option<Grant<'a>>,
    vary: Option<&'static str>,
    /// The route, once past the boundary checks, when it is report-only.
    report_only: Option<&'a Route>,
}

impl<'a> Draft<'a> {
    fn respond(self, status: StatusCode, route: Option<&'a Route>) -> Decision<'a> {
        let action = match self.report_only {
            Some(route) => Action::ReportOnly {
                route,
                would: Would::Respond(status),
            },
            None => Action::Respond { status, route },
        };
        self.with(action)
    }

    fn forward(self, route: &'a Route) -> Decision<'a> {
        let action = match self.report_only {
            Some(route) => Action::ReportOnly {
                route,
                would: Would::Forward,
            },
            None => Action::Forward(route),
        };
        self.with(action)
    }

    fn with(self, action: Action<'a>) -> Decision<'a> {
        Decision {
            kind: self.kind,
            action,
            origin_match: self.origin_match,
            failure: self.failure,
            grant: self.grant,
            vary: self.vary,
        }
    }
}

fn allow_origin_value<'a>(c: &'a CorsConfig, origin: &'a str) -> &'a str {
    if c.origin_independent() {
        "*"
    } else {
        // Safe to reflect: the origin parsed as canonical and matched the policy.
        origin
    }
}

fn actual_grant<'a>(c: &'a CorsConfig, origin: &'a str) -> Grant<'a> {
    Grant {
        allow_origin: allow_origin_value(c, origin),
        allow_credentials: c.allow_credentials,
        allow_methods: None,
        allow_headers: None,
        max_age: None,
        allow_private_network: false,
        expose_headers: (!c.expose_headers.is_empty()).then_some(&c.expose_headers.value),
    }
}

/// The preflight checks of Fetch's CORS-preflight fetch, from the server side.
/// Returns whether any headers were requested.
fn check_preflight<'a>(c: &CorsConfig, req: &RequestView<'a>) -> Result<bool, Failure<'a>> {
    let method = req
        .request_method
        .and_then(|m| std::str::from_utf8(m).ok())
        .filter(|m| is_token(m.as_bytes()))
        .ok_or(Failure::MalformedRequestMethod)?;
    let any = !c.allow_credentials;
    if !(is_safelisted_method(method)
        || c.allow_methods.contains(method)
        || (any && c.allow_methods.wildcard))
    {
        return Err(Failure::MethodNotAllowed(method));
    }
    let mut requested = false;
    for name in parse_request_header_list(req.request_headers).map_err(Failure::RequestHeaders)? {
        requested = true;
        if c.allow_headers.contains_ignore_case(name) {
            continue;
        }
        let is_authorization = name.eq_ignore_ascii_case(b"authorization");
        if any && c.allow_headers.wildcard && !is_authorization {
            continue;
        }
        // `name` is a validated token, so it is ASCII.
        let name = std::str::from_utf8(name).unwrap_or("?");
        return Err(if is_authorization && c.allow_headers.wildcard {
            Failure::AuthorizationNeedsListing
        } else {
            Failure::HeaderNotAllowed(name)
        });
    }
    if req.request_private_network && !c.allow_private_network {
        return Err(Failure::PrivateNetworkNotAllowed);
    }
    Ok(requested)
}

/// The path and query to request from `route`'s upstream for an incoming
/// request: `path` is the normalised path the route was chosen by (so it
/// starts with the route's prefix), `query` is empty or starts with `?`.
pub fn upstream_path(route: &Route, path: &str, query: &str) -> String {
    let rest = if route.strip_prefix {
        path.get(route.path_prefix.len()..).unwrap_or("")
    } else {
        path
    };
    let base = route.upstream.base_path.as_str();
    let mut out = String::with_capacity(base.len() + rest.len() + query.len() + 1);
    out.push_str(base);
    if !rest.starts_with('/') {
        out.push('/');
    }
    out.push_str(rest);
    out.push_str(query);
    out
}
