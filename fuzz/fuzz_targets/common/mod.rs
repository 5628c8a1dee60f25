//! Shared by the policy fuzz targets: the requests every accepted policy is
//! probed with.

use cors_gateway_core::{OriginHeader, Policy, RequestView};

/// Calls `f` with a request view for every (method, origin, requested method)
/// of `probes` on every route's prefix and on `/` (no route).
pub fn for_each_probe(
    policy: &Policy,
    probes: &[(&str, &[u8], Option<&[u8]>)],
    mut f: impl FnMut(&RequestView<'_>),
) {
    let lines: [&[u8]; 1] = [b"content-type, x-a"];
    for &(method, origin, request_method) in probes {
        let prefixes = policy.routes.iter().map(|r| r.path_prefix.as_str());
        for path in prefixes.chain(["/"]) {
            f(&RequestView {
                method,
                path,
                origin: OriginHeader::One(origin),
                request_method,
                request_headers: &lines,
                request_private_network: false,
                host: None,
            });
        }
    }
}
