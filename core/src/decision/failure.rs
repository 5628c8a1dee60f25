//! Why a request was refused or not granted CORS access: the stable codes of
//! logs and the debug header, and the messages `explain` prints.

use crate::headers::HeaderListError;
use crate::path::PathIssue;
use std::fmt;

/// Why a request was refused or not granted CORS access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure<'r> {
    UnsafePath(PathIssue),
    /// `allowed_hosts` is set and the request's `Host` is not in it.
    HostNotAllowed,
    /// A path under `/.well-known/cors-gateway/` that no gateway feature answers.
    ReservedPath,
    MalformedOrigin,
    OriginNotAllowed,
    NoRoute,
    MalformedRequestMethod,
    MethodNotAllowed(&'r str),
    RequestHeaders(HeaderListError),
    HeaderNotAllowed(&'r str),
    /// `authorization` was requested and the policy only has `"*"`.
    AuthorizationNeedsListing,
    PrivateNetworkNotAllowed,
}

impl Failure<'_> {
    /// A stable identifier for logs and the debug header.
    pub fn code(&self) -> &'static str {
        match self {
            Failure::UnsafePath(_) => "unsafe-path",
            Failure::HostNotAllowed => "host-not-allowed",
            Failure::ReservedPath => "reserved-path",
            Failure::MalformedOrigin => "malformed-origin",
            Failure::OriginNotAllowed => "origin-not-allowed",
            Failure::NoRoute => "no-route",
            Failure::MalformedRequestMethod => "malformed-request-method",
            Failure::MethodNotAllowed(_) => "method-not-allowed",
            Failure::RequestHeaders(HeaderListError::TooLarge) => "request-headers-too-large",
            Failure::RequestHeaders(HeaderListError::TooMany) => "request-headers-too-many",
            Failure::RequestHeaders(HeaderListError::NotAToken) => "request-headers-malformed",
            Failure::HeaderNotAllowed(_) => "header-not-allowed",
            Failure::AuthorizationNeedsListing => "authorization-not-listed",
            Failure::PrivateNetworkNotAllowed => "private-network-not-allowed",
        }
    }
}

impl<'r> Failure<'r> {
    /// The request's value that failed the check, where one did: the
    /// requested method or header name (what the fix adds to the policy).
    pub fn detail(&self) -> Option<&'r str> {
        match self {
            Failure::MethodNotAllowed(m) => Some(m),
            Failure::HeaderNotAllowed(h) => Some(h),
            Failure::AuthorizationNeedsListing => Some("authorization"),
            _ => None,
        }
    }
}

impl fmt::Display for Failure<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::UnsafePath(issue) => write!(
                f,
                "{issue}: an upstream could read it as another route's path"
            ),
            Failure::HostNotAllowed => f.write_str("the Host is not in allowed_hosts"),
            Failure::ReservedPath => f.write_str(
                "paths under /.well-known/cors-gateway/ belong to the gateway and are never forwarded",
            ),
            Failure::MalformedOrigin => f.write_str("the Origin header is not a canonical origin"),
            Failure::OriginNotAllowed => f.write_str("the origin is not in allow_origins"),
            Failure::NoRoute => f.write_str("no route's path_prefix matches the path"),
            Failure::MalformedRequestMethod => {
                f.write_str("Access-Control-Request-Method is not a method token")
            }
            Failure::MethodNotAllowed(m) => write!(f, "method {m} is not in allow_methods"),
            Failure::RequestHeaders(HeaderListError::TooLarge) => {
                f.write_str("Access-Control-Request-Headers is too large")
            }
            Failure::RequestHeaders(HeaderListError::TooMany) => {
                f.write_str("Access-Control-Request-Headers names too many headers")
            }
            Failure::RequestHeaders(HeaderListError::NotAToken) => {
                f.write_str("Access-Control-Request-Headers has an entry that is not a header name")
            }
            Failure::HeaderNotAllowed(h) => write!(f, "request header {h} is not in allow_headers"),
            Failure::AuthorizationNeedsListing => f.write_str(
                "authorization is never covered by \"*\" in allow_headers; it must be listed",
            ),
            Failure::PrivateNetworkNotAllowed => f.write_str(
                "private network access was requested and allow_private_network is false",
            ),
        }
    }
}
