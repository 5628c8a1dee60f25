//! cors-gateway, the component: a thin host adapter around
//! [`cors_gateway_core`]. It reads the request, asks the core for a decision,
//! and either answers or forwards. No CORS rule lives here.
//!
//! - [`source`]: where the policy comes from, and the per-instance cache;
//! - [`policy_file`]: reading the policy file, and noticing cheaply that it is unchanged;
//! - [`forward`]: outbound HTTP with streamed bodies;
//! - [`respond`]: answers the gateway writes itself.

#[cfg(feature = "spin")]
mod admin;
mod http;
mod log;
#[cfg(not(feature = "p3"))]
mod p2;
#[cfg(feature = "p3")]
mod p3;
mod policy_file;
mod respond;
pub mod source;
#[cfg(feature = "spin")]
mod spin;

use cors_gateway_core::headers::{header_block_len, MAX_HEADER_BLOCK_BYTES};
use cors_gateway_core::path::Target;
use cors_gateway_core::request_id;
use cors_gateway_core::{decide, Action, RequestView, HEALTH_PATH};
use http::{Http, Incoming};
use log::log;
use respond::Head;

/// One request, from what the binding read of it to its answer (or the
/// exchange that will make it). The caller finishes the returned `Req`
/// once the answer is complete.
// Natively the 0.3 binding's export is not linked, so nothing calls this.
#[cfg_attr(all(feature = "p3", not(target_family = "wasm")), allow(dead_code))]
fn handle_request<H: Http>(
    request: H::Request,
    out: H::Out,
    method: H::Method,
    mut headers: Vec<(String, Vec<u8>)>,
    path_with_query: Option<String>,
    authority: Option<String>,
) -> (log::Req, H::Done) {
    let id = request_id(&mut headers);
    let req = log::Req::new(
        id,
        log::Record {
            method: H::method_name(&method).to_string(),
            path: log::field(path_with_query.as_deref().unwrap_or("").as_bytes()),
            bytes_in: match cors_gateway_core::forwarding::framing(&headers) {
                Ok(cors_gateway_core::forwarding::Framing::Length(n)) => Some(n),
                _ => None,
            },
            ..Default::default()
        },
    );
    let done = serve::<H>(
        &req,
        request,
        out,
        method,
        headers,
        path_with_query,
        authority,
    );
    (req, done)
}

fn serve<H: Http>(
    req: &log::Req,
    request: H::Request,
    out: H::Out,
    method: H::Method,
    headers: Vec<(String, Vec<u8>)>,
    path_with_query: Option<String>,
    authority: Option<String>,
) -> H::Done {
    let Some(path_with_query) = path_with_query else {
        return H::send(req, out, Head::new(400, &[], None), b"bad request target\n");
    };
    if header_block_len(&headers) > MAX_HEADER_BLOCK_BYTES {
        return H::send(
            req,
            out,
            Head::new(431, &[], None),
            b"request header fields too large\n",
        );
    }
    // Normalised once: routing, the namespace check, the decision and the
    // upstream all see the same path.
    let target = Target::parse(&path_with_query);
    let path: &str = &target.path;

    // Spin build: the admin endpoint exists only when a token is configured,
    // and answers before the policy is loaded (it can repair a broken one).
    // A refused token leaves the endpoint off: its paths are then answered
    // 404 like the rest of the gateway's namespace, never forwarded.
    #[cfg(feature = "spin")]
    if admin::is_admin_path(path) {
        match spin::admin_token() {
            Ok(Some(token)) => return H::admin(req, request, out, &method, path, &headers, &token),
            Ok(None) => {}
            Err(why) => log!(req, "cors-gateway: ERROR the admin endpoint is off: {why}"),
        }
    }

    // Which sources this request consulted and what each cost: for health,
    // and the access or JSON log (only then is the clock read).
    let traced = path == HEALTH_PATH || access_log_enabled() || log::json();
    if traced {
        source::record_consulted(req);
    }
    #[cfg(feature = "spin")]
    let (current, candidate) = {
        let (store, raw) = spin::source(req);
        let store = store.as_ref().ok().and_then(|s| s.as_deref());
        let current = source::current_with(req, raw, &spin::KvKeeper(store));
        (
            current,
            source::candidate(req, spin::candidate_source(store)),
        )
    };
    #[cfg(not(feature = "spin"))]
    let (current, candidate) = (
        source::current(req, source::portable_source(req)),
        source::candidate(req, source::portable_candidate()),
    );
    let consulted = if traced {
        source::take_consulted(req)
    } else {
        Vec::new()
    };

    if path == HEALTH_PATH && matches!(H::method_name(&method), "GET" | "HEAD") {
        return health::<H>(req, out, &current, &candidate, &consulted);
    }
    if log::json() {
        req.with_record(|r| r.sources = Some(sources_json(&consulted)));
    }
    let current = match current {
        Ok(c) => c,
        Err(u) => {
            return H::send(
                req,
                out,
                Head::new(503, &[], None).header("retry-after", "5"),
                format!("cors-gateway: no valid policy ({})\n", u.source).as_bytes(),
            );
        }
    };
    let policy = &current.loaded.policy;
    let mut scratch = Vec::new();
    let mut view = RequestView::from_headers(H::method_name(&method), path, &headers, &mut scratch);
    // The host's authority is what the request was addressed to (HTTP/2's
    // `:authority` included); the header is the fallback.
    if let Some(a) = &authority {
        view.host = Some(a.as_bytes());
    }
    let decision = decide(policy, &view);
    req.with_record(|r| {
        r.route = decision.route().map(|route| route.name.clone());
        r.kind = Some(match decision.kind {
            cors_gateway_core::Kind::NotCors => "not-cors",
            cors_gateway_core::Kind::Preflight => "preflight",
            cors_gateway_core::Kind::Actual => "actual",
        });
        r.origin = match view.origin {
            cors_gateway_core::OriginHeader::Absent => None,
            cors_gateway_core::OriginHeader::Multiple => Some("<several>".into()),
            cors_gateway_core::OriginHeader::One(v) => Some(log::field(v)),
        };
        r.decision = Some(match (decision.is_report_only(), decision.outcome()) {
            (true, "allow") => "would-allow",
            (true, "refuse") => "would-refuse",
            (_, o) => o,
        });
        r.failure = decision.failure.map(|f| f.code());
        r.failure_detail = decision
            .failure
            .and_then(|f| f.detail())
            .map(|d| log::field(d.as_bytes()));
        r.mode = Some(
            decision
                .route()
                .map_or(policy.defaults.mode, |route| route.cors.mode)
                .as_str(),
        );
        r.policy_sha256 = Some(current.loaded.sha256().to_string());
    });

    compare_candidate(req, &decision, &view, &candidate);

    if decision.is_report_only() && decision.kind != cors_gateway_core::Kind::NotCors {
        // Report-only: log what would have happened, then forward as if the
        // gateway were not there (nothing added, nothing of the upstream's
        // CORS headers removed).
        log!(
            req,
            "cors-gateway: report-only would-{} {} {} {} route={} origin={}: {}",
            decision.outcome(),
            decision
                .status()
                .map_or("forward".into(), |s| s.as_u16().to_string()),
            view.method,
            log::Value(view.path.as_bytes()),
            decision.route().map_or("-", |r| r.name.as_str()),
            OriginForLog(view.origin),
            decision.failure.map_or("-", |f| f.code()),
        );
    } else if let Some(f) = decision.failure {
        log!(
            req,
            "cors-gateway: {} {} {} route={} origin={}: {} ({})",
            decision
                .status()
                .map_or("forwarded-without-cors".into(), |s| s.as_u16().to_string()),
            view.method,
            log::Value(view.path.as_bytes()),
            decision.route().map_or("-", |r| r.name.as_str()),
            OriginForLog(view.origin),
            f.code(),
            f
        );
    }

    if access_log_enabled() {
        // One line per request, for operators (and the browser suite, which
        // counts preflights with it). Request values are escaped and cut.
        log!(
            req,
            "cors-gateway: access {} {} kind={:?} action={} route={} origin={} failure={} sources={}",
            view.method,
            log::Value(view.path.as_bytes()),
            decision.kind,
            decision.action_for_log(),
            decision.route().map_or("-", |r| r.name.as_str()),
            OriginForLog(view.origin),
            decision.failure.map_or("-", |f| f.code()),
            sources_text(&consulted),
        );
    }

    match decision.action {
        Action::Forward(route) | Action::ReportOnly { route, .. } => H::forward(
            req,
            Incoming {
                request,
                method: &method,
                path,
                query: target.query,
                headers: &headers,
                authority: authority.as_deref(),
            },
            route,
            &decision,
            out,
        ),
        Action::Respond { status, .. } => {
            let cors = respond::decision_headers(&decision);
            let mut head = Head::new(status.as_u16(), &cors, decision.vary);
            let mut body = respond::decision_body(status.as_u16()).to_string();
            if let (true, Some(f)) = (policy.debug, decision.failure) {
                head = head.header("x-cors-gateway-debug", f.code());
                body = format!("{body}{f}\n");
            }
            H::send(req, out, head, body.as_bytes())
        }
    }
}

/// Decides the request with the candidate policy too; logs where the two
/// differ. The candidate never changes the response.
fn compare_candidate(
    req: &log::Req,
    live: &cors_gateway_core::Decision<'_>,
    view: &RequestView<'_>,
    candidate: &source::Candidate,
) {
    let source::Candidate::Valid(c) = candidate else {
        return;
    };
    let d = decide(&c.policy, view);
    let differs = d.differs_from(live);
    let status = |d: &cors_gateway_core::Decision<'_>| {
        d.status()
            .map_or("forward".into(), |s| s.as_u16().to_string())
    };
    if differs {
        log!(
            req,
            "cors-gateway: candidate differs {} {} route={} origin={}: live {} {} {} / candidate {} {} {}",
            view.method,
            log::Value(view.path.as_bytes()),
            live.route().map_or("-", |r| r.name.as_str()),
            OriginForLog(view.origin),
            live.outcome(),
            status(live),
            live.failure.map_or("-", |f| f.code()),
            d.outcome(),
            status(&d),
            d.failure.map_or("-", |f| f.code()),
        );
    }
    req.with_record(|r| {
        r.candidate = Some(serde_json::json!({
            "decision": d.outcome(),
            "failure": d.failure.map(|f| f.code()),
            "failure_detail": d.failure.and_then(|f| f.detail()).map(|v| log::field(v.as_bytes())),
            "status": status(&d),
            "differs": differs,
            "sha256": c.sha256(),
        }));
    });
}

/// Keeps the client's `x-request-id` when it is one safe token, else makes
/// one with `wasi:random` and puts it in `headers` (so the upstream gets it).
/// Returns the id.
fn request_id(headers: &mut Vec<(String, Vec<u8>)>) -> String {
    let mut given = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("x-request-id"));
    let kept = match (given.next(), given.next()) {
        (Some((_, v)), None) if request_id::is_safe(v) => std::str::from_utf8(v).ok(),
        _ => None,
    };
    match kept {
        Some(id) => id.to_string(),
        None => {
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case("x-request-id"));
            let id = request_id::from_random(&random_bytes());
            headers.push(("x-request-id".into(), id.clone().into_bytes()));
            id
        }
    }
}

// Not called by the WASI 0.3 binding, which has its own clock.
#[cfg(target_family = "wasm")]
#[cfg_attr(feature = "p3", allow(dead_code))]
pub(crate) fn monotonic_ns() -> u64 {
    wasi::clocks::monotonic_clock::now()
}

#[cfg(not(target_family = "wasm"))]
#[cfg_attr(feature = "p3", allow(dead_code))]
pub(crate) fn monotonic_ns() -> u64 {
    0
}

#[cfg(target_family = "wasm")]
fn random_bytes() -> Vec<u8> {
    wasi::random::random::get_random_bytes(16)
}

/// Natively (clippy, `cargo test`) there is no WASI host to ask.
#[cfg(not(target_family = "wasm"))]
fn random_bytes() -> Vec<u8> {
    vec![0; 16]
}

/// An `Origin` for a log line: escaped and cut (see [`log::Value`]).
struct OriginForLog<'a>(cors_gateway_core::OriginHeader<'a>);

impl std::fmt::Display for OriginForLog<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            cors_gateway_core::OriginHeader::Absent => f.write_str("-"),
            cors_gateway_core::OriginHeader::Multiple => f.write_str("<several>"),
            cors_gateway_core::OriginHeader::One(v) => std::fmt::Display::fmt(&log::Value(v), f),
        }
    }
}

/// `CORS_GATEWAY_ACCESS_LOG=1` turns on the access log.
fn access_log_enabled() -> bool {
    source::env().access_log
}

/// The admin endpoint's state for health: `null` in the portable build.
fn admin_status() -> serde_json::Value {
    #[cfg(feature = "spin")]
    return match spin::admin_token() {
        Ok(Some(_)) => serde_json::json!({"enabled": true}),
        Ok(None) => serde_json::json!({"enabled": false, "reason": "cors_admin_token is not set"}),
        Err(why) => serde_json::json!({"enabled": false, "reason": why}),
    };
    #[cfg(not(feature = "spin"))]
    serde_json::Value::Null
}

/// The sources consulted, for health and the JSON log:
/// `[{"source": …, "outcome": …, "us": …}]`.
fn sources_json(consulted: &[source::Consulted]) -> serde_json::Value {
    consulted
        .iter()
        .map(|c| serde_json::json!({"source": c.source, "outcome": c.outcome, "us": c.micros}))
        .collect()
}

/// The same for the access log: `source=outcome/12us,…`.
fn sources_text(consulted: &[source::Consulted]) -> String {
    let parts: Vec<String> = consulted
        .iter()
        .map(|c| format!("{}={}/{}us", c.source, c.outcome, c.micros))
        .collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(",")
    }
}

fn health<H: Http>(
    req: &log::Req,
    out: H::Out,
    current: &Result<source::Current, source::Unavailable>,
    candidate: &source::Candidate,
    consulted: &[source::Consulted],
) -> H::Done {
    let sources = sources_json(consulted);
    let load_us: u64 = consulted.iter().map(|c| c.micros).sum();
    let (status, body) = match current {
        Ok(c) => (
            200,
            serde_json::json!({
                "status": if c.stale_reason.is_some() { "degraded" } else { "ok" },
                "policy": {
                    "source": c.loaded.source,
                    "sha256": c.loaded.sha256(),
                    "compiled": c.loaded.policy.compiled_from.is_some(),
                    "routes": c.loaded.policy.routes.len(),
                    "report_only_routes": c.loaded.policy.routes.iter()
                        .filter(|r| r.cors.mode == cors_gateway_core::policy::Mode::ReportOnly)
                        .map(|r| r.name.as_str())
                        .collect::<Vec<_>>(),
                },
                "candidate": match candidate {
                    source::Candidate::None => serde_json::Value::Null,
                    source::Candidate::Valid(k) => serde_json::json!({"source": k.source, "sha256": k.sha256()}),
                    source::Candidate::Invalid { source, reason } => serde_json::json!({"source": source, "error": reason}),
                },
                "last_known_good": c.stale_reason.is_some(),
                "error": c.stale_reason,
                "admin": admin_status(),
                "sources": sources,
                "load_us": load_us,
            }),
        ),
        Err(u) => (
            503,
            serde_json::json!({
                "status": "unavailable",
                "policy": null,
                "source": u.source,
                "error": u.reason,
                "admin": admin_status(),
                "sources": sources,
                "load_us": load_us,
            }),
        ),
    };
    // The Spin build's `warnings`: a Spin source holding a policy that is not
    // switched on. Not in the portable build, which has no such source.
    #[cfg(feature = "spin")]
    let body = {
        let mut body = body;
        let warnings = spin::warnings().into_iter().map(serde_json::Value::String);
        if let Some(map) = body.as_object_mut() {
            map.insert("warnings".into(), warnings.collect());
        }
        body
    };
    let head = Head::new(status, &[], None)
        .header("content-type", "application/json")
        .header("cache-control", "no-store");
    H::send(req, out, head, format!("{body}\n").as_bytes())
}
