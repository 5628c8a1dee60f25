//! Property tests: no origin outside a pattern's language is ever allowed, and
//! nothing from the request reaches a response header unless it was validated.
//!
//! Each property compares the engine with a reference predicate written from
//! the pattern language as the README's policy reference words it, independently of the engine's parser.

use cors_gateway_core::{decide, OriginHeader, Policy, RequestView, StatusCode};
use proptest::prelude::*;

const POLICY: &str = r#"{
  "version": 1,
  "cors": {
    "allow_origins": ["https://app.example.com", "https://*.example.com", "http://localhost:*",
                      "https://*.dev.example.org:8443"],
    "allow_methods": ["GET", "PUT"],
    "allow_headers": ["content-type", "x-trace"],
    "allow_credentials": true
  },
  "routes": [
    {"name": "api", "path_prefix": "/api/", "upstream": "https://api.internal"},
    {"name": "pub", "path_prefix": "/pub/", "upstream": "https://cdn.internal",
     "cors": {"allow_origins": ["*"], "allow_credentials": false}}
  ]
}"#;

fn policy() -> Policy {
    Policy::from_json(POLICY).expect("policy")
}

/// The same policy in its compiled form (`cors-gateway compile`).
fn compiled_policy() -> Policy {
    let bin = cors_gateway_core::compiled::compile(POLICY, [0; 32]).expect("compile");
    cors_gateway_core::compiled::load(bin).expect("load compiled")
}

fn is_label(l: &str) -> bool {
    !l.is_empty()
        && l.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_')
}

fn is_port(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 5
        && p.bytes().all(|c| c.is_ascii_digit())
        && (p == "0" || !p.starts_with('0'))
        && p.parse::<u32>().is_ok_and(|n| n <= 65535)
}

/// The documented pattern language of the policy above, as plain string rules.
fn reference_allows(origin: &str) -> bool {
    if origin == "https://app.example.com" {
        return true;
    }
    // https://*.example.com: one or more labels, then ".example.com", no port.
    if let Some(sub) = origin
        .strip_prefix("https://")
        .and_then(|r| r.strip_suffix(".example.com"))
    {
        if sub.split('.').all(is_label) {
            return true;
        }
    }
    // http://localhost:* : any explicit canonical port except the default.
    if let Some(p) = origin.strip_prefix("http://localhost:") {
        return is_port(p) && p != "80";
    }
    if let Some(sub) = origin
        .strip_prefix("https://")
        .and_then(|r| r.strip_suffix(".dev.example.org:8443"))
    {
        return sub.split('.').all(is_label);
    }
    false
}

fn decide_actual(
    p: &Policy,
    path: &str,
    origin: &[u8],
) -> (Option<StatusCode>, Option<String>, Option<String>) {
    let view = RequestView {
        method: "GET",
        path,
        origin: OriginHeader::One(origin),
        request_method: None,
        request_headers: &[],
        request_private_network: false,
        host: None,
    };
    let d = decide(p, &view);
    let acao = d.grant.map(|g| g.allow_origin.to_string());
    (d.status(), acao, d.vary.map(str::to_string))
}

/// Mutations attackers use on an allowed origin.
const MUTATIONS: &[fn(String) -> String] = &[
    |s: String| s,
    |s: String| format!("{s}.evil.net"),
    |s: String| format!("{s}."),
    |s: String| format!("{s}/"),
    |s: String| format!("{s}:443"),
    |s: String| format!("{s}:8080"),
    |s: String| format!("{s}:0443"),
    |s: String| s.replace("example", "examp1e"),
    |s: String| s.replace(".example.com", "example.com"),
    |s: String| s.replace(".example.com", "-example.com"),
    |s: String| s.replace("example.com", "example.com.evil.net"),
    |s: String| s.replace("https://", "http://"),
    |s: String| s.replace("https://", "https://user@"),
    |s: String| s.replace("https://", "https://evil.net@"),
    |s: String| s.replace("://", "://evil.net#"),
    |s: String| s.to_uppercase(),
    |s: String| s.replacen('a', "A", 1),
    |s: String| format!(" {s}"),
    |s: String| format!("{s} "),
    |s: String| format!("{s}\t"),
    |s: String| s.replace('.', "%2e"),
    |s: String| s.replacen('e', "%65", 1),
    // IDN look-alikes: Cyrillic 'а' and 'е', and a punycode form.
    |s: String| s.replacen('a', "\u{0430}", 1),
    |s: String| s.replacen('e', "\u{0435}", 1),
    |s: String| s.replace("example", "xn--exmple-cua"),
    |s: String| s.replace("localhost", "localhost."),
    |s: String| s.replace("localhost", "127.0.0.1"),
    |s: String| s.replace("localhost:", "localhost:+"),
    |s: String| s.replace(".example.com", ".example.com\r\nx-evil: 1"),
    |s: String| s.replace("https://", "https:/"),
    |s: String| s.replace("https://", "https:///"),
    |s: String| s.replace("https://", ""),
];

/// Origins near the allowed ones: the tricks attackers use.
fn tricky_origin() -> impl Strategy<Value = String> {
    let base = prop_oneof![
        Just("https://app.example.com".to_string()),
        Just("https://a.example.com".to_string()),
        Just("https://a.b.example.com".to_string()),
        Just("http://localhost:3000".to_string()),
        Just("https://x.dev.example.org:8443".to_string()),
        "[a-z0-9-]{1,12}".prop_map(|l| format!("https://{l}.example.com")),
    ];
    let mutation = 0..MUTATIONS.len();
    (base, mutation.clone(), mutation).prop_map(|(b, m1, m2)| MUTATIONS[m2](MUTATIONS[m1](b)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    /// Allowed exactly when the documented pattern language says so, for tricky origins.
    #[test]
    fn tricky_origins_match_only_the_patterns_language(origin in tricky_origin()) {
        for p in [policy(), compiled_policy()] {
            let (action, acao, _) = decide_actual(&p, "/api/x", origin.as_bytes());
            let allowed = acao.is_some();
            prop_assert_eq!(allowed, reference_allows(&origin), "origin {:?}", origin);
            if !allowed {
                prop_assert_eq!(action, Some(StatusCode::FORBIDDEN));
            }
        }
    }

    /// The compiled form's sorted table matches exactly what the hashed set
    /// matches, for random pattern lists and origins over a small alphabet
    /// (so that near misses are common).
    #[test]
    fn sorted_table_matches_like_the_hashed_set(
        // Up to 48 patterns: several blocks of the front-coded table.
        patterns in proptest::collection::vec(
            ("https?", "(\\*\\.)?([ab]{1,2}\\.){0,2}[ab]{1,2}\\.?", "(|:80|:8080|:\\*)"), 0..48),
        origins in proptest::collection::vec(
            ("https?", "([ab]{1,2}\\.){0,3}[ab]{1,2}\\.?", "(|:80|:8080|:443|:0)"), 1..16),
    ) {
        use cors_gateway_core::compiled::OriginTable;
        use cors_gateway_core::origin::{parse_origin, parse_pattern, OriginSet};
        let parsed: Vec<_> = patterns
            .iter()
            .filter_map(|(s, h, p)| parse_pattern(&format!("{s}://{h}{p}")).ok())
            .collect();
        let hashed = OriginSet::from_patterns(parsed.clone());
        let keys = parsed.iter().filter_map(|p| p.table_key()).collect();
        let tabled = OriginSet::default().with_table(OriginTable::from_keys(keys));
        for (s, h, p) in &origins {
            let origin = format!("{s}://{h}{p}");
            let parts = parse_origin(&origin);
            prop_assert_eq!(
                hashed.matches(&origin, parts.as_ref()),
                tabled.matches(&origin, parts.as_ref()),
                "{:?} against {:?}", origin, patterns
            );
        }
    }

    /// A compiled table whose bytes are damaged (one byte of a valid table
    /// changed, or block offsets anywhere) never panics when searched: the
    /// checksum normally refuses such a file, but the decoder does not rely
    /// on it (the `compiled_load` fuzz target does the same, longer).
    #[test]
    fn damaged_tables_never_panic(
        hosts in proptest::collection::vec("[a-c]{1,3}(\\.[a-c]{1,3}){0,2}", 1..40),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        starts in proptest::collection::vec(any::<u32>(), 0..4),
    ) {
        use cors_gateway_core::compiled::OriginTable;
        use cors_gateway_core::origin::{parse_origin, OriginSet};
        use std::sync::Arc;
        let keys: Vec<String> = hosts.iter().map(|h| format!("https://{h}")).collect();
        let (s, d) = {
            let t = OriginTable::from_keys(keys.clone());
            let (s, d) = t.starts_and_data();
            (s.to_vec(), d.to_vec())
        };
        let mut damaged = [s.clone(), d.clone()].concat();
        let i = at.index(damaged.len());
        damaged[i] = byte;
        let mut offsets: Vec<u8> = starts.iter().flat_map(|o| (o % 64).to_le_bytes()).collect();
        offsets.extend_from_slice(&d);
        for (bytes, blocks) in [(damaged, s.len() / 4), (offsets, starts.len())] {
            let data_len = bytes.len() - blocks * 4;
            let Some(t) = OriginTable::in_place(Arc::new(bytes), keys.len(), 0, blocks, blocks * 4, data_len) else {
                continue;
            };
            let set = OriginSet::default().with_table(t);
            for h in hosts.iter().chain(["a.b.c", "zz"].iter().map(|s| s.to_string()).collect::<Vec<_>>().iter()) {
                let origin = format!("https://{h}");
                let _ = set.matches(&origin, parse_origin(&origin).as_ref());
            }
        }
    }

    /// Arbitrary bytes: never allowed outside the language, never a panic.
    #[test]
    fn arbitrary_origin_bytes(origin in proptest::collection::vec(any::<u8>(), 0..64)) {
        let p = policy();
        let (_, acao, _) = decide_actual(&p, "/api/x", &origin);
        prop_assert_eq!(&acao, &decide_actual(&compiled_policy(), "/api/x", &origin).1);
        if acao.is_some() {
            let s = std::str::from_utf8(&origin).expect("allowed origins are UTF-8");
            prop_assert!(reference_allows(s), "{:?}", s);
        }
    }

    /// Whatever the request carries, the only request value that can reach a
    /// response header is the origin, and only once validated: it is then
    /// canonical and safe as a header value. Any response that depends on the
    /// origin carries `Vary: Origin`.
    #[test]
    fn nothing_unvalidated_is_reflected(
        origin in prop_oneof![tricky_origin(), "\\PC{0,40}"],
        method in "[A-Za-z]{1,8}|\\PC{0,10}",
        headers in "\\PC{0,80}",
        path in prop_oneof![Just("/api/x".to_string()), Just("/pub/x".to_string()), "/\\PC{0,20}"],
    ) {
        let p = policy();
        let lines: [&[u8]; 1] = [headers.as_bytes()];
        let view = RequestView {
            method: "OPTIONS",
            path: &path,
            origin: OriginHeader::One(origin.as_bytes()),
            request_method: Some(method.as_bytes()),
            request_headers: &lines,
            request_private_network: false,
            host: None,
        };
        let d = decide(&p, &view);
        for (name, value) in d.headers() {
            prop_assert!(value.iter().all(|b| (0x20..0x7f).contains(b)), "{name}: {value:?}");
            let value = &*String::from_utf8_lossy(value);
            match name {
                "access-control-allow-origin" => {
                    prop_assert!(value == "*" || value == origin, "{value}");
                    if value != "*" {
                        prop_assert!(reference_allows(value), "{value}");
                        prop_assert!(d.vary.is_some_and(|v| v.contains("Origin")));
                    }
                }
                "access-control-allow-methods" => prop_assert!(value == "GET, PUT" || value == "GET, HEAD, POST"),
                "access-control-allow-headers" => prop_assert_eq!(value, "content-type, x-trace"),
                _ => {}
            }
        }
    }

    /// The loader's fast path for canonical exact origins gives exactly the
    /// general parser's answer, for near-canonical entries and for noise.
    #[test]
    fn pattern_fast_path_agrees_with_the_general_parser(
        entry in prop_oneof![
            tricky_origin(),
            "[a-z+]{1,5}://[a-zA-Z0-9.*:\\[\\]_-]{0,24}",
            "\\PC{0,40}",
        ],
    ) {
        use cors_gateway_core::origin::{parse_pattern, parse_pattern_general};
        prop_assert_eq!(parse_pattern(&entry), parse_pattern_general(&entry), "{:?}", entry);
    }

    /// The request-header list parser stays bounded and never panics.
    #[test]
    fn header_list_parser_total(lines in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..20)) {
        let refs: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
        let parsed: Option<Vec<&[u8]>> = cors_gateway_core::headers::parse_request_header_list(&refs)
            .ok()
            .map(Iterator::collect);
        if let Some(names) = parsed {
            prop_assert!(names.len() <= cors_gateway_core::headers::MAX_REQUEST_HEADER_NAMES);
            prop_assert!(names.iter().all(|n| cors_gateway_core::headers::is_token(n)));
        }
    }
}

/// The misconfiguration classes that the policy format makes impossible.
#[test]
fn classic_misconfigurations_cannot_be_written() {
    // Reflecting any origin: there is no such option; "*" is answered literally
    // and cannot be combined with credentials.
    let err = Policy::from_json(
        r#"{"version":1,"cors":{"allow_origins":["*"],"allow_credentials":true},"routes":[]}"#,
    )
    .unwrap_err();
    assert!(err
        .to_string()
        .contains("cannot be combined with credentials"));
    let p = policy();
    let (_, acao, vary) = decide_actual(&p, "/pub/x", b"https://attacker.test");
    assert_eq!(acao.as_deref(), Some("*"));
    assert_eq!(vary, None);
    // Unanchored suffix or prefix matching: bare domains, regexes and partial
    // wildcards are load errors, not guesses.
    for entry in [
        "example.com",
        ".example.com",
        "*.example.com",
        "https://*example.com",
        "https://example.*",
        "https://.*\\.example\\.com",
        "/^https:\\/\\/.*example\\.com$/",
    ] {
        let doc = format!(
            r#"{{"version":1,"cors":{{"allow_origins":[{}]}},"routes":[]}}"#,
            serde_json::Value::from(entry)
        );
        assert!(Policy::from_json(&doc).is_err(), "{entry} must be refused");
    }
    // `null` is never matched by a pattern: only listed literally, or by "*".
    let (_, acao, _) = decide_actual(&p, "/api/x", b"null");
    assert_eq!(acao, None);
    // Missing Vary: every origin-dependent answer varies on Origin.
    let (_, acao, vary) = decide_actual(&p, "/api/x", b"https://app.example.com");
    assert_eq!(acao.as_deref(), Some("https://app.example.com"));
    assert_eq!(vary.as_deref(), Some("Origin"));
}
