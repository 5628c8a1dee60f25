//! A measurement probe, not a product artifact: the gateway's answer to a
//! CORS preflight (and to every request it answers itself) as a WASI 0.3
//! component (`wasi:http/handler@0.3.0`, spin-sdk 7), to learn what a P3 build
//! would gain from instance reuse (bench/p3.sh). The decision is
//! [`cors_gateway_core::decide`]'s, and the answer is built as `src/lib.rs`
//! and `src/respond.rs` build it; forwarding is not implemented (501).
//!
//! The policy is parsed once per instance and cached: from `CORS_POLICY` (an
//! instance's environment is fixed), or, in the build with `--features spin`
//! and with `CORS_POLICY_FROM_VARIABLE=1`, from the Spin variable
//! `cors_policy`, read again at most once per
//! [`VARIABLE_RECHECK`] (a new value can take that long to be served by a
//! reused instance; the bytes are parsed again only when they changed; an
//! invalid new value keeps the last good policy).
//!
//! Every answer carries `x-probe-instance: <id> served=<n> parses=<p>
//! reads=<r>`: the instance's random id, the requests it has served, the
//! policies it parsed and the variable reads it made, so a run shows whether
//! instances were reused. A GET of the health path answers the same as JSON.
//!
//! With `PROBE_BARE=1` it answers every request with a bare 204 (no header,
//! nothing read): the P3 counterpart of bench/hello, the floor under the probe.

// The export only links on wasm; natively (clippy) the crate is just
// type-checked, and nothing calls the handler.
#![cfg_attr(not(target_family = "wasm"), allow(dead_code))]

use cors_gateway_core::headers::{header_block_len, MAX_HEADER_BLOCK_BYTES};
use cors_gateway_core::path::Target;
use cors_gateway_core::{decide, request_id, Action, Decision, Policy, RequestView, HEALTH_PATH};
use spin_sdk::wasip3::http::types::{ErrorCode, Fields, Method, Request, Response};
use spin_sdk::wasip3::{wit_future, wit_stream};
use std::cell::{Cell, OnceCell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// How long a reused instance serves the variable's value before reading it
/// again: the update latency this build trades for fewer host calls.
pub const VARIABLE_RECHECK: Duration = Duration::from_secs(1);

struct Probe;

#[cfg(target_family = "wasm")]
spin_sdk::wasip3::http::service::export!(Probe);

impl spin_sdk::wasip3::exports::http::handler::Guest for Probe {
    async fn handle(request: Request) -> Result<Response, ErrorCode> {
        Ok(serve(request).await)
    }
}

/// The parsed policy and the bytes it came from.
struct Loaded {
    policy: Policy,
    raw: String,
    source: &'static str,
}

/// The variable's cache: the last good policy, and when the variable was read.
struct VarCache {
    loaded: Option<Rc<Loaded>>,
    /// The last value read that did not validate (logged once, not per read).
    refused: Option<String>,
    read_at: Option<Instant>,
}

thread_local! {
    static ENV_POLICY: OnceCell<Result<Rc<Loaded>, String>> = const { OnceCell::new() };
    static VAR: RefCell<VarCache> = const { RefCell::new(VarCache { loaded: None, refused: None, read_at: None }) };
    /// A read of the variable is under way (a P3 instance serves requests
    /// concurrently): the others keep the cached policy meanwhile.
    static READING: Cell<bool> = const { Cell::new(false) };
    static INSTANCE: OnceCell<String> = const { OnceCell::new() };
    static SERVED: Cell<u64> = const { Cell::new(0) };
    static PARSES: Cell<u64> = const { Cell::new(0) };
    static READS: Cell<u64> = const { Cell::new(0) };
}

#[cfg(not(feature = "spin"))]
fn from_variable() -> bool {
    false
}

#[cfg(feature = "spin")]
fn from_variable() -> bool {
    thread_local!(static ON: bool = std::env::var_os("CORS_POLICY_FROM_VARIABLE").is_some_and(|v| v == "1"));
    ON.with(|on| *on)
}

fn parse(raw: String, source: &'static str) -> Result<Rc<Loaded>, String> {
    PARSES.set(PARSES.get() + 1);
    match Policy::from_json(&raw) {
        Ok(policy) => Ok(Rc::new(Loaded {
            policy,
            raw,
            source,
        })),
        Err(e) => Err(e.to_string()),
    }
}

/// The policy to serve this request with: `Err((source, reason))` when there
/// is none.
async fn policy() -> Result<Rc<Loaded>, (&'static str, String)> {
    if !from_variable() {
        return ENV_POLICY
            .with(|p| {
                p.get_or_init(|| match std::env::var("CORS_POLICY") {
                    Ok(raw) => parse(raw, "env:CORS_POLICY"),
                    Err(_) => Err("no policy source is configured".into()),
                })
                .clone()
            })
            .map_err(|e| ("env:CORS_POLICY", e));
    }
    const SOURCE: &str = "spin-variable:cors_policy";
    let (cached, fresh) = VAR.with(|v| {
        let v = v.borrow();
        let fresh = v.read_at.is_some_and(|t| t.elapsed() < VARIABLE_RECHECK);
        (v.loaded.clone(), fresh)
    });
    if let Some(c) = &cached {
        if fresh || READING.get() {
            return Ok(c.clone());
        }
    }
    READING.set(true);
    READS.set(READS.get() + 1);
    let read = read_variable().await;
    READING.set(false);
    VAR.with(|v| v.borrow_mut().read_at = Some(Instant::now()));
    let raw = match read {
        Ok(raw) if !raw.trim().is_empty() => raw,
        Ok(_) => return refuse(cached, SOURCE, "the variable is empty".into()),
        Err(e) => return refuse(cached, SOURCE, format!("cannot read: {e}")),
    };
    if let Some(c) = cached.as_ref().filter(|c| c.raw == raw) {
        return Ok(c.clone());
    }
    if VAR.with(|v| v.borrow().refused.as_deref() == Some(raw.as_str())) {
        return refuse(cached, SOURCE, "invalid policy (unchanged)".into());
    }
    match parse(raw.clone(), SOURCE) {
        Ok(loaded) => {
            VAR.with(|v| {
                let mut v = v.borrow_mut();
                v.loaded = Some(loaded.clone());
                v.refused = None;
            });
            Ok(loaded)
        }
        Err(reason) => {
            eprintln!("cors-gateway-p3: ERROR policy from {SOURCE} rejected: {reason}");
            VAR.with(|v| v.borrow_mut().refused = Some(raw));
            refuse(cached, SOURCE, format!("invalid policy: {reason}"))
        }
    }
}

#[cfg(feature = "spin")]
async fn read_variable() -> Result<String, String> {
    spin_sdk::variables::get("cors_policy")
        .await
        .map_err(|e| e.to_string())
}

/// The portable build has no variable (and [`from_variable`] is false).
#[cfg(not(feature = "spin"))]
async fn read_variable() -> Result<String, String> {
    Err("this build has no Spin variables (build with --features spin)".into())
}

/// The last good policy, else the reason there is none.
fn refuse(
    cached: Option<Rc<Loaded>>,
    source: &'static str,
    reason: String,
) -> Result<Rc<Loaded>, (&'static str, String)> {
    cached.ok_or((source, reason))
}

fn method_str(m: &Method) -> &str {
    match m {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
        Method::Connect => "CONNECT",
        Method::Options => "OPTIONS",
        Method::Trace => "TRACE",
        Method::Patch => "PATCH",
        Method::Other(s) => s,
    }
}

/// `<id> served=<n> parses=<p> reads=<r>` (see the module comment).
fn instance_stats() -> String {
    let id = INSTANCE.with(|i| {
        i.get_or_init(|| request_id::from_random(&random_bytes(4)))
            .clone()
    });
    format!(
        "{id} served={} parses={} reads={}",
        SERVED.get(),
        PARSES.get(),
        READS.get()
    )
}

fn bare() -> bool {
    thread_local!(static ON: bool = std::env::var_os("PROBE_BARE").is_some_and(|v| v == "1"));
    ON.with(|on| *on)
}

async fn serve(request: Request) -> Response {
    SERVED.set(SERVED.get() + 1);
    if bare() {
        let (trailers_tx, trailers_rx) = wit_future::new(|| Ok(None));
        drop(trailers_tx);
        let (response, _sent) = Response::new(Fields::new(), None, trailers_rx);
        let _ = response.set_status_code(204);
        return response;
    }
    let method = request.get_method();
    let headers = request.get_headers().copy_all();
    let id = request_id_of(&headers);
    let Some(path_with_query) = request.get_path_with_query() else {
        return send(&id, 400, Vec::new(), b"bad request target\n");
    };
    if header_block_len(&headers) > MAX_HEADER_BLOCK_BYTES {
        return send(&id, 431, Vec::new(), b"request header fields too large\n");
    }
    let target = Target::parse(&path_with_query);
    let path: &str = &target.path;
    let current = match policy().await {
        Ok(c) => c,
        Err((source, _)) => {
            let head = vec![("retry-after".to_string(), b"5".to_vec())];
            let body = format!("cors-gateway: no valid policy ({source})\n");
            return send(&id, 503, head, body.as_bytes());
        }
    };
    if path == HEALTH_PATH && matches!(method, Method::Get | Method::Head) {
        let body = format!(
            "{{\"probe\":\"cors-gateway-p3\",\"policy\":{{\"source\":\"{}\",\"routes\":{}}},\"instance\":\"{}\"}}\n",
            current.source,
            current.policy.routes.len(),
            instance_stats()
        );
        let head = vec![
            ("content-type".to_string(), b"application/json".to_vec()),
            ("cache-control".to_string(), b"no-store".to_vec()),
        ];
        return send(&id, 200, head, body.as_bytes());
    }
    let policy = &current.policy;
    let mut scratch = Vec::new();
    let authority = request.get_authority();
    let mut view = RequestView::from_headers(method_str(&method), path, &headers, &mut scratch);
    if let Some(a) = &authority {
        view.host = Some(a.as_bytes());
    }
    let decision = decide(policy, &view);
    match decision.action {
        Action::Forward(_) | Action::ReportOnly { .. } => send(
            &id,
            501,
            Vec::new(),
            b"cors-gateway-p3 probe: forwarding is not implemented\n",
        ),
        Action::Respond { status, .. } => {
            let mut head = cors_head(&decision);
            let mut body = match status.as_u16() {
                204 => String::new(),
                403 => "cors-gateway: refused by CORS policy\n".into(),
                404 => "cors-gateway: no route for this path\n".into(),
                421 => "cors-gateway: this host is not served here\n".into(),
                _ => "cors-gateway: bad request\n".into(),
            };
            if let (true, Some(f)) = (policy.debug, decision.failure) {
                head.push(("x-cors-gateway-debug".into(), f.code().as_bytes().to_vec()));
                body = format!("{body}{f}\n");
            }
            send(&id, status.as_u16(), head, body.as_bytes())
        }
    }
}

/// The decision's CORS headers, then `Vary` (as `respond::Head::new`).
fn cors_head(d: &Decision<'_>) -> Vec<(String, Vec<u8>)> {
    let mut head: Vec<(String, Vec<u8>)> = d
        .sent_grant()
        .iter()
        .flat_map(|g| g.headers())
        .map(|(n, v)| (n.to_string(), v.to_vec()))
        .collect();
    if let Some(v) = d.vary {
        head.push(("vary".into(), v.as_bytes().to_vec()));
    }
    head
}

/// The client's `x-request-id` when it is one safe token, else a new one
/// (as the gateway's `request_id`).
fn request_id_of(headers: &[(String, Vec<u8>)]) -> String {
    let mut given = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("x-request-id"));
    match (given.next(), given.next()) {
        (Some((_, v)), None) if request_id::is_safe(v) => String::from_utf8_lossy(v).into_owned(),
        _ => request_id::from_random(&random_bytes(16)),
    }
}

#[cfg(target_family = "wasm")]
fn random_bytes(n: u64) -> Vec<u8> {
    spin_sdk::wasip3::random::random::get_random_bytes(n)
}

/// Natively (clippy) there is no WASI host to ask.
#[cfg(not(target_family = "wasm"))]
fn random_bytes(n: u64) -> Vec<u8> {
    vec![0; n as usize]
}

/// Statuses that never have a body, so never a `Content-Length`.
fn is_bodyless(status: u16) -> bool {
    status == 204 || status == 304 || (100..200).contains(&status)
}

/// A complete response with a small body, headers in the order
/// `respond::send` writes them, plus `x-probe-instance`.
fn send(id: &str, status: u16, mut headers: Vec<(String, Vec<u8>)>, body: &[u8]) -> Response {
    headers.push(("x-request-id".into(), id.as_bytes().to_vec()));
    let body = if is_bodyless(status) { &[][..] } else { body };
    if !body.is_empty() && !headers.iter().any(|(n, _)| n == "content-type") {
        headers.push(("content-type".into(), b"text/plain; charset=utf-8".to_vec()));
    }
    if !is_bodyless(status) {
        headers.push(("content-length".into(), body.len().to_string().into_bytes()));
    }
    headers.push(("x-probe-instance".into(), instance_stats().into_bytes()));
    let (fields, status, body) = match Fields::from_list(&headers) {
        Ok(f) => (f, status, body),
        Err(e) => {
            eprintln!("cors-gateway-p3: ERROR the host refused the headers of a {status} answer ({e:?}); answering 500");
            const INTERNAL_ERROR: &[u8] = b"cors-gateway: internal error\n";
            let plain = [
                (
                    "content-type".to_string(),
                    b"text/plain; charset=utf-8".to_vec(),
                ),
                (
                    "content-length".to_string(),
                    INTERNAL_ERROR.len().to_string().into_bytes(),
                ),
                ("cache-control".to_string(), b"no-store".to_vec()),
            ];
            (
                Fields::from_list(&plain).unwrap_or_else(|_| Fields::new()),
                500,
                INTERNAL_ERROR,
            )
        }
    };
    // No trailers: the writer dropped unwritten resolves the future to `Ok(None)`.
    let (trailers_tx, trailers_rx) = wit_future::new(|| Ok(None));
    drop(trailers_tx);
    // A 204 has no body stream at all (as the 0.2 gateway opens none).
    let contents = if body.is_empty() {
        None
    } else {
        let (mut tx, rx) = wit_stream::new();
        let bytes = body.to_vec();
        spin_sdk::wasip3::spawn(async move {
            let _ = tx.write_all(bytes).await;
        });
        Some(rx)
    };
    let (response, _sent) = Response::new(fields, contents, trailers_rx);
    let _ = response.set_status_code(status);
    response
}
