//! A load run with a live policy: thousands of mixed requests at a
//! concurrency of 64 through `wasmtime serve`, while the policy file flips
//! between two versions every few milliseconds. Every response must be
//! explained by exactly one complete version; no errors but the intended ones.
//! The figures are printed (not asserted: this is a correctness run).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use testkit::upstream::sha256_hex;
use testkit::{Gateway, Response, Upstream};

const REQUESTS: usize = 4000;
const CONCURRENCY: usize = 64;

fn version(up: &str, tag: &str, max_age: u32) -> String {
    format!(
        r#"{{"version":1,"cors":{{"allow_origins":["https://{tag}.example"],"allow_methods":["GET","PUT"],
           "allow_headers":["content-type"],"expose_headers":["x-version-{tag}"],"max_age_secs":{max_age}}},
           "routes":[{{"name":"api","path_prefix":"/api/","upstream":"{up}"}}]}}"#
    )
}

#[derive(Clone, Copy, Debug)]
enum Shape {
    Preflight(&'static str),
    Actual(&'static str),
    NoOrigin,
    Stranger,
    Health,
}

fn shape(i: usize) -> Shape {
    match i % 8 {
        0 | 1 => Shape::Preflight(if i % 16 < 8 { "a" } else { "b" }),
        2..=4 => Shape::Actual(if i % 3 == 0 { "a" } else { "b" }),
        5 => Shape::NoOrigin,
        6 => Shape::Stranger,
        _ => Shape::Health,
    }
}

/// Which versions ("a", "b") explain this response; empty = inconsistent.
fn explained_by(shape: Shape, r: &Response, sha: &[(String, &'static str)]) -> Vec<&'static str> {
    let cors = r.cors();
    let get = |k: &str| cors.get(k).map(String::as_str);
    let mut out = Vec::new();
    for v in ["a", "b"] {
        let ok = match shape {
            Shape::Preflight(o) if o == v => {
                r.status == 204
                    && get("access-control-allow-origin") == Some(&*format!("https://{o}.example"))
                    && get("access-control-max-age") == Some(if v == "a" { "601" } else { "602" })
                    && get("access-control-allow-methods") == Some("GET, PUT")
            }
            Shape::Preflight(_) => r.status == 403 && get("access-control-allow-origin").is_none(),
            Shape::Actual(o) if o == v => {
                r.status == 200
                    && get("access-control-allow-origin") == Some(&*format!("https://{o}.example"))
                    && get("access-control-expose-headers") == Some(&*format!("x-version-{v}"))
                    && get("vary") == Some("Accept-Encoding, Origin")
            }
            Shape::Actual(_) | Shape::Stranger => {
                r.status == 403 && cors.keys().all(|k| !k.starts_with("access-control-"))
            }
            Shape::NoOrigin => {
                r.status == 200
                    && get("vary") == Some("Accept-Encoding, Origin")
                    && cors.keys().all(|k| !k.starts_with("access-control-"))
            }
            Shape::Health => {
                r.status == 200
                    && sha.iter().any(|(h, tag)| {
                        *tag == v && r.json()["policy"]["sha256"].as_str() == Some(h.as_str())
                    })
            }
        };
        if ok {
            out.push(v);
        }
    }
    out
}

fn run(reuse: Option<u32>) {
    let up = Upstream::start();
    let (a, b) = (version(&up.url(), "a", 601), version(&up.url(), "b", 602));
    let shas = vec![
        (sha256_hex(a.as_bytes()), "a"),
        (sha256_hex(b.as_bytes()), "b"),
    ];
    let mut builder = Gateway::builder().policy(a.clone());
    if let Some(n) = reuse {
        builder = builder.reuse(n);
    }
    let gw = Arc::new(builder.start());

    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (gw, done, a, b) = (gw.clone(), done.clone(), a.clone(), b.clone());
        std::thread::spawn(move || {
            let mut n = 0u32;
            while !done.load(Ordering::Relaxed) {
                gw.write_policy(if n % 2 == 0 { &b } else { &a });
                n += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            n
        })
    };

    let addr = gw.addr;
    let start = Instant::now();
    let results = testkit::client::runtime().block_on(async move {
        let mut tasks = Vec::new();
        for w in 0..CONCURRENCY {
            tasks.push(testkit::tokio::spawn(async move {
                let mut out = Vec::new();
                for i in (w..REQUESTS).step_by(CONCURRENCY) {
                    let s = shape(i);
                    let (method, path, headers): (&str, &str, Vec<(&str, String)>) = match s {
                        Shape::Preflight(o) => (
                            "OPTIONS",
                            "/api/x",
                            vec![
                                ("origin", format!("https://{o}.example")),
                                ("access-control-request-method", "PUT".into()),
                                ("access-control-request-headers", "content-type".into()),
                            ],
                        ),
                        Shape::Actual(o) => (
                            "GET",
                            "/api/x",
                            vec![("origin", format!("https://{o}.example"))],
                        ),
                        Shape::NoOrigin => ("GET", "/api/x", vec![]),
                        Shape::Stranger => (
                            "GET",
                            "/api/x",
                            vec![("origin", "https://stranger.example".into())],
                        ),
                        Shape::Health => ("GET", "/.well-known/cors-gateway/health", vec![]),
                    };
                    let h: Vec<(&str, &str)> =
                        headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
                    let r = testkit::client::send_async(addr, method, path, &h, Vec::new()).await;
                    out.push((s, r.map_err(|e| e.to_string())));
                }
                out
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("worker"));
        }
        all
    });
    let elapsed = start.elapsed();
    done.store(true, Ordering::Relaxed);
    let rewrites = writer.join().expect("writer");

    let mut errors = Vec::new();
    let mut by_version = [0usize; 2];
    for (s, r) in &results {
        match r {
            Err(e) => errors.push(format!("{s:?}: transport error {e}")),
            Ok(r) => {
                let v = explained_by(*s, r, &shas);
                if v.is_empty() {
                    errors.push(format!("{s:?}: {} {:?} {}", r.status, r.cors(), r.text()));
                }
                if v.len() == 1 {
                    by_version[usize::from(v[0] == "b")] += 1;
                }
            }
        }
    }
    eprintln!(
        "load run (reuse={reuse:?}): {} requests at concurrency {CONCURRENCY} in {:.2}s = {:.0} req/s; \
         {rewrites} policy rewrites; version-specific answers: a={} b={}; inconsistent or failed: {}",
        results.len(),
        elapsed.as_secs_f64(),
        results.len() as f64 / elapsed.as_secs_f64(),
        by_version[0],
        by_version[1],
        errors.len()
    );
    assert_eq!(results.len(), REQUESTS);
    assert!(
        errors.is_empty(),
        "{} bad responses, first ones:\n{}",
        errors.len(),
        errors[..errors.len().min(10)].join("\n")
    );
    assert!(
        by_version[0] > 0 && by_version[1] > 0,
        "both versions must have been served"
    );
    assert!(!gw.logs().contains("panicked"), "{}", gw.logs());
}

#[test]
fn load_with_live_policy_rewrites() {
    run(None);
}

#[test]
fn load_with_live_policy_rewrites_and_instance_reuse() {
    run(Some(1000));
}
