//! Hostile requests against the component in a real `wasmtime serve`: the
//! gateway is never an open proxy, request smuggling shapes are refused with a
//! 4xx, and nothing from the request is reflected unvalidated.

use testkit::client::{raw_exchange, statuses};
use testkit::{Gateway, Upstream};

const APP: &str = "https://app.example.com";

fn gateway(up: &Upstream) -> Gateway {
    Gateway::builder()
        .policy(format!(
            r#"{{"version":1,
                "cors":{{"allow_origins":["{APP}"],"allow_headers":["content-type"],"allow_credentials":true}},
                "routes":[{{"name":"api","path_prefix":"/api/","upstream":"{}"}},
                          {{"name":"legacy","path_prefix":"/legacy/","upstream":"{}","cors":{{"on_disallowed_origin":"forward"}}}}]}}"#,
            up.url(),
            up.url()
        ))
        .start()
}

fn raw(gw: &Gateway, req: &str) -> (Vec<u16>, String) {
    let bytes = raw_exchange(gw.addr, req.as_bytes()).expect("raw exchange");
    (
        statuses(&bytes),
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

#[test]
fn never_an_open_proxy() {
    let up = Upstream::start();
    let gw = gateway(&up);
    // Absolute-form target naming another host, and a Host header naming
    // another host: the request can only ever reach the route's upstream.
    for (req, what) in [
        (
            "GET http://169.254.169.254/api/latest/meta-data HTTP/1.1\r\nHost: 169.254.169.254\r\nConnection: close\r\n\r\n",
            "absolute-form to another host",
        ),
        (
            "GET /api/x HTTP/1.1\r\nHost: internal.evil.example\r\nConnection: close\r\n\r\n",
            "foreign Host header",
        ),
        (
            "GET //evil.example/api/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            "scheme-relative path",
        ),
    ] {
        let before = up.count();
        let (st, text) = raw(&gw, req);
        assert!(!st.is_empty(), "{what}: no answer: {text}");
        if up.count() > before {
            // Forwarded: only to the configured upstream, on a path inside the route.
            let seen = up.last().unwrap();
            assert!(seen.path_with_query.starts_with("/api/"), "{what}: {seen:?}");
            assert_eq!(seen.header("host"), Some(up.addr.to_string().as_str()), "{what}");
        } else {
            assert!(st[0] >= 400 && st[0] < 500, "{what}: {st:?}");
        }
    }
    // Paths that an upstream could normalise into another route are refused.
    for path in [
        "/api/../legacy/x",
        "/api/%2e%2e/legacy/x",
        "/api/%2E%2E%2Flegacy/x",
        "/api/..%2flegacy",
        "/api/.%2e/legacy",
        "/api\\..\\legacy",
        "/api/./x",
    ] {
        let before = up.count();
        let (st, _) = raw(
            &gw,
            &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
        );
        assert_eq!(st.first(), Some(&400), "{path}");
        assert_eq!(up.count(), before, "{path} reached the upstream");
    }
}

#[test]
fn smuggling_shapes_are_refused_with_4xx() {
    let up = Upstream::start();
    let gw = gateway(&up);
    let cases = [
        (
            "conflicting Content-Length and Transfer-Encoding",
            "POST /api/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /api/smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n",
        ),
        (
            "two different Content-Length values",
            "POST /api/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nabcd",
        ),
        (
            "obfuscated Transfer-Encoding",
            "POST /api/x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
        ),
        (
            "bare CR in a header value",
            "GET /api/x HTTP/1.1\r\nHost: localhost\r\nX-A: b\rInjected: 1\r\n\r\n",
        ),
        (
            "obsolete line folding (RFC 9112 5.2)",
            "GET /api/x HTTP/1.1\r\nHost: localhost\r\nOrigin: https://app.example.com\r\n evil.net\r\n\r\n",
        ),
        (
            "header name with a space before the colon",
            "GET /api/x HTTP/1.1\r\nHost: localhost\r\nOrigin : https://app.example.com\r\n\r\n",
        ),
    ];
    for (what, req) in cases {
        let before = up.count();
        let (st, text) = raw(&gw, req);
        let first = st.first().copied().unwrap_or(0);
        assert!(
            (400..500).contains(&first),
            "{what}: statuses {st:?}\n{text}"
        );
        // Whatever the host parsed as a further request went through the
        // policy on its own; the upstream never got a body that disagrees
        // with its framing (the gateway re-frames every message).
        for s in up.seen().iter().skip(before) {
            assert!(
                s.body_len == 0 || s.header("content-length") == Some(&s.body_len.to_string()),
                "{what}: {s:?}"
            );
        }
    }
}

#[test]
fn oversized_header_sets_are_refused_cheaply() {
    let up = Upstream::start();
    let gw = gateway(&up);
    let many: String = (0..300).map(|i| format!("X-H{i}: v\r\n")).collect();
    let (st, _) = raw(
        &gw,
        &format!("GET /api/x HTTP/1.1\r\nHost: localhost\r\n{many}\r\n"),
    );
    assert_eq!(st.first(), Some(&431), "{st:?}");
    // 200 KiB in one header: past the gateway's bound, below hyper's.
    let huge = "a".repeat(200 * 1024);
    let (st, _) = raw(
        &gw,
        &format!(
            "GET /api/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nX-Big: {huge}\r\n\r\n"
        ),
    );
    assert_eq!(st.first(), Some(&431), "{st:?}");
    // A preflight with an oversized Access-Control-Request-Headers fails fast.
    let names: Vec<String> = (0..200).map(|i| format!("x-h{i}")).collect();
    let r = gw.request(
        "OPTIONS",
        "/api/x",
        &[
            ("origin", APP),
            ("access-control-request-method", "PUT"),
            ("access-control-request-headers", &names.join(",")),
        ],
        Vec::new(),
    );
    assert_eq!(r.status, 403);
    assert_eq!(up.count(), 0);
    // Still serving afterwards.
    assert_eq!(gw.get("/api/x", &[("origin", APP)]).status, 200);
}

#[test]
fn request_values_are_never_reflected_unvalidated() {
    let up = Upstream::start();
    let gw = gateway(&up);
    let hostile = [
        "https://app.example.com.evil.net",
        "https://APP.example.com",
        "https://app.example.com, https://evil.net",
        "https://app.example.com%0d%0aSet-Cookie:%20x=1",
        "null",
        "*",
        "https://evil.net",
    ];
    for origin in hostile {
        for path in ["/api/x", "/legacy/x"] {
            let r = gw.get(path, &[("origin", origin)]);
            assert!(
                r.header("access-control-allow-origin").is_none(),
                "{origin} on {path}: {:?}",
                r.cors()
            );
            assert!(r.header("set-cookie").is_none());
        }
        let pre = gw.request(
            "OPTIONS",
            "/api/x",
            &[
                ("origin", origin),
                ("access-control-request-method", "PUT"),
                ("access-control-request-headers", "x-evil"),
            ],
            Vec::new(),
        );
        assert_eq!(pre.status, 403, "{origin}");
        assert!(
            pre.cors().keys().all(|k| !k.starts_with("access-control-")),
            "{origin}: {:?}",
            pre.cors()
        );
    }
    // Allowed preflight: Allow-Headers is the policy's list, never an echo.
    let pre = gw.request(
        "OPTIONS",
        "/api/x",
        &[
            ("origin", APP),
            ("access-control-request-method", "GET"),
            ("access-control-request-headers", "Content-Type"),
        ],
        Vec::new(),
    );
    assert_eq!(pre.status, 204);
    assert_eq!(
        pre.header("access-control-allow-headers"),
        Some("content-type")
    );
    // Forward mode sends the three well-formed disallowed origins on (without
    // CORS headers); malformed Origin values are refused on every route.
    assert_eq!(
        up.count(),
        3,
        "only well-formed origins on the forward-mode route reached the upstream"
    );
}

#[test]
fn a_bare_lf_ends_a_header_line_and_never_lands_in_a_value() {
    // RFC 9112 2.2 lets a recipient read a lone LF as a line terminator, so
    // this is two header lines, not a value with a newline in it.
    let up = Upstream::start();
    let gw = gateway(&up);
    let (st, _) = raw(
        &gw,
        "GET /api/x HTTP/1.1\r\nHost: localhost\r\nOrigin: https://app.example.com\nX-Injected: 1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(st, vec![200]);
    let seen = up.last().expect("forwarded");
    assert_eq!(seen.header("origin"), Some(APP));
    assert_eq!(seen.header("x-injected"), Some("1"));
    assert!(seen.headers.iter().all(|(_, v)| !v.contains(['\r', '\n'])));
}
