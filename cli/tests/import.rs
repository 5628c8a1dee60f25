//! `cors-gateway import` as a user runs it: snapshots of its output for the
//! well-known recipes of every format, the imported policies loaded by the
//! gateway's own loader, and equivalence: for a grid of origins, methods,
//! request headers and credentials, what a browser allows through the
//! imported policy (`cors_gateway_core::decide`) matches what it allowed
//! through the source configuration, except where a finding says the import
//! deliberately differs. For S3, GCS, API Gateway and the `cors` package the
//! source side is a reference model of the format's documented behaviour,
//! written here apart from the importer; for Apache and nginx it is the real
//! server (Debian's apache2 and nginx), serving the example on loopback.
//!
//! Snapshots live in cli/tests/snapshots/import-*.txt; after an intended
//! change, `UPDATE_SNAPSHOTS=1 cargo test -p cors-gateway-cli --test import`.

use cors_gateway_core::{decide, Policy, RequestView};
use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

mod common;
use common::{root, snapshot};

/// Runs `cors-gateway import`; (exit code, stdout, the written policy).
fn import(from: &str, file: &str, upstream: Option<&str>) -> (i32, String, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("policy.json");
    let mut args = vec!["import", "--from", from, file, "-o", out.to_str().unwrap()];
    if let Some(u) = upstream {
        args.extend(["--upstream", u]);
    }
    let o = Command::new(env!("CARGO_BIN_EXE_cors-gateway"))
        .args(&args)
        .current_dir(root())
        .output()
        .expect("run cors-gateway");
    let stdout = String::from_utf8_lossy(&o.stdout).replace(out.to_str().unwrap(), "policy.json");
    let policy = std::fs::read_to_string(&out).unwrap_or_default();
    (o.status.code().unwrap_or(-1), stdout, policy)
}

/// (format, fixture, upstream) for every example.
const EXAMPLES: [(&str, &str, Option<&str>); 20] = [
    (
        "apache",
        "apache-header-add.htaccess",
        Some("https://api.internal.example"),
    ),
    (
        "apache",
        "apache-setenvif.conf",
        Some("https://api.internal.example"),
    ),
    (
        "apache",
        "apache-anchored.conf",
        Some("https://api.internal.example"),
    ),
    (
        "nginx",
        "nginx-wide-open.conf",
        Some("http://127.0.0.1:8080"),
    ),
    ("nginx", "nginx-map.conf", None),
    (
        "s3",
        "s3-aws-example.json",
        Some("https://examplebucket.s3.amazonaws.com"),
    ),
    (
        "s3",
        "s3-aws-example.json",
        Some("http://examplebucket.s3-website-us-east-1.amazonaws.com"),
    ),
    (
        "s3",
        "s3-rules.json",
        Some("https://uploads.s3.amazonaws.com"),
    ),
    (
        "gcs",
        "gcs-cors.json",
        Some("https://storage.googleapis.com/example-bucket"),
    ),
    (
        "gcs",
        "gcs-multi.json",
        Some("https://storage.googleapis.com/example-bucket"),
    ),
    (
        "apigateway",
        "apigateway-http-api.json",
        Some("https://abc123.execute-api.us-east-1.amazonaws.com"),
    ),
    (
        "apigateway",
        "apigateway-wildcard.json",
        Some("https://abc123.execute-api.us-east-1.amazonaws.com"),
    ),
    (
        "express",
        "express-default.json",
        Some("http://127.0.0.1:3000"),
    ),
    (
        "express",
        "express-single-origin.json",
        Some("http://127.0.0.1:3000"),
    ),
    (
        "express",
        "express-list.json",
        Some("https://shop.internal.example"),
    ),
    (
        "express",
        "express-reflect.json",
        Some("http://127.0.0.1:3000"),
    ),
    (
        "nginx",
        "nginx-map.conf",
        Some("https://api.internal.example"),
    ),
    ("s3", "s3-cloudformation.json", None),
    ("apache", "apache-sections.conf", None),
    ("nginx", "nginx-reflect.conf", None),
];

fn fixture(name: &str) -> String {
    format!("cli/tests/import/{name}")
}

fn snapshot_name(i: usize, file: &str) -> String {
    let stem = file.split('.').next().unwrap_or(file);
    // Two runs of one fixture with different upstreams get distinct names.
    let dup = EXAMPLES[..i].iter().any(|e| e.1 == file);
    if dup {
        format!("import-{stem}-{i}")
    } else {
        format!("import-{stem}")
    }
}

#[test]
fn snapshots_exit_codes_and_the_core_loader() {
    for (i, (from, file, upstream)) in EXAMPLES.iter().enumerate() {
        let (code, out, policy) = import(from, &fixture(file), *upstream);
        let warned = out.contains("  warning[");
        assert_eq!(
            code,
            i32::from(warned),
            "{file}: exit 1 exactly when there are warnings:\n{out}"
        );
        snapshot(
            &snapshot_name(i, file),
            &format!("{out}--- policy.json ---\n{policy}"),
        );
        if let Err(e) = Policy::from_json(&policy) {
            panic!("{file}: the imported policy does not load: {e}\n{policy}");
        }
        // And `check` agrees.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("p.json");
        std::fs::write(&p, &policy).unwrap();
        let c = Command::new(env!("CARGO_BIN_EXE_cors-gateway"))
            .args(["check", p.to_str().unwrap()])
            .output()
            .unwrap();
        assert_ne!(c.status.code(), Some(2), "{file}: check refuses it");
    }
}

#[test]
fn usage_and_unreadable_sources() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_cors-gateway"))
            .args(args)
            .current_dir(root())
            .output()
            .unwrap()
    };
    assert_eq!(
        run(&["import", "--from", "iis", "x"]).status.code(),
        Some(64)
    );
    assert_eq!(
        run(&["import", "--from", "s3", "no/such/file.json"])
            .status
            .code(),
        Some(64)
    );
    assert_eq!(
        run(&[
            "import",
            "--from",
            "s3",
            &fixture("s3-rules.json"),
            "--upstream",
            "ftp://x"
        ])
        .status
        .code(),
        Some(64)
    );
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"CORSRules\": [").unwrap();
    let o = run(&["import", "--from", "s3", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stdout).contains("not valid JSON"));
    std::fs::write(&bad, "server {\n  location / {\n    add_header X 1;\n").unwrap();
    assert_eq!(
        run(&["import", "--from", "nginx", bad.to_str().unwrap()])
            .status
            .code(),
        Some(2)
    );
    // A clean source: exit 0, policy on stdout, findings on stderr.
    std::fs::write(&bad, "{\"AllowOrigins\": [\"https://app.example.com\"], \"AllowMethods\": [\"PUT\"], \"AllowHeaders\": [\"content-type\"], \"MaxAge\": 600}").unwrap();
    let o = run(&[
        "import",
        "--from",
        "apigateway",
        bad.to_str().unwrap(),
        "--upstream",
        "https://api.example.com",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    Policy::from_json(&String::from_utf8_lossy(&o.stdout)).expect("stdout is the policy");
    // Credentials on actual responses only: credentialed preflights failed at the source.
    std::fs::write(
        &bad,
        "location /api/ {\n  if ($request_method = OPTIONS) {\n    add_header Access-Control-Allow-Origin https://app.example.com;\n    return 204;\n  }\n  add_header Access-Control-Allow-Origin https://app.example.com always;\n  add_header Access-Control-Allow-Credentials true always;\n}\n",
    )
    .unwrap();
    let o = run(&["import", "--from", "nginx", bad.to_str().unwrap()]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("warning[credentials-preflight]"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // --format json: findings with code and line.
    let o = run(&[
        "import",
        "--from",
        "express",
        &fixture("express-reflect.json"),
        "--format",
        "json",
    ]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let f = v["findings"].as_array().unwrap();
    assert!(f
        .iter()
        .any(|x| x["code"] == "reflects-any-origin" && x["line"] == 2 && x["level"] == "warning"));
    assert_eq!(v["policy"]["routes"][0]["cors"]["allow_origins"][0], "*");
    assert!(v["policy"]["routes"][0]["cors"]
        .get("allow_credentials")
        .is_none());
}

// ---------------------------------------------------------------------------
// The browser, as Fetch's CORS check and CORS-preflight fetch define it.

#[derive(Clone, Debug)]
struct Case {
    origin: &'static str,
    method: &'static str,
    headers: &'static [&'static str],
    credentials: bool,
}

/// A response: status and header lines (names lower case).
#[derive(Clone, Debug, Default)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
}

impl Resp {
    fn all(&self, n: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
            .collect()
    }
    fn list(&self, n: &str) -> Vec<String> {
        self.all(n)
            .iter()
            .flat_map(|v| v.split(','))
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    }
}

fn needs_preflight(c: &Case) -> bool {
    !matches!(c.method, "GET" | "HEAD" | "POST") || !c.headers.is_empty()
}

fn cors_check(c: &Case, r: &Resp) -> bool {
    let acao = r.all("access-control-allow-origin");
    if acao.len() != 1 {
        return false;
    }
    let ok_origin = (acao[0] == "*" && !c.credentials) || acao[0] == c.origin;
    ok_origin && (!c.credentials || r.all("access-control-allow-credentials") == ["true"])
}

fn preflight_check(c: &Case, r: &Resp) -> bool {
    if !(200..300).contains(&r.status) || !cors_check(c, r) {
        return false;
    }
    let methods = r.list("access-control-allow-methods");
    let m_ok = matches!(c.method, "GET" | "HEAD" | "POST")
        || methods.iter().any(|m| m == c.method)
        || (!c.credentials && methods.iter().any(|m| m == "*"));
    let hs = r.list("access-control-allow-headers");
    let h_ok = c.headers.iter().all(|h| {
        hs.iter().any(|x| x.eq_ignore_ascii_case(h))
            || (!c.credentials && *h != "authorization" && hs.iter().any(|x| x == "*"))
    });
    m_ok && h_ok
}

/// What the page sees: allowed or blocked, given the server's preflight and
/// actual responses.
fn browser(c: &Case, preflight: impl FnOnce() -> Resp, actual: impl FnOnce() -> Resp) -> bool {
    if needs_preflight(c) && !preflight_check(c, &preflight()) {
        return false;
    }
    cors_check(c, &actual())
}

/// The gateway's answers through the core, for a request to `path`.
fn gateway(policy: &Policy, c: &Case, path: &str) -> bool {
    let pre = || {
        let mut h: Vec<(String, String)> = vec![
            ("origin".into(), c.origin.into()),
            ("access-control-request-method".into(), c.method.into()),
        ];
        if !c.headers.is_empty() {
            h.push(("access-control-request-headers".into(), c.headers.join(",")));
        }
        respond(policy, "OPTIONS", path, &h)
    };
    let act = || {
        respond(
            policy,
            c.method,
            path,
            &[("origin".into(), c.origin.into())],
        )
    };
    browser(c, pre, act)
}

fn respond(policy: &Policy, method: &str, path: &str, h: &[(String, String)]) -> Resp {
    let mut scratch = Vec::new();
    let view = RequestView::from_headers(method, path, h, &mut scratch);
    let d = decide(policy, &view);
    Resp {
        // A forwarded request: the upstream answers 200.
        status: d.status().map_or(200, |s| s.as_u16()),
        headers: d
            .headers()
            .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v).into_owned()))
            .collect(),
    }
}

const ORIGINS: [&str; 16] = [
    "https://app.example.com",
    "https://admin.example.com",
    "https://www.example.com",
    "https://example.com",
    "http://example.com",
    "http://www.example1.com",
    "https://a.example.org",
    "https://example.org",
    "https://evilexample.org",
    "https://partner.example.net",
    "https://shop.example3.com",
    "https://x.example2.com",
    "http://localhost:3000",
    "https://your-example-website.appspot.com",
    "https://evil.example",
    "null",
];
const METHODS: [&str; 6] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"];
const HEADERS: [&[&str]; 6] = [
    &[],
    &["content-type"],
    &["authorization"],
    &["x-requested-with"],
    &["x-amz-meta-a"],
    &["content-type", "x-api-key"],
];

fn grid() -> Vec<Case> {
    let mut v = Vec::new();
    for origin in ORIGINS {
        for method in METHODS {
            for headers in HEADERS {
                for credentials in [false, true] {
                    v.push(Case {
                        origin,
                        method,
                        headers,
                        credentials,
                    });
                }
            }
        }
    }
    v
}

/// An accepted difference: the finding that announces it and which cases it covers.
type Excuse = (&'static str, fn(&Case, bool) -> bool);

/// Gateway refuses, source allowed (the import narrowed).
fn narrower(_: &Case, gateway: bool) -> bool {
    !gateway
}
/// Gateway allows, source refused.
fn wider(_: &Case, gateway: bool) -> bool {
    gateway
}
fn safelisted(c: &Case, gateway: bool) -> bool {
    gateway && matches!(c.method, "GET" | "HEAD" | "POST")
}

/// Compares the imported policy with `source` over the grid; every difference
/// must be excused by a finding the import printed.
fn equivalence(
    name: &str,
    findings: &str,
    policy: &Policy,
    path: &str,
    excuses: &[Excuse],
    source: &mut dyn FnMut(&Case) -> bool,
) -> usize {
    let mut diffs = Vec::new();
    let (mut same, mut excused_n, mut source_allowed) = (0, 0, 0);
    for c in grid() {
        let g = gateway(policy, &c, path);
        let s = source(&c);
        source_allowed += usize::from(s);
        if g == s {
            same += 1;
            continue;
        }
        excused_n += 1;
        let excused = excuses
            .iter()
            .any(|(code, pred)| findings.contains(&format!("[{code}]")) && pred(&c, g));
        if !excused {
            diffs.push(format!("{c:?}: gateway {g}, source {s}"));
        } else if std::env::var_os("IMPORT_SHOW_EXCUSED").is_some() {
            eprintln!("  excused: {c:?}: gateway {g}, source {s}");
        }
    }
    assert!(
        diffs.is_empty(),
        "{name}: {} unexcused differences, e.g.:\n{}",
        diffs.len(),
        diffs[..diffs.len().min(12)].join("\n")
    );
    eprintln!("{name}: {same} cases agree, {excused_n} differ as findings say; the source allowed {source_allowed}");
    source_allowed
}

fn load(from: &str, file: &str, upstream: Option<&str>) -> (String, Policy) {
    let (_, out, policy) = import(from, &fixture(file), upstream);
    (
        out,
        Policy::from_json(&policy).unwrap_or_else(|e| panic!("{file}: {e}")),
    )
}

// ---------------------------------------------------------------------------
// Reference models of the JSON formats, from their documentation.

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// S3: an AllowedOrigins entry has at most one `*`, matching any characters;
/// AllowedHeaders entries likewise (case-insensitive); the first rule matching
/// origin, method (and, on a preflight, every requested header) answers, with
/// the request's origin, the rule's methods and the requested headers. No
/// credentials.
fn s3_glob(pattern: &str, s: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == s,
        Some((a, b)) => s.len() >= a.len() + b.len() && s.starts_with(a) && s.ends_with(b),
    }
}

fn s3_model(doc: &Value, c: &Case) -> bool {
    let rules = doc
        .as_array()
        .cloned()
        .or_else(|| doc["CORSRules"].as_array().cloned())
        .unwrap_or_default();
    let matching = |method: &str, headers: &[&str]| {
        rules
            .iter()
            .find(|r| {
                strs(&r["AllowedOrigins"])
                    .iter()
                    .any(|o| s3_glob(o, c.origin))
                    && strs(&r["AllowedMethods"]).iter().any(|m| m == method)
                    && headers.iter().all(|h| {
                        strs(&r["AllowedHeaders"])
                            .iter()
                            .any(|p| s3_glob(&p.to_ascii_lowercase(), h))
                    })
            })
            .cloned()
    };
    let answer = |r: Option<Value>, preflight: bool| -> Resp {
        let Some(r) = r else {
            return Resp {
                status: 403,
                headers: vec![],
            };
        };
        let mut h = vec![(
            "access-control-allow-origin".to_string(),
            c.origin.to_string(),
        )];
        if preflight {
            h.push((
                "access-control-allow-methods".into(),
                strs(&r["AllowedMethods"]).join(", "),
            ));
            if !c.headers.is_empty() {
                h.push(("access-control-allow-headers".into(), c.headers.join(", ")));
            }
        }
        Resp {
            status: 200,
            headers: h,
        }
    };
    browser(
        c,
        || answer(matching(c.method, c.headers), true),
        || answer(matching(c.method, &[]), false),
    )
}

/// Cloud Storage: origins match literally or `*`; methods literally or `*`;
/// a preflight's requested headers must be in responseHeader
/// (case-insensitive); the first entry matching origin and method answers.
fn gcs_model(doc: &Value, c: &Case) -> bool {
    let entries = doc.as_array().cloned().unwrap_or_default();
    let matching = |headers: &[&str]| {
        entries
            .iter()
            .find(|e| {
                strs(&e["origin"]).iter().any(|o| o == "*" || o == c.origin)
                    && strs(&e["method"]).iter().any(|m| m == "*" || m == c.method)
                    && headers.iter().all(|h| {
                        strs(&e["responseHeader"])
                            .iter()
                            .any(|x| x.eq_ignore_ascii_case(h))
                    })
            })
            .cloned()
    };
    let answer = |e: Option<Value>, preflight: bool| -> Resp {
        let Some(e) = e else {
            return Resp {
                status: 200,
                headers: vec![],
            };
        };
        let any = strs(&e["origin"]).iter().any(|o| o == "*");
        let mut h = vec![(
            "access-control-allow-origin".to_string(),
            if any {
                "*".into()
            } else {
                c.origin.to_string()
            },
        )];
        if preflight {
            h.push(("access-control-allow-methods".into(), c.method.into()));
            if !c.headers.is_empty() {
                h.push(("access-control-allow-headers".into(), c.headers.join(",")));
            }
        }
        Resp {
            status: 200,
            headers: h,
        }
    };
    browser(
        c,
        || answer(matching(c.headers), true),
        || answer(matching(&[]), false),
    )
}

/// API Gateway HTTP API: when the origin is in AllowOrigins (or it has `*`),
/// the configured lists are sent as they are; the browser judges them.
fn apigw_model(doc: &Value, c: &Case) -> bool {
    let cfg = doc.get("CorsConfiguration").unwrap_or(doc);
    let get = |k: &str| {
        cfg.as_object()
            .and_then(|o| {
                o.iter()
                    .find(|(x, _)| x.eq_ignore_ascii_case(k))
                    .map(|(_, v)| v.clone())
            })
            .unwrap_or(Value::Null)
    };
    let origins = strs(&get("AllowOrigins"));
    let creds = get("AllowCredentials") == Value::Bool(true);
    let allowed = origins.iter().any(|o| o == "*" || o == c.origin);
    let answer = |preflight: bool| -> Resp {
        if !allowed {
            return Resp {
                status: 204,
                headers: vec![],
            };
        }
        let acao = if origins.iter().any(|o| o == "*") && !creds {
            "*".to_string()
        } else {
            c.origin.to_string()
        };
        let mut h = vec![("access-control-allow-origin".to_string(), acao)];
        if creds {
            h.push(("access-control-allow-credentials".into(), "true".into()));
        }
        if preflight {
            h.push((
                "access-control-allow-methods".into(),
                strs(&get("AllowMethods")).join(","),
            ));
            h.push((
                "access-control-allow-headers".into(),
                strs(&get("AllowHeaders")).join(","),
            ));
        }
        Resp {
            status: 204,
            headers: h,
        }
    };
    browser(c, || answer(true), || answer(false))
}

/// The `cors` package: `origin` "*" (default) sends `*`; another string is
/// sent as is; `true` reflects; an array reflects a listed origin or one a
/// RegExp (`.test`, so unanchored unless the regex anchors) matches; methods
/// default GET,HEAD,PUT,PATCH,POST,DELETE; without allowedHeaders the
/// requested headers are reflected; credentials sends ACAC: true.
fn express_model(doc: &Value, c: &Case) -> bool {
    let acao: Option<String> = match doc.get("origin") {
        None => Some("*".into()),
        Some(Value::Bool(true)) => Some(c.origin.into()),
        Some(Value::Bool(false)) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .any(
                |o| match o.strip_prefix('/').and_then(|r| r.rsplit_once('/')) {
                    Some((re, _)) => js_regex_test(&re.replace("\\/", "/"), c.origin),
                    None => o == c.origin,
                },
            )
            .then(|| c.origin.to_string()),
        _ => None,
    };
    let list = |k: &str| -> Option<String> {
        match doc.get(k) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Array(a)) => Some(
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            _ => None,
        }
    };
    let creds = doc.get("credentials") == Some(&Value::Bool(true));
    let answer = |preflight: bool| -> Resp {
        let mut h = Vec::new();
        if let Some(a) = &acao {
            h.push(("access-control-allow-origin".to_string(), a.clone()));
        }
        if creds {
            h.push(("access-control-allow-credentials".into(), "true".into()));
        }
        if preflight {
            h.push((
                "access-control-allow-methods".into(),
                list("methods").unwrap_or("GET,HEAD,PUT,PATCH,POST,DELETE".into()),
            ));
            h.push((
                "access-control-allow-headers".into(),
                list("allowedHeaders").unwrap_or(c.headers.join(",")),
            ));
        }
        Resp {
            status: 204,
            headers: h,
        }
    };
    browser(c, || answer(true), || answer(false))
}

/// Just enough of JavaScript's RegExp.test for the examples here: an
/// optional ^, literal text with \. escapes, (a|b) groups, an optional $.
fn js_regex_test(re: &str, s: &str) -> bool {
    fn expand(re: &str) -> Vec<String> {
        match re.find('(') {
            None => vec![re.replace("\\.", ".")],
            Some(i) => {
                let j = i + re[i..].find(')').unwrap();
                let mut out = Vec::new();
                for alt in re[i + 1..j].split('|') {
                    for tail in expand(&re[j + 1..]) {
                        out.push(format!("{}{alt}{tail}", re[..i].replace("\\.", ".")));
                    }
                }
                out
            }
        }
    }
    let (start, body) = re.strip_prefix('^').map_or((false, re), |b| (true, b));
    let (end, body) = body.strip_suffix('$').map_or((false, body), |b| (true, b));
    expand(body).iter().any(|lit| match (start, end) {
        (true, true) => s == lit,
        (true, false) => s.starts_with(lit.as_str()),
        (false, true) => s.ends_with(lit.as_str()),
        (false, false) => s.contains(lit.as_str()),
    })
}

fn doc(file: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(root().join(fixture(file))).unwrap()).unwrap()
}

#[test]
fn s3_equivalence() {
    for (file, up) in [
        (
            "s3-aws-example.json",
            "http://examplebucket.s3-website-us-east-1.amazonaws.com",
        ),
        (
            "s3-aws-example.json",
            "https://examplebucket.s3.amazonaws.com",
        ),
        ("s3-rules.json", "https://uploads.s3.amazonaws.com"),
    ] {
        let (findings, policy) = load("s3", file, Some(up));
        let d = doc(file);
        let excuses: &[Excuse] = &[
            ("safelisted-method", safelisted),
            ("rules-narrowed", narrower),
            ("http-origin", |c, g| !g && c.origin.starts_with("http://")),
            ("wildcard-narrowed", |c, g| {
                !g && c.origin == "https://evilexample.org"
            }),
            ("header-wildcard", |c, g| {
                !g && c.headers.iter().any(|h| h.starts_with("x-amz-"))
            }),
        ];
        let n = equivalence(file, &findings, &policy, "/key", excuses, &mut |c| {
            s3_model(&d, c)
        });
        assert!(n > 0, "{file}: the source allowed nothing");
    }
}

#[test]
fn gcs_equivalence() {
    for file in ["gcs-cors.json", "gcs-multi.json"] {
        let (findings, policy) = load("gcs", file, Some("https://storage.googleapis.com/b"));
        let d = doc(file);
        let excuses: &[Excuse] = &[
            ("safelisted-method", safelisted),
            ("rules-narrowed", narrower),
            ("http-origin", |c, g| !g && c.origin.starts_with("http://")),
            ("null-trusted", |c, g| !g && c.origin == "null"),
        ];
        let n = equivalence(file, &findings, &policy, "/o", excuses, &mut |c| {
            gcs_model(&d, c)
        });
        assert!(n > 0, "{file}: the source allowed nothing");
    }
}

#[test]
fn apigateway_equivalence() {
    for file in ["apigateway-http-api.json", "apigateway-wildcard.json"] {
        let (findings, policy) = load(
            "apigateway",
            file,
            Some("https://abc.execute-api.us-east-1.amazonaws.com"),
        );
        let d = doc(file);
        let excuses: &[Excuse] = &[];
        let n = equivalence(file, &findings, &policy, "/items", excuses, &mut |c| {
            apigw_model(&d, c)
        });
        assert!(n > 0, "{file}: the source allowed nothing");
    }
}

#[test]
fn express_equivalence() {
    for file in [
        "express-default.json",
        "express-single-origin.json",
        "express-list.json",
        "express-reflect.json",
    ] {
        let (findings, policy) = load("express", file, Some("http://127.0.0.1:3000"));
        let d = doc(file);
        let excuses: &[Excuse] = &[
            ("unanchored-regex", |c, g| {
                !g && c.origin.ends_with(".example2.com")
            }),
            ("wildcard-with-credentials", |c, g| !g && c.credentials),
            ("reflects-request-headers", |c, g| {
                !g && !c.headers.is_empty()
            }),
        ];
        let n = equivalence(file, &findings, &policy, "/", excuses, &mut |c| {
            express_model(&d, c)
        });
        assert!(n > 0, "{file}: the source allowed nothing");
    }
}

// ---------------------------------------------------------------------------
// Apache and nginx, for real.

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn require(bin: &str, package: &str) {
    assert!(
        Path::new(bin).exists(),
        "SETUP FAILED: {bin} not found; install Debian's {package} (scripts/setup.sh does)"
    );
}

/// One HTTP/1.1 request to the server; its status and header lines.
fn http(port: u16, method: &str, path: &str, headers: &[(String, String)]) -> Resp {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    if method == "POST" || method == "PUT" || method == "PATCH" {
        req.push_str("Content-Length: 0\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Resp { status, headers }
}

fn wait_for(port: u16, child: &mut std::process::Child, log: &Path) {
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(st)) = child.try_wait() {
            panic!(
                "server exited ({st}): {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!(
        "server did not listen on {port}: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

struct Server(std::process::Child);
impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM, so Apache's parent stops its children before exiting.
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        if !matches!(self.0.try_wait(), Ok(Some(_))) {
            for _ in 0..50 {
                if let Ok(Some(_)) = self.0.try_wait() {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Compares the real server's answers with the gateway's over the grid, for
/// the paths given (server path, gateway path).
fn compare_real(
    name: &str,
    port: u16,
    findings: &str,
    policy: &Policy,
    paths: &[(&str, &str)],
    excuses: &[Excuse],
) {
    use std::collections::HashMap;
    let mut cache: HashMap<String, Resp> = HashMap::new();
    let mut allowed = 0;
    for (spath, gpath) in paths {
        let mut fetch = |method: &str, h: Vec<(String, String)>| -> Resp {
            let key = format!("{method} {spath} {h:?}");
            cache
                .entry(key)
                .or_insert_with(|| http(port, method, spath, &h))
                .clone()
        };
        let mut source = |c: &Case| {
            let mut h = vec![
                ("origin".to_string(), c.origin.to_string()),
                (
                    "access-control-request-method".to_string(),
                    c.method.to_string(),
                ),
            ];
            if !c.headers.is_empty() {
                h.push(("access-control-request-headers".into(), c.headers.join(",")));
            }
            let pre = fetch("OPTIONS", h);
            let act = fetch(c.method, vec![("origin".to_string(), c.origin.to_string())]);
            browser(c, || pre, || act)
        };
        allowed += equivalence(
            &format!("{name} {spath}"),
            findings,
            policy,
            gpath,
            excuses,
            &mut source,
        );
    }
    // Not vacuous: the server let some requests through.
    assert!(allowed > 0, "{name}: the server allowed nothing");
}

fn nginx(fixture_file: &str, port: u16, dir: &Path) -> Server {
    require("/usr/sbin/nginx", "nginx");
    let www = dir.join("www");
    for p in ["", "api", "static"] {
        std::fs::create_dir_all(www.join(p)).unwrap();
        std::fs::write(www.join(p).join("index.html"), "ok\n").unwrap();
    }
    std::fs::create_dir_all(www.join("static/static")).unwrap();
    std::fs::write(www.join("static/static/a.txt"), "ok\n").unwrap();
    let src = std::fs::read_to_string(root().join(fixture(fixture_file)))
        .unwrap()
        .replace("listen 80;", &format!("listen 127.0.0.1:{port};"))
        .replace("listen 443 ssl;", &format!("listen 127.0.0.1:{port};"))
        .replace("root /var/www/html;", &format!("root {};", www.display()))
        .replace(
            "root /srv;",
            &format!("root {};", www.join("static").display()),
        )
        .replace("proxy_pass http://127.0.0.1:8080;", "return 200 \"ok\\n\";");
    let d = dir.display();
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{ worker_connections 64; }}\n\
         http {{\n access_log off;\n client_body_temp_path {d}/b;\n proxy_temp_path {d}/p;\n fastcgi_temp_path {d}/f;\n uwsgi_temp_path {d}/u;\n scgi_temp_path {d}/s;\n{src}\n}}\n"
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).unwrap();
    let log = dir.join("error.log");
    let mut child = Command::new("/usr/sbin/nginx")
        .process_group(0)
        .args([
            "-p",
            dir.to_str().unwrap(),
            "-c",
            path.to_str().unwrap(),
            "-e",
            log.to_str().unwrap(),
        ])
        .stderr(std::fs::File::create(dir.join("stderr.log")).unwrap())
        .spawn()
        .expect("start nginx");
    wait_for(port, &mut child, &dir.join("stderr.log"));
    Server(child)
}

fn apache(fixture_file: &str, port: u16, dir: &Path) -> Server {
    require("/usr/sbin/apache2", "apache2");
    let www = dir.join("www");
    std::fs::create_dir_all(www.join("api")).unwrap();
    std::fs::write(www.join("index.html"), "ok\n").unwrap();
    std::fs::write(www.join("api/data.json"), "{}\n").unwrap();
    let src = std::fs::read_to_string(root().join(fixture(fixture_file)))
        .unwrap()
        .replace("/var/www/html", www.to_str().unwrap());
    std::fs::write(dir.join("fixture.conf"), src).unwrap();
    let m = "/usr/lib/apache2/modules";
    let d = dir.display();
    let conf = format!(
        "ServerRoot {d}\nLoadModule mpm_prefork_module {m}/mod_mpm_prefork.so\nLoadModule authz_core_module {m}/mod_authz_core.so\n\
         LoadModule headers_module {m}/mod_headers.so\nLoadModule setenvif_module {m}/mod_setenvif.so\n\
         Listen 127.0.0.1:{port}\nServerName localhost\nPidFile {d}/httpd.pid\nErrorLog {d}/error.log\nMutex file:{d} default\n\
         StartServers 1\nMinSpareServers 1\nMaxSpareServers 2\n\
         DocumentRoot {www}\n<Directory {www}>\n  Require all granted\n  AllowOverride None\n</Directory>\nInclude {d}/fixture.conf\n",
        www = www.display()
    );
    let path = dir.join("httpd.conf");
    std::fs::write(&path, conf).unwrap();
    // Its own process group: on shutdown Apache signals its whole group.
    let mut child = Command::new("/usr/sbin/apache2")
        .process_group(0)
        .args(["-f", path.to_str().unwrap(), "-DFOREGROUND"])
        .stderr(std::fs::File::create(dir.join("stderr.log")).unwrap())
        .spawn()
        .expect("start apache2");
    wait_for(port, &mut child, &dir.join("stderr.log"));
    Server(child)
}

#[test]
fn nginx_for_real() {
    for (file, paths) in [
        ("nginx-wide-open.conf", &[("/", "/")][..]),
        (
            "nginx-map.conf",
            &[
                ("/api/", "/api/x"),
                ("/static/a.txt", "/static/a.txt"),
                ("/other", "/other"),
            ][..],
        ),
        ("nginx-reflect.conf", &[("/", "/")][..]),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let _server = nginx(file, port, dir.path());
        let (findings, policy) = load("nginx", file, Some("https://api.internal.example"));
        let excuses: &[Excuse] = &[
            ("safelisted-method", safelisted),
            ("unanchored-regex", |c, g| {
                !g && c.origin.ends_with("example.net")
            }),
            ("duplicate-allow-origin", wider),
            ("http-origin", |c, g| !g && c.origin.starts_with("http://")),
            // $http_origin with credentials: the import keeps "*" without them.
            ("wildcard-with-credentials", |c, g| !g && c.credentials),
            // nginx answers writes to a static file 405, where add_header
            // without `always` adds nothing; the gateway forwards them.
            ("errors-without-cors", |c, g| {
                g && matches!(c.method, "POST" | "PUT" | "DELETE" | "PATCH")
            }),
        ];
        compare_real(file, port, &findings, &policy, paths, excuses);
    }
}

#[test]
fn apache_for_real() {
    for (file, paths) in [
        (
            "apache-header-add.htaccess",
            &[("/index.html", "/index.html")][..],
        ),
        (
            "apache-setenvif.conf",
            &[("/index.html", "/index.html")][..],
        ),
        (
            "apache-anchored.conf",
            &[
                ("/api/data.json", "/api/data.json"),
                ("/index.html", "/index.html"),
            ][..],
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let _server = apache(file, port, dir.path());
        let (findings, policy) = load("apache", file, Some("https://api.internal.example"));
        let excuses: &[Excuse] = &[
            // Apache answers POST to a static file 405, without on-success headers.
            ("errors-without-cors", |c, g| g && c.method == "POST"),
            ("unanchored-regex", |c, g| {
                !g && c.origin.contains("example.com")
            }),
            ("http-origin", |c, g| !g && c.origin.starts_with("http://")),
        ];
        compare_real(file, port, &findings, &policy, paths, excuses);
    }
}
