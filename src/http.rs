//! What the request flow (`serve` in lib.rs) needs of a `wasi:http` binding:
//! to send an answer the gateway wrote, and to forward. Two bindings implement
//! it: [`crate::p2`] (WASI 0.2, the portable and the Spin build) and `p3`
//! (WASI 0.3, feature `p3`). Everything else the request does is shared.

use crate::log::Req;
use crate::respond::Head;
use cors_gateway_core::{Decision, Route};

pub(crate) trait Http {
    /// The incoming request, handed on to forwarding (and the admin endpoint).
    type Request;
    /// The request's method, as the binding has it.
    type Method;
    /// Where the answer goes: WASI 0.2's `response-outparam`; nothing in 0.3,
    /// where the answer is returned.
    type Out;
    /// What serving a request gives back: nothing in 0.2 (the answer is set
    /// through `Out`); in 0.3 the answer, or the exchange that makes it.
    type Done;

    fn method_name(method: &Self::Method) -> &str;

    /// Sends a complete answer with a small body.
    fn send(req: &Req, out: Self::Out, head: Head<'_>, body: &[u8]) -> Self::Done;

    /// Forwards the request to `route`'s upstream with `decision`'s headers.
    fn forward(
        req: &Req,
        incoming: Incoming<'_, Self>,
        route: &Route,
        decision: &Decision<'_>,
        out: Self::Out,
    ) -> Self::Done;

    /// The Spin build's admin endpoint.
    #[cfg(feature = "spin")]
    fn admin(
        req: &Req,
        request: Self::Request,
        out: Self::Out,
        method: &Self::Method,
        path: &str,
        headers: &[(String, Vec<u8>)],
        token: &str,
    ) -> Self::Done;
}

/// A request on its way to an upstream.
pub(crate) struct Incoming<'a, H: Http + ?Sized> {
    pub request: H::Request,
    pub method: &'a H::Method,
    /// The normalised path the route was chosen by, and the query.
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a [(String, Vec<u8>)],
    /// What the request was addressed to (the host's, else `Host`).
    pub authority: Option<&'a str>,
}
