//! Forwarding as a reverse proxy, against the built component in a real
//! `wasmtime serve` and a real loopback upstream that records what reaches
//! it: framing kept (no body stays no body, Content-Length stays, chunked
//! only when the length is unknown), forwarding headers the API can trust,
//! full duplex (an echo that would deadlock a half-duplex proxy, early
//! answers), timeouts and the total deadline, the body limit, trailers and
//! `Expect: 100-continue`.

use std::time::{Duration, Instant};
use testkit::client::{send_streamed, Streamed};
use testkit::upstream::{pattern, sha256_hex};
use testkit::{Gateway, Upstream};

const APP: &str = "https://app.example.com";

fn policy(upstream: &str) -> String {
    format!(
        r#"{{
  "version": 1,
  "cors": {{ "allow_origins": ["{APP}"], "allow_methods": ["GET", "POST", "PUT", "DELETE"],
             "expose_headers": ["x-request-id"], "allow_credentials": true }},
  "routes": [
    {{ "name": "api", "path_prefix": "/api/", "upstream": "{upstream}", "timeout_ms": 5000 }},
    {{ "name": "lim", "path_prefix": "/lim/", "upstream": "{upstream}", "max_request_body_bytes": 1000 }},
    {{ "name": "fast", "path_prefix": "/fast/", "upstream": "{upstream}",
       "first_byte_timeout_ms": 300, "idle_timeout_ms": 400, "deadline_ms": 1500 }},
    {{ "name": "trust", "path_prefix": "/trust/", "upstream": "{upstream}",
       "trust_forwarded_headers": true, "via": "edge-gw" }}
  ]
}}"#
    )
}

fn start() -> (Upstream, Gateway) {
    let up = Upstream::start();
    let gw = Gateway::builder().policy(policy(&up.url())).start();
    (up, gw)
}

fn chunks(data: &[u8], size: usize) -> Vec<Vec<u8>> {
    data.chunks(size).map(<[u8]>::to_vec).collect()
}

#[test]
fn framing_is_preserved_both_ways() {
    let (up, gw) = start();
    let origin = [("origin", APP)];

    // A bodyless DELETE, as browsers send it: no Content-Length, no
    // Transfer-Encoding, and neither reaches the upstream.
    let r = gw.request("DELETE", "/api/orders/1", &origin, Vec::new());
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = up.last().expect("upstream reached");
    assert_eq!(seen.method, "DELETE");
    assert_eq!(seen.header("transfer-encoding"), None, "{:?}", seen.headers);
    // The WASI 0.3 build says so with `Content-Length: 0`: its host would
    // otherwise send an empty chunked body (see testkit::gateway::testing_p3).
    let no_length = testkit::gateway::testing_p3().then_some("0");
    assert_eq!(
        seen.header("content-length"),
        no_length,
        "{:?}",
        seen.headers
    );

    // A known length stays a Content-Length.
    let body = pattern(100_000);
    let r = gw.request("POST", "/api/upload", &origin, body.clone());
    assert_eq!(r.status, 200, "{}", gw.logs());
    let seen = up.last().expect("upstream reached");
    assert_eq!(seen.header("content-length"), Some("100000"));
    assert_eq!(seen.header("transfer-encoding"), None);
    assert_eq!(seen.body_sha256, sha256_hex(&body));

    // An unknown length (chunked from the client) is chunked upstream.
    let r = send_streamed(
        gw.addr,
        "PUT",
        "/api/upload",
        &origin,
        Streamed {
            chunks: chunks(&body, 7000),
            ..Streamed::default()
        },
        Duration::from_secs(30),
    )
    .expect("chunked upload");
    assert_eq!(r.status, 200);
    let seen = up.last().expect("upstream reached");
    assert_eq!(seen.header("transfer-encoding"), Some("chunked"));
    assert_eq!(seen.header("content-length"), None);
    assert_eq!(seen.body_len, body.len());
    assert_eq!(seen.body_sha256, sha256_hex(&body));

    // An empty chunked body is no body.
    let r = send_streamed(
        gw.addr,
        "POST",
        "/api/empty",
        &origin,
        Streamed::default(),
        Duration::from_secs(30),
    )
    .expect("empty chunked upload");
    assert_eq!(r.status, 200);
    let seen = up.last().expect("upstream reached");
    assert_eq!(seen.header("transfer-encoding"), None);
    assert_eq!(seen.body_len, 0);

    // Responses: a length is kept, HEAD keeps the upstream's length without
    // a body, 204 and 304 carry neither a body nor framing.
    let r = gw.get("/api/bytes/5000", &origin);
    assert_eq!(r.header("content-length"), Some("5000"));
    assert_eq!(r.header("transfer-encoding"), None);
    assert_eq!(r.body, pattern(5000));
    let head = gw.request("HEAD", "/api/bytes/5000", &origin, Vec::new());
    assert_eq!(head.status, 200, "{:?}", head);
    assert_eq!(head.body_error, None);
    assert!(head.body.is_empty());
    assert_eq!(
        head.header("content-length"),
        Some("5000"),
        "{:?}",
        head.headers
    );
    assert_eq!(head.header("access-control-allow-origin"), Some(APP));
    for status in ["204", "304"] {
        let r = gw.get(&format!("/api/status/{status}"), &origin);
        assert_eq!(r.status.to_string(), status);
        assert_eq!(r.body_error, None);
        assert!(r.body.is_empty());
        assert_eq!(
            r.header("transfer-encoding"),
            None,
            "{status} {:?}",
            r.headers
        );
        if status == "204" {
            assert_eq!(r.header("content-length"), None, "{:?}", r.headers);
        }
        assert_eq!(r.header("access-control-allow-origin"), Some(APP));
    }
}

#[test]
fn forwarding_headers_are_the_gateways_own() {
    let (up, gw) = start();
    let spoofs = [
        ("origin", APP),
        ("x-forwarded-for", "6.6.6.6"),
        ("forwarded", "for=6.6.6.6;proto=https;host=evil.example"),
        ("x-real-ip", "6.6.6.6"),
        ("x-forwarded-port", "443"),
        ("x-forwarded-prefix", "/admin"),
        ("x-forwarded-host", "evil.example"),
        ("x-forwarded-proto", "https"),
        ("spin-client-addr", "6.6.6.6:1"),
        ("spin-path-info", "/admin"),
    ];
    let r = gw.get("/api/who", &spoofs);
    assert_eq!(r.status, 200);
    let seen = up.last().expect("upstream reached");
    let forwarding: Vec<(&str, &str)> = seen
        .headers
        .iter()
        .filter(|(n, _)| {
            n.starts_with("x-forwarded-")
                || n.starts_with("spin-")
                || n == "forwarded"
                || n == "x-real-ip"
        })
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    // wasmtime serve does not tell the client address: no X-Forwarded-For.
    // Nor, to a WASI 0.3 guest, the host it was addressed to: no
    // X-Forwarded-Host there (see testkit::gateway::testing_p3).
    let addr = gw.addr.to_string();
    let mut expected = vec![
        ("x-forwarded-host", addr.as_str()),
        ("x-forwarded-proto", "http"),
    ];
    if testkit::gateway::testing_p3() {
        expected.remove(0);
    }
    assert_eq!(forwarding, expected);

    // A route that trusts its client (an inner proxy) keeps the chain.
    let r = gw.get(
        "/trust/who",
        &[
            ("origin", APP),
            ("x-forwarded-for", "198.51.100.1"),
            ("x-forwarded-proto", "https"),
            ("via", "1.1 inner"),
        ],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("via"), Some("1.1 edge-gw"));
    let seen = up.last().expect("upstream reached");
    assert_eq!(seen.header("x-forwarded-for"), Some("198.51.100.1"));
    assert_eq!(seen.header("x-forwarded-proto"), Some("https"));
    assert_eq!(
        seen.header("x-forwarded-host"),
        (!testkit::gateway::testing_p3()).then_some(addr.as_str())
    );
    assert_eq!(seen.header("via"), Some("1.1 inner, 1.1 edge-gw"));
}

#[test]
fn a_streaming_echo_does_not_deadlock() {
    let (up, gw) = start();
    let body = pattern(16 * 1024 * 1024);
    let started = Instant::now();
    let r = send_streamed(
        gw.addr,
        "POST",
        "/api/echo",
        &[("origin", APP)],
        Streamed {
            chunks: chunks(&body, 64 * 1024),
            ..Streamed::default()
        },
        Duration::from_secs(40),
    )
    .unwrap_or_else(|e| panic!("{e}\ngateway log:\n{}", gw.logs()));
    assert_eq!(r.status, 200);
    assert_eq!(r.body_error, None);
    assert_eq!(r.body.len(), body.len());
    assert_eq!(sha256_hex(&r.body), sha256_hex(&body));
    assert_eq!(r.header("access-control-allow-origin"), Some(APP));
    eprintln!("16 MiB echoed in {:?}", started.elapsed());
    let seen = up.last().expect("upstream reached");
    assert_eq!(seen.body_len, body.len());
}

#[test]
fn an_early_answer_reaches_the_client() {
    let (up, gw) = start();
    // A small PUT the upstream never reads.
    let r = gw.request("PUT", "/api/early/401", &[("origin", APP)], b"abc".to_vec());
    if testkit::gateway::testing_p3() && r.status == 502 {
        // Known limitation (README): under `wasmtime serve` 48 a 0.3 guest's
        // body reaches the host's client after the head, and when the
        // upstream closes first the host reports the unfinished request
        // instead of the answer it read. Still a prompt, well-formed 502.
        assert!(gw.logs().contains("HttpProtocolError"), "{}", gw.logs());
    } else {
        assert_eq!(r.status, 401, "{}\n{}", r.text(), gw.logs());
        assert_eq!(r.text(), "early\n");
    }
    assert_eq!(r.header("access-control-allow-origin"), Some(APP));
    // A large upload the upstream reads after answering: the answer reaches
    // the client while the upload is still running (about 2.5 s of it).
    let t = Instant::now();
    let r = send_streamed(
        gw.addr,
        "POST",
        "/api/early-read/413",
        &[("origin", APP)],
        Streamed {
            chunks: chunks(&pattern(8 * 1024 * 1024), 64 * 1024),
            pause: Duration::from_millis(20),
            ..Streamed::default()
        },
        Duration::from_secs(30),
    )
    .unwrap_or_else(|e| panic!("{e}\ngateway log:\n{}", gw.logs()));
    let answered = t.elapsed();
    assert_eq!(r.status, 413, "{}\n{}", r.text(), gw.logs());
    assert_eq!(r.text(), "early\n");
    assert_eq!(r.header("access-control-allow-origin"), Some(APP));
    assert!(
        answered < Duration::from_millis(1500),
        "answered after {answered:?}"
    );
    assert!(up.count() >= 1);
}

#[test]
fn timeouts_and_the_total_deadline() {
    let (_up, gw) = start();
    let origin = [("origin", APP)];
    // First byte.
    let t = Instant::now();
    let r = gw.get("/fast/slow/3000", &origin);
    assert_eq!(r.status, 504, "{}", r.text());
    assert_eq!(r.header("access-control-allow-origin"), Some(APP));
    assert!(
        t.elapsed() < Duration::from_millis(2500),
        "{:?}",
        t.elapsed()
    );
    // Idle: headers and 1 KiB, then nothing.
    let t = Instant::now();
    let r = gw.get("/fast/hang-body", &origin);
    assert_eq!(r.status, 200);
    assert!(r.body_error.is_some(), "an idle body must be aborted");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    // A drip just under the idle timeout is cut at the deadline (1.5 s),
    // not after its 100 bytes x 300 ms.
    let t = Instant::now();
    let r = gw.get("/fast/drip/300/100", &origin);
    assert_eq!(r.status, 200);
    assert!(
        r.body_error.is_some(),
        "a body past the deadline must be aborted"
    );
    assert!(r.body.len() < 10, "{} bytes", r.body.len());
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(4),
        "{took:?}"
    );
}

#[test]
fn the_connect_timeout_is_the_routes_own() {
    let blackhole = testkit::upstream::Unanswered::start();
    let policy = format!(
        r#"{{"version": 1, "cors": {{ "allow_origins": ["{APP}"] }},
  "routes": [{{ "name": "slow-connect", "path_prefix": "/", "upstream": "{}",
               "connect_timeout_ms": 300, "first_byte_timeout_ms": 20000, "deadline_ms": 60000 }}]}}"#,
        blackhole.url()
    );
    let gw = Gateway::builder().policy(policy).start();
    let started = Instant::now();
    let r = gw.get("/x", &[("origin", APP)]);
    let waited = started.elapsed();
    assert_eq!(r.status, 504, "{}", r.text());
    assert_eq!(r.header("access-control-allow-origin"), Some(APP));
    // The 300 ms connect timeout fired, not the 20 s first-byte timeout or
    // the deadline (the bound only tells the two apart, with a wide margin).
    assert!(gw.logs().contains("ConnectionTimeout"), "{}", gw.logs());
    assert!(
        waited < Duration::from_secs(10),
        "answered after {waited:?}"
    );
}

#[test]
fn request_bodies_over_the_limit_get_413() {
    let (up, gw) = start();
    let origin = [("origin", APP)];
    // Within the limit.
    let r = gw.request("POST", "/lim/x", &origin, vec![b'a'; 1000]);
    assert_eq!(r.status, 200);
    assert_eq!(up.count(), 1);
    // A Content-Length over it: refused before any upstream work.
    let r = gw.request("POST", "/lim/x", &origin, vec![b'a'; 1001]);
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(r.header("access-control-allow-origin"), Some(APP));
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    // A chunked body over it: the upstream never gets more than the limit.
    let r = send_streamed(
        gw.addr,
        "POST",
        "/lim/x",
        &origin,
        Streamed {
            chunks: chunks(&[b'b'; 5000], 400),
            pause: Duration::from_millis(20),
            ..Streamed::default()
        },
        Duration::from_secs(30),
    )
    .expect("chunked upload");
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(r.header("access-control-allow-origin"), Some(APP));
    std::thread::sleep(Duration::from_millis(300));
    for s in up.seen().iter().skip(1) {
        assert!(s.body_len <= 1000, "the upstream got {} bytes", s.body_len);
    }
}

#[test]
fn trailers_cross_both_ways() {
    let (up, gw) = start();
    // The upstream's trailers reach the client that accepts them.
    let r = gw.get("/api/trailers", &[("origin", APP), ("te", "trailers")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, pattern(100_000));
    assert_eq!(
        r.trailers,
        vec![("x-checksum".to_string(), sha256_hex(&pattern(100_000)))],
        "{:?}",
        r.headers
    );
    // The client's trailers reach the upstream.
    let body = pattern(3000);
    let r = send_streamed(
        gw.addr,
        "POST",
        "/api/upload",
        &[("origin", APP), ("trailer", "x-checksum")],
        Streamed {
            chunks: chunks(&body, 1000),
            trailers: vec![("x-checksum".into(), sha256_hex(&body))],
            ..Streamed::default()
        },
        Duration::from_secs(30),
    )
    .expect("upload with trailers");
    assert_eq!(r.status, 200);
    let seen = up.last().expect("upstream reached");
    assert_eq!(seen.body_sha256, sha256_hex(&body));
    assert_eq!(
        seen.trailers,
        vec![("x-checksum".to_string(), sha256_hex(&body))]
    );
}

#[test]
fn expect_100_continue_is_answered_by_the_host() {
    use std::io::{Read, Write};
    let (up, gw) = start();
    let mut s = std::net::TcpStream::connect(gw.addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    write!(
        s,
        "POST /api/upload HTTP/1.1\r\nhost: {}\r\norigin: {APP}\r\ncontent-length: 5\r\nexpect: 100-continue\r\n\r\n",
        gw.addr
    )
    .expect("write head");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    // The interim answer comes before the body is sent.
    while !String::from_utf8_lossy(&got).contains("\r\n\r\n") {
        let n = s.read(&mut buf).expect("100 Continue within 5 s");
        assert!(n > 0, "closed before 100 Continue");
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        String::from_utf8_lossy(&got).starts_with("HTTP/1.1 100 Continue\r\n"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    s.write_all(b"hello").expect("write body");
    let mut rest = Vec::new();
    while !String::from_utf8_lossy(&rest).contains("body_sha256") {
        let n = s.read(&mut buf).expect("final answer");
        if n == 0 {
            break;
        }
        rest.extend_from_slice(&buf[..n]);
    }
    assert!(
        String::from_utf8_lossy(&rest).starts_with("HTTP/1.1 200 OK\r\n"),
        "{}",
        String::from_utf8_lossy(&rest)
    );
    let seen = up.last().expect("upstream reached");
    assert_eq!(seen.body_sha256, sha256_hex(b"hello"));
    // The host answered the expectation; the upstream is not asked again.
    assert_eq!(seen.header("expect"), None);

    // A Content-Length over the route's limit is refused before the body is
    // asked for: 413 instead of 100 Continue.
    let before = up.count();
    let raw = testkit::client::raw_exchange(
        gw.addr,
        format!(
            "POST /lim/x HTTP/1.1\r\nhost: {}\r\norigin: {APP}\r\ncontent-length: 5000\r\nexpect: 100-continue\r\n\r\n",
            gw.addr
        )
        .as_bytes(),
    )
    .expect("exchange");
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 413 "), "{text}");
    assert!(!text.contains("100 Continue"), "{text}");
    assert_eq!(up.count(), before);
}
