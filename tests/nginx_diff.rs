//! Differential test against nginx (Debian's package), the reference reverse
//! proxy: the same requests go through nginx (started on loopback with
//! `tests/nginx/proxy.conf`) and through the gateway to the same recording
//! upstream, and what the upstream receives and what the client gets back
//! are compared. Every difference must be one of `KNOWN`, each of which the
//! README lists with its reason; a new difference, or a listed one that no
//! longer occurs, fails the test.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use testkit::client::{send, send_streamed, Response, Streamed};
use testkit::upstream::{pattern, sha256_hex};
use testkit::{Gateway, Seen, Upstream};

const APP: &str = "https://app.example.com";

/// Differences from nginx that are deliberate (case, field), as the README
/// lists them.
const KNOWN: &[(&str, &str, &str)] = &[
    (
        "*",
        "upstream x-request-id",
        "the gateway sends the upstream the request id it logs (the client's when it is a safe token, else one it makes); nginx sends none unless configured",
    ),
    (
        "*",
        "client x-request-id",
        "the gateway returns its request id on every answer; nginx adds none",
    ),
    (
        "*",
        "upstream x-forwarded-for",
        "nginx knows the client address; wasmtime serve does not tell it, so the gateway sends no X-Forwarded-For there (on Spin it sends the address), and it never passes on the client's own",
    ),
    (
        "spoofed forwarding headers",
        "upstream headers",
        "the gateway drops the client's Forwarded, X-Real-IP and X-Forwarded-* claims (trust_forwarded_headers keeps them); nginx passes them on",
    ),
    (
        "hop-by-hop request headers",
        "upstream headers",
        "nginx passes Proxy-Authorization on and clears TE; the host never lets Proxy-Authorization through, and the gateway asks for trailers (TE: trailers) when the client accepts them",
    ),
    (
        "response trailers",
        "upstream headers",
        "the gateway asks the upstream for trailers (TE: trailers) when the client accepts them; nginx clears TE",
    ),
    (
        "request trailers",
        "upstream trailers",
        "nginx drops a request's trailers; the gateway forwards them",
    ),
    (
        "response trailers",
        "client trailers",
        "nginx drops an HTTP/1.1 upstream's trailers; the gateway forwards them",
    ),
];

/// Differences that occur in some runs only (case, field), with the reason.
const MAY_DIFFER: &[(&str, &str, &str)] = &[
    (
        "early 413 on a large upload",
        "client status",
        EARLY_FAST_UPLOAD,
    ),
    (
        "early 413 on a large upload",
        "client body",
        EARLY_FAST_UPLOAD,
    ),
    (
        "early 413 on a large upload",
        "client content-length",
        EARLY_FAST_UPLOAD,
    ),
];

const EARLY_FAST_UPLOAD: &str = "an upstream that answers while a fast upload is still arriving and closes its connection: the host's HTTP client sometimes reports the failed write (broken pipe) instead of the answer it had received (502); nginx passes the answer. At a slower pace the answer arrives (tests/forwarding.rs)";

/// The WASI 0.3 build's difference (testkit::gateway::testing_p3): its host
/// would send a bodyless request as an empty chunked one, so it says
/// `Content-Length: 0` where nginx (and the 0.2 build) send no framing.
const P3_ONLY: &str = "upstream content-length";

fn known(case: &str, field: &str) -> bool {
    if MAY_DIFFER.iter().any(|(c, f, _)| *c == case && *f == field) {
        return true;
    }
    if testkit::gateway::testing_p3() && field == P3_ONLY {
        return true;
    }
    KNOWN
        .iter()
        .any(|(c, f, _)| (*c == "*" || *c == case) && *f == field)
}

fn nginx_bin() -> PathBuf {
    let candidates = std::env::var_os("NGINX")
        .map(PathBuf::from)
        .into_iter()
        .chain(std::env::var_os("PATH").into_iter().flat_map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("nginx"))
                .collect::<Vec<_>>()
        }))
        .chain([PathBuf::from("/usr/sbin/nginx")]);
    for c in candidates {
        if c.is_file() {
            return c;
        }
    }
    panic!("SETUP: nginx not found (looked at $NGINX, PATH, /usr/sbin/nginx). Run scripts/setup.sh (it installs Debian's nginx package)")
}

struct Nginx {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Nginx {
    fn start(upstream: SocketAddr) -> Nginx {
        let dir = tempfile::tempdir().expect("temp dir");
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr")
        };
        let template = include_str!("nginx/proxy.conf");
        let conf = template
            .replace("@LISTEN@", &addr.to_string())
            .replace("@UPSTREAM@", &upstream.to_string())
            .replace("@PREFIX@", &dir.path().display().to_string());
        std::fs::write(dir.path().join("proxy.conf"), conf).expect("write nginx config");
        let mut child = Command::new(nginx_bin())
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(dir.path().join("proxy.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("SETUP: cannot start nginx");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(addr).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
                panic!("SETUP: nginx exited ({status}) before listening:\n{log}");
            }
            assert!(
                Instant::now() < deadline,
                "nginx did not listen within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Nginx { child, addr, dir }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = &self.dir;
    }
}

/// Upstream-side headers that differ by construction between any two
/// proxies (addresses, ports) or are compared on their own.
const UPSTREAM_IGNORED: [&str; 5] = [
    "host",
    "x-forwarded-host",
    "x-forwarded-for",
    "content-length",
    "transfer-encoding",
];
/// Client-side headers each proxy sets itself, or the gateway's policy owns.
fn client_ignored(name: &str) -> bool {
    matches!(
        name,
        "date"
            | "server"
            | "connection"
            | "keep-alive"
            | "vary"
            | "content-length"
            | "transfer-encoding"
    ) || name.starts_with("access-control-")
}

/// One exchange, as the comparison sees it.
#[derive(Debug)]
struct View {
    upstream: Vec<Seen>,
    client: Result<Response, String>,
}

fn fields(v: &View) -> Vec<(String, String)> {
    let mut out = Vec::new();
    match &v.client {
        Ok(r) => {
            out.push(("client status".into(), r.status.to_string()));
            // The upstream's description of the request it received differs
            // wherever the requests do (they are compared on its side).
            let describes_request = r.json().get("headers").is_some();
            let length = r.header("content-length").map(|l| {
                if describes_request {
                    "(request description)"
                } else {
                    l
                }
            });
            out.push(("client content-length".into(), format!("{length:?}")));
            out.push((
                "client chunked".into(),
                format!("{:?}", r.header("transfer-encoding")),
            ));
            out.push((
                "client body".into(),
                if describes_request {
                    "(request description)".into()
                } else {
                    format!("{} {}", r.body.len(), sha256_hex(&r.body))
                },
            ));
            out.push((
                "client body complete".into(),
                r.body_error.is_none().to_string(),
            ));
            out.push(("client trailers".into(), format!("{:?}", r.trailers)));
            out.push((
                "client x-request-id".into(),
                r.header("x-request-id").is_some().to_string(),
            ));
            let names: BTreeSet<&str> = r
                .headers
                .iter()
                .map(|(n, _)| n.as_str())
                .filter(|n| !client_ignored(n) && *n != "x-request-id")
                .collect();
            out.push(("client headers".into(), format!("{names:?}")));
        }
        Err(e) => out.push(("client error".into(), e.clone())),
    }
    out.push(("upstream requests".into(), v.upstream.len().to_string()));
    if let Some(s) = v.upstream.first() {
        out.push(("upstream method".into(), s.method.clone()));
        out.push(("upstream path".into(), s.path_with_query.clone()));
        out.push((
            "upstream content-length".into(),
            format!("{:?}", s.header("content-length")),
        ));
        out.push((
            "upstream transfer-encoding".into(),
            format!("{:?}", s.header("transfer-encoding")),
        ));
        out.push((
            "upstream body".into(),
            format!("{} {}", s.body_len, s.body_sha256),
        ));
        out.push(("upstream trailers".into(), format!("{:?}", s.trailers)));
        out.push((
            "upstream x-forwarded-for".into(),
            format!("{:?}", s.header("x-forwarded-for")),
        ));
        out.push((
            "upstream x-forwarded-proto".into(),
            format!("{:?}", s.header("x-forwarded-proto")),
        ));
        out.push((
            "upstream x-request-id".into(),
            s.header("x-request-id").is_some().to_string(),
        ));
        let names: BTreeSet<&str> = s
            .headers
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| !UPSTREAM_IGNORED.contains(n) && *n != "x-request-id")
            .collect();
        out.push(("upstream headers".into(), format!("{names:?}")));
    }
    out
}

type Case = (
    &'static str,
    Box<dyn Fn(SocketAddr) -> Result<Response, String>>,
);

fn plain(
    method: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, &'static str)>,
    body: Vec<u8>,
) -> Box<dyn Fn(SocketAddr) -> Result<Response, String>> {
    Box::new(move |addr| {
        send(addr, method, path, &headers, body.clone()).map_err(|e| e.to_string())
    })
}

fn streamed(
    method: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, &'static str)>,
    upload: Streamed,
) -> Box<dyn Fn(SocketAddr) -> Result<Response, String>> {
    Box::new(move |addr| {
        send_streamed(
            addr,
            method,
            path,
            &headers,
            upload.clone(),
            Duration::from_secs(30),
        )
        .map_err(|e| e.to_string())
    })
}

fn cases() -> Vec<Case> {
    let o = ("origin", APP);
    let big = pattern(300_000);
    let chunks = |d: &[u8], n: usize| d.chunks(n).map(<[u8]>::to_vec).collect::<Vec<_>>();
    vec![
        (
            "bodyless DELETE",
            plain("DELETE", "/api/orders/1", vec![o], Vec::new()),
        ),
        (
            "GET",
            plain(
                "GET",
                "/api/orders?x=1",
                vec![o, ("accept", "application/json")],
                Vec::new(),
            ),
        ),
        (
            "Content-Length upload",
            plain(
                "POST",
                "/api/upload",
                vec![o, ("content-type", "application/octet-stream")],
                big.clone(),
            ),
        ),
        (
            "empty Content-Length POST",
            plain("POST", "/api/upload", vec![o], Vec::new()),
        ),
        (
            "chunked upload",
            streamed(
                "PUT",
                "/api/upload",
                vec![o],
                Streamed {
                    chunks: chunks(&big, 10_000),
                    ..Streamed::default()
                },
            ),
        ),
        (
            "HEAD",
            plain("HEAD", "/api/bytes/1000", vec![o], Vec::new()),
        ),
        ("204", plain("GET", "/api/status/204", vec![o], Vec::new())),
        ("304", plain("GET", "/api/status/304", vec![o], Vec::new())),
        (
            "streamed download",
            plain("GET", "/api/bytes/1000000", vec![o], Vec::new()),
        ),
        (
            "early 401",
            plain("PUT", "/api/early/401", vec![o], b"abc".to_vec()),
        ),
        (
            "early 413 on a large upload",
            streamed(
                "POST",
                "/api/early/413",
                vec![o],
                Streamed {
                    chunks: chunks(&pattern(2_000_000), 64 * 1024),
                    ..Streamed::default()
                },
            ),
        ),
        (
            "streaming echo",
            streamed(
                "POST",
                "/api/echo",
                vec![o],
                Streamed {
                    chunks: chunks(&pattern(2_000_000), 64 * 1024),
                    ..Streamed::default()
                },
            ),
        ),
        (
            "response trailers",
            plain(
                "GET",
                "/api/trailers",
                vec![o, ("te", "trailers")],
                Vec::new(),
            ),
        ),
        (
            "request trailers",
            streamed(
                "POST",
                "/api/upload",
                vec![o, ("trailer", "x-checksum")],
                Streamed {
                    chunks: chunks(&big, 50_000),
                    trailers: vec![("x-checksum".into(), "abc".into())],
                    ..Streamed::default()
                },
            ),
        ),
        (
            "spoofed forwarding headers",
            plain(
                "GET",
                "/api/who",
                vec![
                    o,
                    ("x-forwarded-for", "6.6.6.6"),
                    ("x-real-ip", "6.6.6.6"),
                    ("forwarded", "for=6.6.6.6"),
                    ("x-forwarded-port", "443"),
                ],
                Vec::new(),
            ),
        ),
        (
            "hop-by-hop request headers",
            plain(
                "GET",
                "/api/hop",
                vec![
                    o,
                    ("keep-alive", "timeout=5"),
                    ("te", "trailers"),
                    ("upgrade", "h2c"),
                    ("proxy-authorization", "Basic eA=="),
                ],
                Vec::new(),
            ),
        ),
    ]
}

fn run(case: &Case, addr: SocketAddr, up: &Upstream) -> View {
    let before = up.count();
    let client = (case.1)(addr);
    // The upstream records after reading the body; give a streamed one a moment.
    std::thread::sleep(Duration::from_millis(150));
    View {
        upstream: up.seen().into_iter().skip(before).collect(),
        client,
    }
}

#[test]
fn forwarding_matches_nginx_except_for_the_listed_differences() {
    let up = Upstream::start();
    let nginx = Nginx::start(up.addr);
    let policy = format!(
        r#"{{"version":1,"cors":{{"allow_origins":["{APP}"],"allow_methods":["GET","POST","PUT","DELETE"]}},
            "routes":[{{"name":"api","path_prefix":"/api/","upstream":"{}"}}]}}"#,
        up.url()
    );
    let gw = Gateway::builder().policy(policy).start();

    let mut found: BTreeSet<(String, String)> = BTreeSet::new();
    let mut report = String::new();
    for case in cases() {
        let va = run(&case, nginx.addr, &up);
        let vb = run(&case, gw.addr, &up);
        if std::env::var_os("NGINX_DIFF_DEBUG").is_some() {
            eprintln!(
                "== {}\nnginx: {:?}\ngateway: {:?}",
                case.0,
                va.client
                    .as_ref()
                    .map(|r| (r.status, &r.headers, &r.trailers)),
                vb.client
                    .as_ref()
                    .map(|r| (r.status, &r.headers, &r.trailers))
            );
        }
        let a = fields(&va);
        let b = fields(&vb);
        for (field, va) in &a {
            let vb = b
                .iter()
                .find(|(f, _)| f == field)
                .map_or("<absent>", |(_, v)| v.as_str());
            if va != vb {
                found.insert((case.0.to_string(), field.clone()));
                report.push_str(&format!(
                    "{}: {field}:\n  nginx:   {va}\n  gateway: {vb}\n",
                    case.0
                ));
            }
        }
        for (field, vb) in &b {
            if !a.iter().any(|(f, _)| f == field) {
                found.insert((case.0.to_string(), field.clone()));
                report.push_str(&format!(
                    "{}: {field}:\n  nginx:   <absent>\n  gateway: {vb}\n",
                    case.0
                ));
            }
        }
    }
    let unexpected: Vec<_> = found.iter().filter(|(c, f)| !known(c, f)).collect();
    let gone: Vec<_> = KNOWN
        .iter()
        .filter(|(c, f, _)| {
            !found
                .iter()
                .any(|(fc, ff)| (*c == "*" || c == fc) && f == ff)
        })
        .collect();
    assert!(
        unexpected.is_empty() && gone.is_empty(),
        "unexpected differences: {unexpected:?}\nlisted differences that did not occur: {gone:?}\n\n{report}\ngateway log:\n{}",
        gw.logs()
    );
}
