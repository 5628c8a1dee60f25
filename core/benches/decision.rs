//! `decide` for a preflight and an actual request, for policies of 10 to
//! 10,000 origins, beside tower-http's `CorsLayer` answering the same preflight;
//! and the same preflights on the policy's compiled form (`cors-gateway
//! compile`: sorted tables, binary search instead of hashing).
//!
//! Run: `cargo bench -p cors-gateway-core --bench decision`
//!
//! Both sides produce the full answer: ours runs `decide` and walks every header
//! the gateway adds; tower-http's layer builds its preflight response.

mod common;

use common::{exact_origin, exact_origins, policy_json, subdomain_origin, SIZES};
use cors_gateway_core::{compiled, decide, Policy, RequestView};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use tower::{Layer, Service};
use tower_http::cors::{AllowOrigin, CorsLayer};

type Headers<'a> = Vec<(&'a str, &'a str)>;

/// Runs `decide` on a request and consumes the answer's headers.
fn answer(policy: &Policy, method: &str, path: &str, headers: &[(&str, &str)]) -> usize {
    // Per call, as in the component (which uses `Vec::new()`: one small
    // allocation when Access-Control-Request-Headers is present).
    let mut scratch = Vec::new();
    let view = RequestView::from_headers(method, path, headers, &mut scratch);
    let d = decide(policy, &view);
    d.headers().map(|(n, v)| n.len() + v.len()).sum()
}

fn preflight_headers(origin: &str) -> Headers<'_> {
    vec![
        ("host", "api.example.com"),
        ("origin", origin),
        ("access-control-request-method", "POST"),
        ("access-control-request-headers", "content-type,x-trace-id"),
        ("user-agent", "Mozilla/5.0"),
        ("accept", "*/*"),
    ]
}

fn actual_headers(origin: &str) -> Headers<'_> {
    vec![
        ("host", "api.example.com"),
        ("origin", origin),
        ("content-type", "application/json"),
        ("user-agent", "Mozilla/5.0"),
        ("accept", "*/*"),
    ]
}

/// One group per policy size, so each size's figures (ours and tower-http's)
/// are measured back to back under the same machine load.
fn bench_all(c: &mut Criterion) {
    let mut cx = Context::from_waker(Waker::noop());
    for n in SIZES {
        let json = policy_json(n);
        let policy = Policy::from_json(&json).expect("generated policy is valid");
        let bin = compiled::compile(&json, [0; 32]).expect("generated policy compiles");
        let from_bin = compiled::load(bin).expect("compiled policy loads");
        let exact = exact_origin(n);
        let sub = subdomain_origin(n);
        let pre_exact = preflight_headers(&exact);
        let pre_sub = preflight_headers(&sub);
        let act_exact = actual_headers(&exact);
        let act_sub = actual_headers(&sub);
        // Sanity: every benchmarked request is allowed, so the whole path runs.
        assert!(answer(&policy, "OPTIONS", "/api/orders", &pre_exact) > 0);
        assert!(answer(&policy, "OPTIONS", "/api/orders", &pre_sub) > 0);
        assert!(answer(&from_bin, "OPTIONS", "/api/orders", &pre_exact) > 0);
        assert!(answer(&from_bin, "OPTIONS", "/api/orders", &pre_sub) > 0);

        let mut svc = tower_layer(n).layer(Unreachable);
        let req = http_request(&exact);
        let probe = {
            let mut fut = pin!(svc.call(req.clone()));
            match fut.as_mut().poll(&mut cx) {
                Poll::Ready(Ok(r)) => r,
                _ => panic!("tower-http preflight is not immediate"),
            }
        };
        assert!(probe.headers().contains_key("access-control-allow-origin"));

        let mut g = c.benchmark_group(format!("origins={n}"));
        g.bench_function("preflight/exact/cors-gateway", |b| {
            b.iter(|| {
                answer(
                    black_box(&policy),
                    "OPTIONS",
                    "/api/orders",
                    black_box(&pre_exact),
                )
            })
        });
        g.bench_function("preflight/exact/tower-http", |b| {
            // The request is cloned outside the measurement: tower-http takes it
            // by value, our engine borrows it.
            b.iter_batched(
                || req.clone(),
                |r| {
                    let mut fut = pin!(svc.call(r));
                    match fut.as_mut().poll(&mut cx) {
                        Poll::Ready(Ok(resp)) => resp.headers().len(),
                        _ => unreachable!(),
                    }
                },
                criterion::BatchSize::SmallInput,
            )
        });
        g.bench_function("preflight/subdomain/cors-gateway", |b| {
            b.iter(|| {
                answer(
                    black_box(&policy),
                    "OPTIONS",
                    "/api/orders",
                    black_box(&pre_sub),
                )
            })
        });
        g.bench_function("preflight/exact/compiled", |b| {
            b.iter(|| {
                answer(
                    black_box(&from_bin),
                    "OPTIONS",
                    "/api/orders",
                    black_box(&pre_exact),
                )
            })
        });
        g.bench_function("preflight/subdomain/compiled", |b| {
            b.iter(|| {
                answer(
                    black_box(&from_bin),
                    "OPTIONS",
                    "/api/orders",
                    black_box(&pre_sub),
                )
            })
        });
        g.bench_function("actual/exact/cors-gateway", |b| {
            b.iter(|| {
                answer(
                    black_box(&policy),
                    "POST",
                    "/api/orders?id=7",
                    black_box(&act_exact),
                )
            })
        });
        g.bench_function("actual/subdomain/cors-gateway", |b| {
            b.iter(|| {
                answer(
                    black_box(&policy),
                    "POST",
                    "/api/orders?id=7",
                    black_box(&act_sub),
                )
            })
        });
        g.finish();
    }
}

/// The inner service of the tower-http stack: never reached by a preflight.
#[derive(Clone)]
struct Unreachable;

impl Service<http::Request<()>> for Unreachable {
    type Response = http::Response<()>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, _: http::Request<()>) -> Self::Future {
        std::future::ready(Ok(http::Response::new(())))
    }
}

/// tower-http configured as its users would for the same policy: the exact
/// origins as a list; the subdomain patterns cannot be expressed without a
/// predicate, so the peer is given the exact origins only (its best case).
fn tower_layer(n: usize) -> CorsLayer {
    use http::{header, HeaderValue, Method};
    let origins: Vec<HeaderValue> = exact_origins(n)
        .iter()
        .map(|o| HeaderValue::from_str(o).expect("valid header value"))
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::HeaderName::from_static("x-trace-id"),
        ])
        .expose_headers([header::HeaderName::from_static("x-request-id")])
        .allow_credentials(true)
        .max_age(std::time::Duration::from_secs(600))
}

fn http_request(origin: &str) -> http::Request<()> {
    let mut req = http::Request::builder()
        .method("OPTIONS")
        .uri("/api/orders");
    for (n, v) in preflight_headers(origin) {
        req = req.header(n, v);
    }
    req.body(()).expect("valid request")
}

/// A 60 KB hostile `Origin` next to a normal one, in one group: the
/// hostile one is refused before any per-byte work, so both cost about the
/// same however long the value is.
fn bench_hostile_origin(c: &mut Criterion) {
    let policy = Policy::from_json(&policy_json(10)).expect("policy");
    let normal = subdomain_origin(10);
    let mut g = c.benchmark_group("hostile-origin");
    for (name, origin) in [
        ("normal", normal),
        ("300-bytes", common::hostile_origin(300)),
        ("60-kb", common::hostile_origin(60 * 1024)),
    ] {
        let headers = preflight_headers(&origin);
        g.bench_function(format!("preflight/{name}"), |b| {
            b.iter(|| answer(&policy, "OPTIONS", "/api/orders", black_box(&headers)))
        });
    }
    g.finish();
}

criterion_group!(benches, bench_all, bench_hostile_origin);
criterion_main!(benches);
