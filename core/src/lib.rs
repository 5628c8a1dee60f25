//! cors-gateway-core: everything cors-gateway decides, with no I/O.
//!
//! - [`policy`]: the policy document, its validation and compilation;
//! - [`origin`]: origin parsing and the pattern set;
//! - [`compiled`]: the compiled policy form (`cors-gateway compile`), loaded in one pass;
//! - [`decision`]: [`decide`], the answer for one request;
//! - [`headers`]: header-level rules shared by the above;
//! - [`path`]: the canonical request path (normalised or refused before routing);
//! - [`host`]: the `allowed_hosts` list;
//! - [`forwarding`]: what crosses when a request is forwarded, and the route's forwarding options;
//! - [`json`]: the borrowing JSON tree the policy is validated from;
//! - [`lint`] (feature `lint`, on by default): what is legal but risky or
//!   useless (for `check`);
//! - [`locate`]: JSON path to line:column, for messages.
//!
//! The Wasm component, the `cors-gateway` CLI and the benchmarks are thin
//! layers over this crate.

pub mod compiled;
pub mod decision;
pub mod fetch;
pub mod forwarding;
pub mod headers;
pub mod host;
pub mod json;
#[cfg(feature = "lint")]
pub mod lint;
pub mod locate;
pub mod origin;
pub mod path;
pub mod policy;
pub mod request_id;

pub use decision::{
    decide, Action, Decision, Failure, Grant, Kind, OriginHeader, RequestView, Would,
};
pub use http::StatusCode;
pub use policy::{Policy, PolicyError, PolicyErrors, Route};

/// The gateway's own namespace: every path in it is answered by the
/// gateway (health, the Spin build's admin endpoint, else 404) and never
/// forwarded, whatever the routes say.
pub const RESERVED_PREFIX: &str = "/.well-known/cors-gateway";

/// Reserved path of the health endpoint, answered before routing.
pub const HEALTH_PATH: &str = "/.well-known/cors-gateway/health";

/// True for [`RESERVED_PREFIX`] itself and every path below it, ignoring
/// ASCII case as route matching does.
pub fn is_reserved_path(path: &str) -> bool {
    path::has_prefix(path, RESERVED_PREFIX)
        && matches!(
            path.as_bytes().get(RESERVED_PREFIX.len()),
            None | Some(b'/')
        )
}
