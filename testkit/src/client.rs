//! An HTTP/1.1 client with raw control: duplicate headers, unnormalised
//! paths, large bodies, and a body that may break after the head arrived.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Names lower case, in arrival order, repeated names kept.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Set when the head arrived but the body did not complete.
    pub body_error: Option<String>,
    /// Trailer fields after a chunked body, names lower case.
    pub trailers: Vec<(String, String)>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The `access-control-*` and `vary` headers; a repeated one is joined
    /// with " | " so a duplicate never goes unnoticed.
    pub fn cors(&self) -> BTreeMap<String, String> {
        let mut m: BTreeMap<String, String> = BTreeMap::new();
        for (n, v) in &self.headers {
            if n.starts_with("access-control-") || n == "vary" {
                m.entry(n.clone())
                    .and_modify(|e| {
                        e.push_str(" | ");
                        e.push_str(v);
                    })
                    .or_insert_with(|| v.clone());
            }
        }
        m
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

/// Header lines as (lower-case name, lossy text value) pairs, in order.
pub fn header_pairs(map: &hyper::HeaderMap) -> Vec<(String, String)> {
    map.iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

fn as_bytes<'a>(headers: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a [u8])> {
    headers.iter().map(|(n, v)| (*n, v.as_bytes())).collect()
}

/// Serves HTTP/1.1 on `listener` until `rt` stops, one task per connection,
/// handing each request and a clone of `state` to `handler`.
pub fn serve_http1<S, F, Fut, B>(
    rt: &tokio::runtime::Runtime,
    listener: tokio::net::TcpListener,
    state: S,
    handler: F,
) where
    S: Clone + Send + Sync + 'static,
    F: Fn(hyper::Request<hyper::body::Incoming>, S) -> Fut + Copy + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<hyper::Response<B>, std::convert::Infallible>>
        + Send
        + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    rt.spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let state = state.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| handler(req, state.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
}

/// Sends one request on a fresh connection; gives up after 60 s.
pub fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> anyhow::Result<Response> {
    send_bytes(addr, method, path, &as_bytes(headers), body)
}

/// Like [`send`], with header values as raw bytes (for non-UTF-8 values).
pub fn send_bytes(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &[u8])],
    body: Vec<u8>,
) -> anyhow::Result<Response> {
    runtime().block_on(async {
        tokio::time::timeout(
            Duration::from_secs(60),
            send_raw(addr, method, path, headers, body),
        )
        .await
        .map_err(|_| anyhow::anyhow!("{method} {path}: no complete answer within 60 s"))?
    })
}

pub async fn send_async(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> anyhow::Result<Response> {
    send_raw(addr, method, path, &as_bytes(headers), body).await
}

async fn send_raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &[u8])],
    body: Vec<u8>,
) -> anyhow::Result<Response> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut req = hyper::Request::builder().method(method).uri(path);
    // The test's own `Host` (for allowed_hosts), else the address.
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        req = req.header("host", addr.to_string());
    }
    for (n, v) in headers {
        req = req.header(*n, hyper::header::HeaderValue::from_bytes(v)?);
    }
    let req = req.body(Full::new(Bytes::from(body)))?;
    let resp = sender.send_request(req).await?;
    read_response(resp).await
}

async fn read_response<B>(resp: hyper::Response<B>) -> anyhow::Result<Response>
where
    B: hyper::body::Body + Unpin,
    B::Data: bytes::Buf,
    B::Error: std::fmt::Display,
{
    use bytes::Buf;
    let status = resp.status().as_u16();
    let headers = header_pairs(resp.headers());
    let mut body = Vec::new();
    let mut body_error = None;
    let mut trailers = Vec::new();
    let mut incoming = resp.into_body();
    while let Some(frame) = incoming.frame().await {
        match frame {
            Ok(f) => match f.into_data() {
                Ok(mut d) => {
                    while d.has_remaining() {
                        let c = d.chunk();
                        body.extend_from_slice(c);
                        let n = c.len();
                        d.advance(n);
                    }
                }
                Err(f) => {
                    if let Ok(t) = f.into_trailers() {
                        trailers.extend(header_pairs(&t));
                    }
                }
            },
            Err(e) => {
                body_error = Some(e.to_string());
                break;
            }
        }
    }
    Ok(Response {
        status,
        headers,
        body,
        body_error,
        trailers,
    })
}

/// A request body sent frame by frame: chunked unless the request's headers
/// give a `content-length`, with a pause before each chunk after the first,
/// and optional trailers.
#[derive(Debug, Clone, Default)]
pub struct Streamed {
    pub chunks: Vec<Vec<u8>>,
    pub pause: Duration,
    pub trailers: Vec<(String, String)>,
}

/// Sends one request with a streamed body on a fresh connection, reading
/// the response while the body is still being sent (as browsers and curl
/// do); gives up after `limit`.
pub fn send_streamed(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    upload: Streamed,
    limit: Duration,
) -> anyhow::Result<Response> {
    runtime().block_on(async {
        tokio::time::timeout(limit, async {
            let stream = tokio::net::TcpStream::connect(addr).await?;
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            let mut req = hyper::Request::builder()
                .method(method)
                .uri(path)
                .header("host", addr.to_string());
            for (n, v) in headers {
                req = req.header(*n, *v);
            }
            let (tx, rx) =
                tokio::sync::mpsc::channel::<Result<hyper::body::Frame<Bytes>, std::io::Error>>(2);
            tokio::spawn(async move {
                for (i, c) in upload.chunks.into_iter().enumerate() {
                    if i > 0 && !upload.pause.is_zero() {
                        tokio::time::sleep(upload.pause).await;
                    }
                    if tx
                        .send(Ok(hyper::body::Frame::data(Bytes::from(c))))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                if !upload.trailers.is_empty() {
                    let mut t = hyper::HeaderMap::new();
                    for (n, v) in &upload.trailers {
                        if let (Ok(n), Ok(v)) = (
                            hyper::header::HeaderName::from_bytes(n.as_bytes()),
                            hyper::header::HeaderValue::from_str(v),
                        ) {
                            t.append(n, v);
                        }
                    }
                    let _ = tx.send(Ok(hyper::body::Frame::trailers(t))).await;
                }
            });
            let req = req.body(StreamBody(rx))?;
            let resp = sender.send_request(req).await?;
            read_response(resp).await
        })
        .await
        .map_err(|_| anyhow::anyhow!("{method} {path}: no complete answer within {limit:?}"))?
    })
}

struct StreamBody(tokio::sync::mpsc::Receiver<Result<hyper::body::Frame<Bytes>, std::io::Error>>);

impl hyper::body::Body for StreamBody {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
        self.0.poll_recv(cx)
    }
}

/// Writes `request` bytes as they are on a fresh connection and returns
/// everything the server sends until it closes or goes quiet for 3 s. For
/// requests no well-behaved client library would send.
pub fn raw_exchange(addr: SocketAddr, request: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    s.write_all(request)?;
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// The status codes of every response in `raw` (several on a kept-alive connection).
pub fn statuses(raw: &[u8]) -> Vec<u16> {
    let text = String::from_utf8_lossy(raw);
    text.match_indices("HTTP/1.1 ")
        .filter_map(|(i, _)| text.get(i + 9..i + 12)?.parse().ok())
        .collect()
}
