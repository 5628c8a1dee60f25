//! What a decision is: the request's [`Kind`], the [`Action`] (answer,
//! forward on a route, or report-only), the [`Grant`] of CORS headers and the
//! `Vary` to merge, as [`decide`](super::decide) returns them. Types only: an
//! invalid state (a forward without a route) cannot be written.

use super::Failure;
use crate::origin::OriginMatch;
use crate::policy::Route;
use http::{HeaderValue, StatusCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// No `Origin`: not a CORS request.
    NotCors,
    Preflight,
    /// A CORS request other than a preflight (including `OPTIONS` without
    /// `Access-Control-Request-Method`).
    Actual,
}

/// What the gateway does with a request. A forward always names its route,
/// and report-only is its own case, so the host only matches.
#[derive(Debug, Clone, Copy)]
pub enum Action<'a> {
    /// The gateway answers itself with this status; `route` is the route the
    /// path chose, if any (for the log).
    Respond {
        status: StatusCode,
        route: Option<&'a Route>,
    },
    /// Send to the route's upstream, adding the decision's grant and `Vary`.
    Forward(&'a Route),
    /// The route is in `"mode": "report-only"` and the request passed the
    /// boundary checks: forward it untouched (no CORS header added, none of
    /// the upstream's removed). `would` and the decision's other fields are
    /// what the gateway *would* have done, for the log.
    ReportOnly { route: &'a Route, would: Would },
}

/// What an enforcing gateway would have done with a report-only request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Would {
    Respond(StatusCode),
    Forward,
}

/// The CORS response headers granted by a decision, borrowed from the policy
/// (rendered at load time) and from the validated request origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant<'a> {
    pub allow_origin: &'a str,
    pub allow_credentials: bool,
    pub allow_methods: Option<&'a HeaderValue>,
    pub allow_headers: Option<&'a HeaderValue>,
    pub max_age: Option<&'a HeaderValue>,
    pub allow_private_network: bool,
    pub expose_headers: Option<&'a HeaderValue>,
}

impl<'a> Grant<'a> {
    /// The headers in the order they are sent.
    pub fn headers(&self) -> impl Iterator<Item = (&'static str, &'a [u8])> + '_ {
        let policy = |v: &'a HeaderValue| v.as_bytes();
        [
            Some(("access-control-allow-origin", self.allow_origin.as_bytes())),
            self.allow_credentials
                .then_some(("access-control-allow-credentials", b"true".as_slice())),
            self.allow_methods
                .map(|v| ("access-control-allow-methods", policy(v))),
            self.allow_headers
                .map(|v| ("access-control-allow-headers", policy(v))),
            self.max_age.map(|v| ("access-control-max-age", policy(v))),
            self.allow_private_network
                .then_some(("access-control-allow-private-network", b"true".as_slice())),
            self.expose_headers
                .map(|v| ("access-control-expose-headers", policy(v))),
        ]
        .into_iter()
        .flatten()
    }
}

/// What the gateway does with one request.
#[derive(Debug, Clone, Copy)]
pub struct Decision<'a> {
    pub kind: Kind,
    pub action: Action<'a>,
    pub origin_match: Option<OriginMatch>,
    pub failure: Option<Failure<'a>>,
    /// CORS headers to send (in report-only: that would be sent); `None`
    /// means none at all.
    pub grant: Option<Grant<'a>>,
    /// Value to merge into the response's `Vary` (in report-only: that would be).
    pub vary: Option<&'static str>,
}

impl<'a> Decision<'a> {
    /// The route the path chose, if any.
    pub fn route(&self) -> Option<&'a Route> {
        match self.action {
            Action::Respond { route, .. } => route,
            Action::Forward(route) | Action::ReportOnly { route, .. } => Some(route),
        }
    }

    /// The status the gateway answers (in report-only: would answer) itself
    /// with; `None` when it forwards (would forward).
    pub fn status(&self) -> Option<StatusCode> {
        match self.action {
            Action::Respond { status, .. }
            | Action::ReportOnly {
                would: Would::Respond(status),
                ..
            } => Some(status),
            Action::Forward(_)
            | Action::ReportOnly {
                would: Would::Forward,
                ..
            } => None,
        }
    }

    /// Whether the request is forwarded untouched (report-only).
    pub fn is_report_only(&self) -> bool {
        matches!(self.action, Action::ReportOnly { .. })
    }

    /// The CORS headers actually sent (none in report-only), without `Vary`.
    pub fn sent_grant(&self) -> Option<Grant<'a>> {
        self.grant.filter(|_| !self.is_report_only())
    }

    /// The `Vary` value actually merged (none in report-only).
    pub fn sent_vary(&self) -> Option<&'static str> {
        self.vary.filter(|_| !self.is_report_only())
    }

    /// The would-be action as the access log has always written it
    /// (`Respond(403)` or `Forward`).
    pub fn action_for_log(&self) -> ActionForLog {
        ActionForLog(self.status())
    }
}

/// See [`Decision::action_for_log`].
pub struct ActionForLog(Option<StatusCode>);

impl std::fmt::Display for ActionForLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(s) => write!(f, "Respond({})", s.as_u16()),
            None => f.write_str("Forward"),
        }
    }
}

impl Decision<'_> {
    /// The decision in one word, for logs and `report`: `allow` (CORS access
    /// granted), `refuse` (refused or not granted, with a failure), or
    /// `not-cors` (no `Origin`, nothing to grant).
    pub fn outcome(&self) -> &'static str {
        match (self.failure, self.kind) {
            (Some(_), _) => "refuse",
            (None, Kind::NotCors) => "not-cors",
            (None, _) => "allow",
        }
    }

    /// Whether two decisions (say, the live and the candidate policy's) would
    /// answer the client differently: another action, failure or header.
    /// The mode is not compared: a report-only policy's would-be decision is
    /// what a candidate is held against.
    pub fn differs_from(&self, other: &Decision<'_>) -> bool {
        self.status() != other.status()
            || self.failure.map(|f| f.code()) != other.failure.map(|f| f.code())
            || self.vary != other.vary
            || !self.headers().eq(other.headers())
    }

    /// Every header the gateway adds (CORS headers, then `Vary`).
    pub fn headers(&self) -> impl Iterator<Item = (&'static str, &[u8])> + '_ {
        self.grant
            .iter()
            .flat_map(|g| g.headers())
            .chain(self.vary.map(|v| ("vary", v.as_bytes())))
    }
}
