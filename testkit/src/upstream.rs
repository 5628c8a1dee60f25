//! A real HTTP/1.1 upstream on loopback that records every request it gets
//! and can misbehave on demand, chosen by path:
//!
//! | path | answer |
//! | --- | --- |
//! | `/…/status/NNN` | status NNN |
//! | `/…/bytes/N` | N bytes (a repeating pattern), streamed in 64 KiB chunks |
//! | `/…/slow/MS` | waits MS milliseconds before answering |
//! | `/…/hang-body` | headers and 1 KiB, then nothing, forever |
//! | `/…/break-body` | `content-length: 1048576`, 64 KiB, then the connection drops |
//! | `/…/set-cookie…` | also sets the cookie `session=abc123` |
//! | `/…/echo` | streams the request body back as it arrives (full duplex: a proxy that sends the whole request before reading the response deadlocks once both directions' buffers are full) |
//! | `/…/early/NNN` | answers NNN at once without reading the request body (and closes the connection) |
//! | `/…/early-read/NNN` | answers NNN at once, then reads the request body to its end |
//! | `/…/drip/MS/N` | N bytes, one every MS milliseconds, chunked |
//! | `/…/trailers` | a chunked body followed by the trailer `x-checksum` (announced in `Trailer`) |
//! | `/…/cacheable…` | also `cache-control: public, max-age=60` |
//! | anything else | 200 JSON describing the request as received |
//!
//! Every answer carries the upstream's own CORS headers, a `Vary`, and a
//! hop-by-hop header named in `Connection`, so tests can see what the gateway
//! replaces, merges and strips.

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use sha2::{Digest, Sha256};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

/// What the upstream saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path_with_query: String,
    /// Names lower case, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body_len: usize,
    pub body_sha256: String,
    /// Trailer fields of the request body, names lower case.
    pub trailers: Vec<(String, String)>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

pub type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

pub struct Upstream {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    _rt: tokio::runtime::Runtime,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The body `/bytes/N` sends: byte i is `i % 251` (a prime, so chunk
/// boundaries never line up with the pattern).
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

impl Upstream {
    pub fn start() -> Upstream {
        Upstream::start_on("127.0.0.1:0".parse().expect("addr"))
    }

    /// Like [`Upstream::start`], on a given address.
    pub fn start_on(addr: SocketAddr) -> Upstream {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let listener = rt
            .block_on(TcpListener::bind(addr))
            .unwrap_or_else(|e| panic!("cannot listen on {addr}: {e}"));
        let addr = listener.local_addr().expect("upstream addr");
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        crate::client::serve_http1(&rt, listener, seen.clone(), handle);
        Upstream {
            addr,
            seen,
            _rt: rt,
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Everything received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn count(&self) -> usize {
        self.seen.lock().map(|s| s.len()).unwrap_or(0)
    }

    pub fn last(&self) -> Option<Seen> {
        self.seen.lock().ok().and_then(|s| s.last().cloned())
    }
}

fn full(b: impl Into<Bytes>) -> Body {
    http_body_util::Full::new(b.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

fn streamed(chunks: Vec<Result<Bytes, std::io::Error>>, hang: bool) -> Body {
    BodyExt::boxed(futures_stream(chunks, hang))
}

fn futures_stream(
    chunks: Vec<Result<Bytes, std::io::Error>>,
    hang: bool,
) -> impl hyper::body::Body<Data = Bytes, Error = std::io::Error> + Send + Sync + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(4);
    tokio::spawn(async move {
        for c in chunks {
            if tx.send(c.map(Frame::data)).await.is_err() {
                return;
            }
        }
        if hang {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        drop(tx);
    });
    ChannelBody(rx)
}

struct ChannelBody(tokio::sync::mpsc::Receiver<Result<Frame<Bytes>, std::io::Error>>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.0.poll_recv(cx)
    }
}

fn segment_after<'a>(path: &'a str, key: &str) -> Option<&'a str> {
    let i = path.find(key)?;
    path[i + key.len()..].split(['/', '?']).next()
}

async fn handle(
    req: Request<Incoming>,
    log: Arc<Mutex<Vec<Seen>>>,
) -> Result<Response<Body>, Infallible> {
    let method = req.method().to_string();
    let path_with_query = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let headers = crate::client::header_pairs(req.headers());
    let record = {
        let (method, path_with_query, headers) =
            (method.clone(), path_with_query.clone(), headers.clone());
        move |body: &[u8], trailers: Vec<(String, String)>| {
            let seen = Seen {
                method: method.clone(),
                path_with_query: path_with_query.clone(),
                headers: headers.clone(),
                body_len: body.len(),
                body_sha256: sha256_hex(body),
                trailers,
            };
            if let Ok(mut l) = log.lock() {
                l.push(seen);
            }
        }
    };
    if path_with_query.contains("/echo") {
        let record = record.clone();
        return Ok(echo(req.into_body(), move |body| record(body, Vec::new())));
    }
    if let Some(s) = segment_after(&path_with_query, "/early-read/") {
        let status = s.parse().unwrap_or(500);
        let mut body = req.into_body();
        let record = record.clone();
        tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(Ok(f)) = body.frame().await {
                if let Some(d) = f.data_ref() {
                    got.extend_from_slice(d);
                }
            }
            record(&got, Vec::new());
        });
        return Ok(Response::builder()
            .status(status)
            .header("content-type", "text/plain")
            .header("content-length", "6")
            .body(full("early\n"))
            .unwrap_or_else(|_| Response::new(full(""))));
    }
    if let Some(s) = segment_after(&path_with_query, "/early/") {
        // Answer without touching the body: hyper then closes the connection.
        record(b"", Vec::new());
        let status = s.parse().unwrap_or(500);
        return Ok(Response::builder()
            .status(status)
            .header("content-type", "text/plain")
            .header("content-length", "6")
            .body(full("early\n"))
            .unwrap_or_else(|_| Response::new(full(""))));
    }
    let (body, trailers) = match req.into_body().collect().await {
        Ok(c) => {
            let trailers = c
                .trailers()
                .map(crate::client::header_pairs)
                .unwrap_or_default();
            (c.to_bytes(), trailers)
        }
        Err(_) => (Bytes::new(), Vec::new()),
    };
    record(&body, trailers);

    let mut status = 200u16;
    let mut content_length: Option<usize> = None;
    let body: Body = if let Some(ms) = segment_after(&path_with_query, "/slow/") {
        tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(0))).await;
        full("slow answer\n")
    } else if let Some(n) = segment_after(&path_with_query, "/bytes/") {
        let n: usize = n.parse().unwrap_or(0);
        content_length = Some(n);
        let data = pattern(n);
        streamed(
            data.chunks(64 * 1024)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect(),
            false,
        )
    } else if let Some(ms) = segment_after(&path_with_query, "/drip/") {
        let ms: u64 = ms.parse().unwrap_or(100);
        let n: usize = segment_after(&path_with_query, &format!("/drip/{ms}/"))
            .and_then(|n| n.parse().ok())
            .unwrap_or(10);
        drip(ms, n)
    } else if path_with_query.contains("/trailers") {
        trailers_body()
    } else if path_with_query.contains("/hang-body") {
        streamed(vec![Ok(Bytes::from(vec![b'h'; 1024]))], true)
    } else if path_with_query.contains("/break-body") {
        content_length = Some(1024 * 1024);
        streamed(
            vec![
                Ok(Bytes::from(vec![b'b'; 64 * 1024])),
                Err(std::io::Error::other("upstream broke")),
            ],
            false,
        )
    } else {
        if let Some(s) = segment_after(&path_with_query, "/status/") {
            status = s.parse().unwrap_or(500);
        }
        let echo = serde_json::json!({
            "method": method,
            "path": path_with_query,
            "headers": headers,
            "body_len": body.len(),
            "body_sha256": sha256_hex(&body),
        });
        full(echo.to_string())
    };
    let mut resp = Response::builder()
        .status(status)
        .header("content-type", "application/json")
        // The upstream's own CORS opinion, which the gateway must replace.
        .header(
            "access-control-allow-origin",
            "https://upstream-chose-this.example",
        )
        .header("access-control-allow-credentials", "true")
        .header("access-control-expose-headers", "x-upstream-secret")
        .header("vary", "Accept-Encoding")
        .header("x-request-id", "req-123")
        // Not exposed by any policy: a page must never be able to read it.
        .header("x-internal-only", "1")
        .header("connection", "x-upstream-hop")
        .header("x-upstream-hop", "must-not-pass");
    if let Some(n) = content_length {
        resp = resp.header("content-length", n);
    }
    if path_with_query.contains("/trailers") {
        resp = resp.header("trailer", "x-checksum");
    }
    if path_with_query.contains("/set-cookie") {
        resp = resp.header("set-cookie", "session=abc123; Path=/; HttpOnly");
    }
    if path_with_query.contains("/cacheable") {
        resp = resp.header("cache-control", "public, max-age=60");
    }
    if path_with_query.contains("/own-cors") {
        // An API that already does CORS itself, as one a gateway is put in
        // front of in report-only mode: it allows whichever origin asks.
        return Ok(own_cors(&method, &headers));
    }
    Ok(resp.body(body).unwrap_or_else(|_| Response::new(full(""))))
}

/// The answer of an upstream with its own permissive CORS: the request's
/// origin reflected, any method and header granted in a preflight (`204`),
/// and `x-upstream-cors` exposed on the actual response.
fn own_cors(method: &str, headers: &[(String, String)]) -> Response<Body> {
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let mut resp = Response::builder()
        .header(
            "access-control-allow-origin",
            get("origin").unwrap_or_default(),
        )
        .header("vary", "Origin");
    if method == "OPTIONS" {
        resp = resp.status(204);
        if let Some(m) = get("access-control-request-method") {
            resp = resp.header("access-control-allow-methods", m);
        }
        if let Some(h) = get("access-control-request-headers") {
            resp = resp.header("access-control-allow-headers", h);
        }
        return resp
            .body(full(""))
            .unwrap_or_else(|_| Response::new(full("")));
    }
    resp.header("access-control-expose-headers", "x-upstream-cors")
        .header("x-upstream-cors", "1")
        .header("content-type", "application/json")
        .body(full("{\"own_cors\":true}"))
        .unwrap_or_else(|_| Response::new(full("")))
}

/// A listener that answers every connection with bytes that are not HTTP.
pub struct GarbageServer {
    pub addr: SocketAddr,
    _thread: std::thread::JoinHandle<()>,
}

impl GarbageServer {
    pub fn start() -> GarbageServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind garbage");
        let addr = listener.local_addr().expect("addr");
        let thread = std::thread::spawn(move || {
            use std::io::{Read, Write};
            for mut s in listener.incoming().flatten() {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let _ = s.write_all(b"SSH-2.0-OpenSSH_9.2 this is not http\r\n\r\n\x00\x01\x02");
            }
        });
        GarbageServer {
            addr,
            _thread: thread,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// A loopback address with nothing listening (connections are refused).
pub fn refused_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    format!("http://{addr}")
}

/// A loopback listener whose accept queue is full, so a new connection's
/// handshake never completes (Linux drops the SYN): what an upstream behind
/// a black-holing firewall looks like. Keep the value alive while testing.
pub struct Unanswered {
    pub addr: SocketAddr,
    _listener: std::net::TcpListener,
    _queued: Vec<std::net::TcpStream>,
}

impl Unanswered {
    pub fn start() -> Unanswered {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind("127.0.0.1:0".parse().expect("addr"))
            .expect("bind");
        let addr = socket.local_addr().expect("addr");
        // Backlog 1: two handshakes complete, then the queue is full.
        let listener = runtime_free_listen(socket);
        let mut queued = Vec::new();
        for _ in 0..3 {
            if let Ok(s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                queued.push(s);
            }
        }
        Unanswered {
            addr,
            _listener: listener,
            _queued: queued,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// `listen(1)` on a tokio socket, handed over as a std listener that nobody
/// accepts from.
fn runtime_free_listen(socket: tokio::net::TcpSocket) -> std::net::TcpListener {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("runtime");
    let _guard = rt.enter();
    let listener = socket.listen(1).expect("listen");
    listener.into_std().expect("std listener")
}

/// A body that is the request body, sent back frame by frame as it arrives;
/// `done` gets the whole of it at the end.
fn echo(mut incoming: Incoming, done: impl FnOnce(&[u8]) + Send + 'static) -> Response<Body> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(4);
    tokio::spawn(async move {
        let mut hasher = Vec::new();
        while let Some(frame) = incoming.frame().await {
            match frame {
                Ok(f) => {
                    if let Some(d) = f.data_ref() {
                        hasher.extend_from_slice(d);
                        if tx.send(Ok(Frame::data(d.clone()))).await.is_err() {
                            return;
                        }
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(std::io::Error::other(e))).await;
                    return;
                }
            }
        }
        done(&hasher);
    });
    Response::builder()
        .status(200)
        .header("content-type", "application/octet-stream")
        .body(BodyExt::boxed(ChannelBody(rx)))
        .unwrap_or_else(|_| Response::new(full("")))
}

/// `n` bytes, one every `ms` milliseconds.
fn drip(ms: u64, n: usize) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(1);
    tokio::spawn(async move {
        for _ in 0..n {
            if tx
                .send(Ok(Frame::data(Bytes::from_static(b"d"))))
                .await
                .is_err()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    });
    BodyExt::boxed(ChannelBody(rx))
}

/// A chunked body followed by the trailer `x-checksum: sha256-of-body`.
fn trailers_body() -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(4);
    tokio::spawn(async move {
        let data = pattern(100_000);
        let mut trailers = hyper::HeaderMap::new();
        if let Ok(v) = hyper::header::HeaderValue::from_str(&sha256_hex(&data)) {
            trailers.insert("x-checksum", v);
        }
        let _ = tx.send(Ok(Frame::data(Bytes::from(data)))).await;
        let _ = tx.send(Ok(Frame::trailers(trailers))).await;
    });
    BodyExt::boxed(ChannelBody(rx))
}
