//! The compiled policy's origin table (`compiled::OriginTable`, hand-written
//! front- and back-coded blocks) against the `fst` crate's finite-state set,
//! holding the same keys, in the same run: the bytes each takes in the
//! compiled file (what a fresh instance reads and checksums) and the time of
//! one origin lookup (the same probes: the origin itself, `host:*`, and
//! `*.parent` for each parent domain), for 10,000 and 100,000 patterns of two
//! shapes: sequential tenants of one domain (`app1234.example.com`) and
//! random names under 200 domains.
//!
//! Run: `cargo bench -p cors-gateway-core --bench origin_table`

use cors_gateway_core::compiled::OriginTable;
use cors_gateway_core::origin::{parse_origin, parse_pattern, OriginParts, OriginSet};
use std::hint::black_box;
use std::time::Instant;

/// A pattern list of `n` entries: 9 in 10 exact origins, 1 in 10 `*.` patterns.
fn patterns(n: usize, random: bool) -> Vec<String> {
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut word = || {
        let mut w = String::new();
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut x = seed >> 16;
        for _ in 0..(6 + (x % 7) as usize) {
            x = x.wrapping_mul(31).wrapping_add(7);
            w.push((b'a' + (x % 26) as u8) as char);
            x /= 26;
        }
        w
    };
    (0..n)
        .map(|i| {
            let host = if random {
                format!("{}.{}-{}.com", word(), word(), i % 200)
            } else {
                format!("app{i}.example.com")
            };
            if i % 10 == 9 {
                format!("https://*.{host}")
            } else {
                format!("https://{host}")
            }
        })
        .collect()
}

/// Request origins: hits on exact entries, hits under `*.` entries, misses.
fn requests(keys: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, k) in keys.iter().enumerate().step_by(97) {
        match k.strip_prefix("https://*.") {
            Some(suffix) => out.push(format!("https://eu.api.{suffix}")),
            None => out.push(k.clone()),
        }
        out.push(format!("https://nope{i}.example.org"));
    }
    out
}

/// A key in the table's form: the host's labels reversed.
fn table_form(key: &str) -> String {
    let (scheme, rest) = key.split_once("://").unwrap();
    let end = rest.find(':').unwrap_or(rest.len());
    let (host, tail) = rest.split_at(end);
    let host: Vec<&str> = host.rsplit('.').collect();
    format!("{scheme}://{}{tail}", host.join("."))
}

/// The same probes as `OriginTable`'s matcher, on an `fst::Set`, building
/// each key in a stack buffer.
fn fst_matches(set: &fst::Set<Vec<u8>>, origin: &str, parts: &OriginParts<'_>) -> bool {
    let mut buf = [0u8; 600];
    let mut rev = [0u8; 254];
    let host = parts.host.as_bytes();
    let mut at = 0;
    for (i, label) in host.rsplit(|&c| c == b'.').enumerate() {
        if i > 0 {
            rev[at] = b'.';
            at += 1;
        }
        rev[at..at + label.len()].copy_from_slice(label);
        at += label.len();
    }
    let tail = &origin.as_bytes()[parts.scheme.len() + 3 + host.len()..];
    let mut probe = |pieces: &[&[u8]]| {
        let mut n = 0;
        for p in pieces {
            buf[n..n + p.len()].copy_from_slice(p);
            n += p.len();
        }
        set.contains(&buf[..n])
    };
    let scheme = parts.scheme.as_bytes();
    if probe(&[scheme, b"://", &rev[..at], tail]) {
        return true;
    }
    if parts.port.is_some() && probe(&[scheme, b"://", &rev[..at], b":*"]) {
        return true;
    }
    for (i, _) in parts.host.match_indices('.') {
        let suffix = &rev[..host.len() - i - 1];
        let hit = if tail.is_empty() {
            probe(&[scheme, b"://", suffix, b".*"])
        } else {
            probe(&[scheme, b"://", suffix, b".*", tail])
                || probe(&[scheme, b"://", suffix, b".*:*"])
        };
        if hit {
            return true;
        }
    }
    false
}

/// The fastest of `rounds` passes over `reqs`, in ns per lookup.
fn time(
    rounds: usize,
    reqs: &[(String, OriginParts<'_>)],
    mut f: impl FnMut(&str, &OriginParts<'_>) -> bool,
) -> (f64, usize) {
    let mut best = f64::MAX;
    let mut hits = 0;
    for _ in 0..rounds {
        let start = Instant::now();
        hits = 0;
        for _ in 0..20 {
            for (o, p) in reqs {
                hits += usize::from(f(black_box(o), black_box(p)));
            }
        }
        let ns = start.elapsed().as_nanos() as f64 / (20 * reqs.len()) as f64;
        best = best.min(ns);
    }
    (best, hits)
}

fn main() {
    // `cargo test --benches` runs this with `--bench` absent: keep it short.
    let quick = !std::env::args().any(|a| a == "--bench");
    let rounds = if quick { 1 } else { 15 };
    println!(
        "{:<12} {:>8} {:>12} {:>12} {:>10} {:>10} {:>10} {:>10}",
        "shape",
        "patterns",
        "keys bytes",
        "table bytes",
        "fst bytes",
        "table ns",
        "fst ns",
        "hashed ns"
    );
    let sizes: &[usize] = if quick { &[1_000] } else { &[10_000, 100_000] };
    for &random in &[false, true] {
        for &n in sizes {
            let keys = patterns(n, random);
            let raw: usize = keys.iter().map(|k| k.len() + 4).sum();
            let table = OriginTable::from_keys(keys.clone());
            let (starts, data) = table.starts_and_data();
            let table_bytes = starts.len() + data.len();
            let tabled = OriginSet::default().with_table(table);
            let mut sorted: Vec<String> = keys.iter().map(|k| table_form(k)).collect();
            sorted.sort();
            sorted.dedup();
            let fst = fst::Set::from_iter(sorted.iter()).expect("sorted keys");
            let fst_bytes = fst.as_fst().as_bytes().len();
            let hashed = OriginSet::from_patterns(keys.iter().map(|k| parse_pattern(k).unwrap()));
            let texts = requests(&keys);
            let reqs: Vec<(String, OriginParts<'_>)> = texts
                .iter()
                .map(|o| (o.clone(), parse_origin(o).expect("canonical")))
                .collect();
            let (t_ns, t_hits) = time(rounds, &reqs, |o, p| tabled.matches(o, Some(p)).is_some());
            let (f_ns, f_hits) = time(rounds, &reqs, |o, p| fst_matches(&fst, o, p));
            let (h_ns, h_hits) = time(rounds, &reqs, |o, p| hashed.matches(o, Some(p)).is_some());
            assert_eq!((t_hits, f_hits), (h_hits, h_hits), "the three must agree");
            println!(
                "{:<12} {:>8} {:>12} {:>12} {:>10} {:>10.0} {:>10.0} {:>10.0}",
                if random { "random" } else { "sequential" },
                n,
                raw,
                table_bytes,
                fst_bytes,
                t_ns,
                f_ns,
                h_ns
            );
        }
    }
}
