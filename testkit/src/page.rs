//! Serves the browser-facing pages (the playground and the test runner, which
//! share `assets/scenarios.js`) and collects results a page POSTs back, so a
//! headless browser needs no WebDriver.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const PLAYGROUND_HTML: &str = include_str!("../assets/playground.html");
pub const RUNNER_HTML: &str = include_str!("../assets/runner.html");
pub const SCENARIOS_JS: &str = include_str!("../assets/scenarios.js");
pub const PRIME_HTML: &str = include_str!("../assets/prime.html");

pub struct PageServer {
    pub addr: SocketAddr,
    results: Arc<Mutex<Vec<String>>>,
}

impl PageServer {
    /// Serves `/` (the playground), `/runner.html`, `/scenarios.js`, and takes
    /// `POST /results`.
    pub fn start(addr: SocketAddr) -> PageServer {
        let rt = crate::client::runtime();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind(addr))
            .unwrap_or_else(|e| panic!("cannot listen on {addr}: {e}"));
        let addr = listener.local_addr().expect("page addr");
        let results: Arc<Mutex<Vec<String>>> = Arc::default();
        crate::client::serve_http1(rt, listener, results.clone(), serve);
        PageServer { addr, results }
    }

    /// `http://127.0.0.1:PORT`: the page's origin.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Waits for the next result document a page posts.
    pub fn wait_result(&self, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(r) = self.results.lock().ok().and_then(|mut r| r.pop()) {
                return Some(r);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

async fn serve(
    req: Request<Incoming>,
    store: Arc<Mutex<Vec<String>>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, kind, body): (u16, &str, Bytes) = match (req.method().as_str(), req.uri().path()) {
        ("GET", "/") | ("GET", "/index.html") => (
            200,
            "text/html; charset=utf-8",
            Bytes::from_static(PLAYGROUND_HTML.as_bytes()),
        ),
        ("GET", "/runner.html") => (
            200,
            "text/html; charset=utf-8",
            Bytes::from_static(RUNNER_HTML.as_bytes()),
        ),
        ("GET", "/prime.html") => (
            200,
            "text/html; charset=utf-8",
            Bytes::from_static(PRIME_HTML.as_bytes()),
        ),
        ("GET", "/scenarios.js") => (
            200,
            "text/javascript; charset=utf-8",
            Bytes::from_static(SCENARIOS_JS.as_bytes()),
        ),
        ("POST", "/results") => {
            let body = req
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            if let Ok(mut s) = store.lock() {
                s.push(String::from_utf8_lossy(&body).into_owned());
            }
            (204, "text/plain", Bytes::new())
        }
        _ => (404, "text/plain", Bytes::from_static(b"not found\n")),
    };
    Ok(Response::builder()
        .status(status)
        .header("content-type", kind)
        .header("cache-control", "no-store")
        .body(Full::new(body))
        .unwrap_or_default())
}
