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

/// The codes, in one table read both ways ([`Failure::code`] and
/// [`Failure::from_code`]), so the two cannot drift: each line is a code, the
/// variant it names, and the variant rebuilt from the code and the detail.
macro_rules! codes {
    (|$detail:ident| $($code:literal: $pat:pat => $build:expr,)*) => {
        impl<'r> Failure<'r> {
            /// A stable identifier for logs and the debug header.
            pub fn code(&self) -> &'static str {
                match self {
                    $($pat => $code,)*
                }
            }

            /// The failure a log line names by its code and
            /// [`detail`](Failure::detail) (`""` when it has none). `None`
            /// for an unknown code, and for `unsafe-path`: the log does not
            /// say which [`PathIssue`] it was.
            pub fn from_code(code: &str, $detail: &'r str) -> Option<Failure<'r>> {
                match code {
                    $($code => $build,)*
                    _ => None,
                }
            }
        }
    };
}

codes! {
    |detail|
    "unsafe-path": Failure::UnsafePath(_) => None,
    "host-not-allowed": Failure::HostNotAllowed => Some(Failure::HostNotAllowed),
    "reserved-path": Failure::ReservedPath => Some(Failure::ReservedPath),
    "malformed-origin": Failure::MalformedOrigin => Some(Failure::MalformedOrigin),
    "origin-not-allowed": Failure::OriginNotAllowed => Some(Failure::OriginNotAllowed),
    "no-route": Failure::NoRoute => Some(Failure::NoRoute),
    "malformed-request-method": Failure::MalformedRequestMethod => Some(Failure::MalformedRequestMethod),
    "method-not-allowed": Failure::MethodNotAllowed(_) => Some(Failure::MethodNotAllowed(detail)),
    "request-headers-too-large": Failure::RequestHeaders(HeaderListError::TooLarge) => Some(Failure::RequestHeaders(HeaderListError::TooLarge)),
    "request-headers-too-many": Failure::RequestHeaders(HeaderListError::TooMany) => Some(Failure::RequestHeaders(HeaderListError::TooMany)),
    "request-headers-malformed": Failure::RequestHeaders(HeaderListError::NotAToken) => Some(Failure::RequestHeaders(HeaderListError::NotAToken)),
    "header-not-allowed": Failure::HeaderNotAllowed(_) => Some(Failure::HeaderNotAllowed(detail)),
    "authorization-not-listed": Failure::AuthorizationNeedsListing => Some(Failure::AuthorizationNeedsListing),
    "private-network-not-allowed": Failure::PrivateNetworkNotAllowed => Some(Failure::PrivateNetworkNotAllowed),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant comes back from its code and detail (an unsafe path's
    /// code only: which issue is not logged).
    #[test]
    fn every_variant_round_trips_through_its_code() {
        use HeaderListError::*;
        let all = [
            Failure::UnsafePath(PathIssue::DotSegment),
            Failure::HostNotAllowed,
            Failure::ReservedPath,
            Failure::MalformedOrigin,
            Failure::OriginNotAllowed,
            Failure::NoRoute,
            Failure::MalformedRequestMethod,
            Failure::MethodNotAllowed("PUT"),
            Failure::RequestHeaders(TooLarge),
            Failure::RequestHeaders(TooMany),
            Failure::RequestHeaders(NotAToken),
            Failure::HeaderNotAllowed("x-token"),
            Failure::AuthorizationNeedsListing,
            Failure::PrivateNetworkNotAllowed,
        ];
        for f in all {
            let back = Failure::from_code(f.code(), f.detail().unwrap_or(""));
            match f {
                Failure::UnsafePath(_) => assert_eq!(back, None),
                _ => assert_eq!(back, Some(f), "{}", f.code()),
            }
        }
        let mut codes: Vec<_> = all.iter().map(|f| f.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len(), "codes are distinct");
        assert_eq!(Failure::from_code("no-such-code", ""), None);
    }
}
