//! Policies and requests shared by the core benchmarks.
//!
//! A policy of `n` origins mixes exact origins (9 in 10) with subdomain
//! patterns (1 in 10), as a large multi-tenant deployment would.

#![allow(dead_code)] // each bench binary uses a subset

pub const SIZES: [usize; 4] = [10, 100, 1_000, 10_000];

/// The `i`-th origin entry of a generated policy.
pub fn entry(i: usize) -> String {
    if i % 10 == 9 {
        format!("https://*.tenant{i}.example.net")
    } else {
        format!("https://app{i}.example.com")
    }
}

/// An exact origin in the middle of the list, and a request origin matched by
/// a subdomain pattern in the middle of the list.
pub fn exact_origin(n: usize) -> String {
    let i = (n / 2) / 10 * 10; // i % 10 == 0: an exact entry
    format!("https://app{i}.example.com")
}

pub fn subdomain_origin(n: usize) -> String {
    let i = (n / 2) / 10 * 10 + 9;
    format!("https://eu.api.tenant{i}.example.net")
}

/// A version-1 policy with `n` origins and one route.
pub fn policy_json(n: usize) -> String {
    let origins: Vec<String> = (0..n).map(entry).collect();
    serde_json::json!({
        "version": 1,
        "cors": {
            "allow_origins": origins,
            "allow_methods": ["GET", "POST", "PUT", "DELETE"],
            "allow_headers": ["content-type", "authorization", "x-trace-id"],
            "expose_headers": ["x-request-id"],
            "allow_credentials": true,
            "max_age_secs": 600
        },
        "routes": [
            {"name": "api", "path_prefix": "/api/", "upstream": "http://127.0.0.1:8081"}
        ]
    })
    .to_string()
}

/// The exact origins of `policy_json(n)` (what a list-based peer is given).
pub fn exact_origins(n: usize) -> Vec<String> {
    (0..n).filter(|i| i % 10 != 9).map(entry).collect()
}

/// A hostile `Origin` of about `len` bytes: many labels under a domain the
/// policy's `*.` patterns cover, the shape that made every suffix a lookup.
pub fn hostile_origin(len: usize) -> String {
    format!("https://{}tenant9.example.net", "a.".repeat(len / 2))
}
