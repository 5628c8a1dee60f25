//! The decision path allocates nothing: a counting global allocator wraps
//! `RequestView::from_headers` + `decide` + rendering the answer's headers for
//! typical preflight and actual requests, on policies of 10 and 10,000 origins,
//! and prints the allocations per decision.

use cors_gateway_core::{decide, Policy, RequestView};

#[path = "../benches/common/mod.rs"]
mod common;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    // Per thread, so tests running in parallel do not count each other.
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> usize {
    ALLOCS.with(Cell::get)
}

/// The benchmarks' policy of `n` origins (9 in 10 exact, 1 in 10 patterns).
fn policy(n: usize) -> Policy {
    Policy::from_json(&common::policy_json(n)).expect("valid policy")
}

/// Allocations made by one decision, with the caller's header scratch buffer
/// already sized (the component reuses one per request).
fn allocations_per_decision(policy: &Policy, method: &str, headers: &[(&str, &str)]) -> usize {
    let (n, rendered) = allocations_at(policy, method, "/api/orders?id=7", headers);
    assert!(
        rendered > 0,
        "the request must be granted so the whole path runs"
    );
    n
}

/// Allocations of one decision on `path`, and the bytes of headers rendered.
fn allocations_at(
    policy: &Policy,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (usize, usize) {
    let mut scratch: Vec<&[u8]> = Vec::with_capacity(4);
    let before = allocs();
    let view = RequestView::from_headers(method, path, headers, &mut scratch);
    let d = decide(policy, &view);
    let rendered: usize = d.headers().map(|(n, v)| n.len() + v.len()).sum();
    (allocs() - before, rendered)
}

#[test]
fn hostile_inputs_do_not_allocate_either() {
    let long_labels = format!("https://{}tenant9.example.net", "a.".repeat(30 * 1024));
    let near_bound = format!("https://{}.tenant9.example.net", "a".repeat(63).repeat(3));
    let too_long_host = format!(
        "https://{}.tenant9.example.net",
        vec!["a".repeat(63); 4].join(".")
    );
    let long_path = format!("/api/{}", "x/".repeat(4096));
    let hostile_origins = [
        long_labels.as_str(),
        near_bound.as_str(),
        too_long_host.as_str(),
        "http://[::1]junk",
        "http://[::ffff:127.0.0.1]",
        "https://1.2.3",
        "https://APP.example.com",
        "null",
        "https://",
    ];
    let paths = [
        "/api/orders",
        "/api/..;/admin",
        "/api/%252e%252e/x",
        "/api/%c0%ae%c0%ae/x",
        "/api/%ef%bc%8f",
        "/api/a%2fb",
        long_path.as_str(),
    ];
    for n in [10, 10_000] {
        let p = policy(n);
        let compiled = cors_gateway_core::compiled::load(
            cors_gateway_core::compiled::compile(&common::policy_json(n), [0; 32])
                .expect("compile"),
        )
        .expect("load");
        for policy in [&p, &compiled] {
            for origin in hostile_origins {
                for path in paths {
                    for (method, extra) in [
                        ("OPTIONS", Some(("access-control-request-method", "PUT"))),
                        ("GET", None),
                    ] {
                        let mut headers = vec![("host", "api.example.com"), ("origin", origin)];
                        headers.extend(extra);
                        let (count, _) = allocations_at(policy, method, path, &headers);
                        assert_eq!(
                            count,
                            0,
                            "{method} {} with a {}-byte origin allocated ({n} origins)",
                            &path[..path.len().min(40)],
                            origin.len()
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn typical_decisions_do_not_allocate() {
    // The counter itself works: a boxed value is one allocation.
    let before = allocs();
    let boxed = std::hint::black_box(Box::new(7u64));
    assert_eq!(allocs() - before, 1);
    drop(boxed);
    for n in [10, 10_000] {
        let p = policy(n);
        let exact = format!("https://app{}.example.com", n / 2 / 10 * 10);
        let sub = format!("https://eu.tenant{}.example.net", n / 2 / 10 * 10 + 9);
        for origin in [&exact, &sub] {
            let preflight = [
                ("host", "api.example.com"),
                ("origin", origin.as_str()),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "content-type,x-trace-id"),
            ];
            let actual = [
                ("host", "api.example.com"),
                ("origin", origin.as_str()),
                ("content-type", "application/json"),
            ];
            let pre = allocations_per_decision(&p, "OPTIONS", &preflight);
            let act = allocations_per_decision(&p, "POST", &actual);
            println!(
                "{n:>6} origins, {origin}: preflight {pre} allocations, actual {act} allocations"
            );
            assert_eq!(
                pre, 0,
                "preflight decision allocated ({n} origins, {origin})"
            );
            assert_eq!(
                act, 0,
                "actual-request decision allocated ({n} origins, {origin})"
            );
        }
    }
}
