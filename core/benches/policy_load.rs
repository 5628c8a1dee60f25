//! What a host without instance reuse pays on every request: parsing,
//! validating and compiling the policy (`Policy::from_json`), and loading its
//! compiled form (`compiled::load`, what `cors-gateway compile` writes), for
//! policies of 10 to 10,000 origins, next to one decision as the baseline of
//! the same run.
//!
//! Run: `cargo bench -p cors-gateway-core --bench policy_load`

mod common;

use common::{exact_origin, policy_json, SIZES};
use cors_gateway_core::{compiled, decide, Policy, RequestView};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn bench_load(c: &mut Criterion) {
    let mut g = c.benchmark_group("policy_load");
    for n in SIZES {
        let json = policy_json(n);
        g.throughput(Throughput::Bytes(json.len() as u64));
        g.bench_with_input(BenchmarkId::new("from_json", n), &json, |b, json| {
            b.iter(|| Policy::from_json(black_box(json)).map(|p| p.routes.len()))
        });
        // Shared bytes, as the component holds the file it read: not copied.
        let bin: std::sync::Arc<Vec<u8>> = compiled::compile(&json, [0; 32])
            .expect("generated policy is valid")
            .into();
        g.throughput(Throughput::Bytes(bin.len() as u64));
        g.bench_with_input(BenchmarkId::new("compiled", n), &bin, |b, bin| {
            b.iter(|| compiled::load(black_box(bin.clone())).map(|p| p.routes.len()))
        });
    }
    g.finish();

    // Baseline of the same run: one preflight decision on the largest policy.
    let n = SIZES[SIZES.len() - 1];
    let policy = Policy::from_json(&policy_json(n)).expect("generated policy is valid");
    let origin = exact_origin(n);
    let headers = [
        ("origin", origin.as_str()),
        ("access-control-request-method", "POST"),
    ];
    c.bench_function("policy_load/baseline_one_preflight_decision", |b| {
        b.iter(|| {
            let mut scratch = Vec::new();
            let view =
                RequestView::from_headers("OPTIONS", "/api/x", black_box(&headers), &mut scratch);
            decide(black_box(&policy), &view).headers().count()
        })
    });
}

criterion_group!(benches, bench_load);
criterion_main!(benches);
