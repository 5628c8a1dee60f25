//! The parts of a request the decision depends on, as any host hands them over.

/// The request's `Origin` header as the host saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginHeader<'a> {
    Absent,
    One(&'a [u8]),
    /// More than one `Origin` line: never sent by a browser.
    Multiple,
}

/// The parts of a request the decision depends on.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    pub method: &'a str,
    /// The path, without the query.
    pub path: &'a str,
    pub origin: OriginHeader<'a>,
    /// `Access-Control-Request-Method`; several lines are passed joined by the
    /// host as an invalid token, which fails the preflight.
    pub request_method: Option<&'a [u8]>,
    /// Every `Access-Control-Request-Headers` line.
    pub request_headers: &'a [&'a [u8]],
    /// `Access-Control-Request-Private-Network: true` was sent.
    pub request_private_network: bool,
    /// The `Host` the request was sent to (the host's authority where it
    /// knows one); several `Host` lines are passed as an empty value.
    pub host: Option<&'a [u8]>,
}

impl<'a> RequestView<'a> {
    /// Builds the view from a request's method, path (a query is ignored) and
    /// header lines, as any host hands them over. The path must already be
    /// [`path::normalize`]d (an unnormalised one is refused, never misrouted).
    /// `scratch` holds the
    /// `Access-Control-Request-Headers` lines (the caller owns the buffer so
    /// this stays allocation-free when it is reused).
    pub fn from_headers<N: AsRef<str>, V: AsRef<[u8]>>(
        method: &'a str,
        path_with_query: &'a str,
        headers: &'a [(N, V)],
        scratch: &'a mut Vec<&'a [u8]>,
    ) -> Self {
        let (path, _query) = crate::path::split_query(path_with_query);
        let mut origin = OriginHeader::Absent;
        let mut request_method: Option<&[u8]> = None;
        let mut request_private_network = false;
        let mut host: Option<&[u8]> = None;
        for (name, value) in headers {
            let (name, value) = (name.as_ref(), value.as_ref());
            if name.eq_ignore_ascii_case("origin") {
                origin = match origin {
                    OriginHeader::Absent => OriginHeader::One(value),
                    _ => OriginHeader::Multiple,
                };
            } else if name.eq_ignore_ascii_case("access-control-request-method") {
                // Two lines are never a browser's; an empty value is no token.
                request_method = Some(if request_method.is_some() { b"" } else { value });
            } else if name.eq_ignore_ascii_case("access-control-request-headers") {
                scratch.push(value);
            } else if name.eq_ignore_ascii_case("access-control-request-private-network") {
                request_private_network = value.eq_ignore_ascii_case(b"true");
            } else if name.eq_ignore_ascii_case("host") {
                host = Some(if host.is_some() { b"" } else { value });
            }
        }
        RequestView {
            method,
            path,
            origin,
            request_method,
            request_headers: scratch,
            request_private_network,
            host,
        }
    }
}
