//! Path → route → forwarded path, on arbitrary request targets. Invariant:
//! whenever the gateway forwards, every normalisation an upstream may apply
//! to the path it receives (merging slashes, percent-decoding once or twice,
//! dropping `;` parameters, `\` as `/`, resolving dot segments, folding case
//! or Unicode look-alikes, decoding `%2f`, and their combination) selects the
//! same route as the one whose policy was applied. The normalisations are
//! written here, independently of the gateway's path module.
#![no_main]

use cors_gateway_core::decision::upstream_path;
use cors_gateway_core::path::Target;
use cors_gateway_core::{decide, Action, OriginHeader, Policy, RequestView, Would};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const POLICY: &str = r#"{"version":1,
 "cors":{"allow_origins":["*"]},
 "routes":[
  {"name":"orders","path_prefix":"/orders/","upstream":"http://u.test"},
  {"name":"legacy","path_prefix":"/legacy/","upstream":"http://u.test"},
  {"name":"projects","path_prefix":"/projects/","upstream":"http://u.test","allow_encoded_slashes":true},
  {"name":"v1","path_prefix":"/Api/v1/","upstream":"http://u.test"},
  {"name":"admin","path_prefix":"/api/v1/admin/","upstream":"http://u.test"},
  {"name":"short","path_prefix":"/a","upstream":"http://u.test"},
  {"name":"site","path_prefix":"/","upstream":"http://u.test"}]}"#;

fn policy() -> &'static Policy {
    static P: OnceLock<Policy> = OnceLock::new();
    P.get_or_init(|| Policy::from_json(POLICY).expect("fuzz policy"))
}

/// The byte a valid `%XX` at `b[i]` encodes.
fn escape_at(b: &[u8], i: usize) -> Option<u8> {
    let hex = b.get(i + 1..i + 3)?;
    (b[i] == b'%')
        .then(|| std::str::from_utf8(hex).ok().and_then(|h| u8::from_str_radix(h, 16).ok()))
        .flatten()
}

/// Decodes the escapes whose byte `keep` selects; the rest is copied.
fn decode_where(s: &str, keep: impl Fn(u8) -> bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match escape_at(b, i) {
            Some(v) if keep(v) => {
                out.push(v);
                i += 3;
            }
            _ => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn decode(s: &str, only_slash: bool) -> String {
    decode_where(s, |v| !only_slash || v == b'/')
}

fn decode_unreserved(s: &str) -> String {
    decode_where(s, |v| v.is_ascii_alphanumeric() || b"-._~".contains(&v))
}

fn merge_slashes(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if !(c == '/' && out.ends_with('/')) {
            out.push(c);
        }
    }
    out
}

fn drop_params(s: &str) -> String {
    s.split('/')
        .map(|seg| seg.split(';').next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("/")
}

/// RFC 3986 §5.2.4, on segments.
fn remove_dots(s: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segs: Vec<&str> = s.split('/').collect();
    for (i, seg) in segs.iter().enumerate() {
        match *seg {
            "." => {
                if i == segs.len() - 1 {
                    out.push("");
                }
            }
            ".." => {
                if out.len() > 1 {
                    out.pop();
                }
                if i == segs.len() - 1 {
                    out.push("");
                }
            }
            x => out.push(x),
        }
    }
    let r = out.join("/");
    if r.starts_with('/') {
        r
    } else {
        format!("/{r}")
    }
}

fn fold_look_alikes(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{2024}' | '\u{FE52}' | '\u{FF0E}' => '.',
            '\u{2044}' | '\u{2215}' | '\u{FF0F}' => '/',
            '\u{2216}' | '\u{29F5}' | '\u{FE68}' | '\u{FF3C}' => '\\',
            c => c,
        })
        .collect()
}

fn normalisations(p: &str) -> Vec<(&'static str, String)> {
    let once = decode(p, false);
    let twice = decode(&once, false);
    let worst = merge_slashes(&remove_dots(&drop_params(
        &fold_look_alikes(&twice).replace('\\', "/"),
    )));
    vec![
        ("merge-slashes", merge_slashes(p)),
        ("decode-unreserved", decode_unreserved(p)),
        ("decode-once", once.clone()),
        ("decode-twice", twice),
        ("drop-params", drop_params(p)),
        ("backslash", p.replace('\\', "/")),
        ("dots", remove_dots(p)),
        ("lowercase", p.to_ascii_lowercase()),
        ("decode-slashes", decode(p, true)),
        ("decode-then-dots", remove_dots(&once)),
        ("look-alikes", fold_look_alikes(&once)),
        ("all", worst),
    ]
}

fuzz_target!(|data: &[u8]| {
    let Ok(target) = std::str::from_utf8(data) else {
        return;
    };
    if !target.starts_with('/') || target.len() > 4096 {
        return;
    }
    let policy = policy();
    let t = Target::parse(target);
    let view = RequestView {
        method: "POST",
        path: &t.path,
        origin: OriginHeader::One(b"https://evil.test"),
        request_method: None,
        request_headers: &[],
        request_private_network: false,
        host: None,
    };
    let d = decide(policy, &view);
    let (Action::Forward(route)
    | Action::ReportOnly {
        route,
        would: Would::Forward,
    }) = d.action
    else {
        return;
    };
    let forwarded = upstream_path(route, &t.path, t.query);
    let path = forwarded.split('?').next().unwrap_or("");
    for (name, n) in normalisations(path) {
        let again = policy.route_for(&n).map(|r| r.name.as_str());
        assert_eq!(
            again,
            Some(route.name.as_str()),
            "{target:?} was routed to {} and forwarded as {forwarded:?}, which {name} turns into {n:?}",
            route.name
        );
    }
});
