//! `cors-gateway import`: turns a CORS configuration written for another server
//! (Apache, nginx, S3, GCS, API Gateway, the `cors` npm package) into a policy
//! the gateway loads, and names every part of the source that was unsafe, could
//! not be expressed, or behaves differently behind the gateway.
//!
//! Each format's reader fills an [`Import`] (routes with their CORS settings,
//! findings with source lines); [`finish`] applies the safety rules every format
//! shares, renders the policy and validates it with the gateway's own loader.

mod apache;
mod apigateway;
mod express;
mod gcs;
mod nginx;
pub mod regex;
mod s3;

use cors_gateway_core::fetch::is_forbidden_request_header;
use cors_gateway_core::headers::is_token;
use cors_gateway_core::json::Json;
use cors_gateway_core::lint::lint;
use cors_gateway_core::origin::parse_pattern;
use cors_gateway_core::Policy;
use serde_json::{json, Value};

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Source {
    Apache,
    Nginx,
    S3,
    Gcs,
    Apigateway,
    Express,
}

impl Source {
    fn name(self) -> &'static str {
        match self {
            Source::Apache => "apache",
            Source::Nginx => "nginx",
            Source::S3 => "s3",
            Source::Gcs => "gcs",
            Source::Apigateway => "apigateway",
            Source::Express => "express",
        }
    }
}

/// How much a finding matters: a `warning` is unsafe, lost or changed
/// behaviour (exit code 1); a `note` says how something was mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Warning,
    Note,
}

#[derive(Debug, Clone)]
pub struct Finding {
    pub level: Level,
    pub code: &'static str,
    /// 1-based line in the source file; 0 for the file as a whole.
    pub line: usize,
    pub message: String,
}

/// CORS settings of one route as read from the source, before the shared
/// safety rules.
#[derive(Debug, Clone, Default)]
pub struct Cors {
    /// Policy `allow_origins` entries, each already accepted by `parse_pattern`.
    pub origins: Vec<String>,
    /// `None`: the source left it to the gateway's default.
    pub methods: Option<Vec<String>>,
    pub headers: Option<Vec<String>>,
    pub expose: Vec<String>,
    pub credentials: bool,
    pub max_age: Option<u64>,
    /// Line where the credentials were granted (for findings).
    pub credentials_line: usize,
    /// The source line of each entry of `origins`.
    pub origin_lines: Vec<(String, usize)>,
}

#[derive(Debug, Clone)]
pub struct RouteSpec {
    pub name: String,
    pub prefix: String,
    /// An upstream the source names (nginx `proxy_pass`, Apache `ProxyPass`).
    pub upstream: Option<String>,
    pub cors: Cors,
}

/// What a reader produces.
#[derive(Debug, Default)]
pub struct Import {
    pub routes: Vec<RouteSpec>,
    pub findings: Vec<Finding>,
    /// The source serves https (S3, GCS, API Gateway; a TLS listener), so
    /// plain-http origins are untrustworthy callers.
    pub https_api: bool,
}

impl Import {
    pub fn warn(&mut self, code: &'static str, line: usize, message: impl Into<String>) {
        self.push(Level::Warning, code, line, message.into());
    }

    pub fn note(&mut self, code: &'static str, line: usize, message: impl Into<String>) {
        self.push(Level::Note, code, line, message.into());
    }

    fn push(&mut self, level: Level, code: &'static str, line: usize, message: String) {
        self.findings.push(Finding {
            level,
            code,
            line,
            message,
        });
    }

    /// Adds one origin as the source wrote it, to `cors`; what cannot be
    /// listed safely or exactly becomes a finding instead.
    pub fn add_origin(&mut self, cors: &mut Cors, entry: &str, line: usize) {
        let entry = entry.trim();
        if entry == "null" {
            self.warn("null-trusted", line, "the source trusted the origin \"null\", which sandboxed iframes, file: pages and redirected requests send (any site can produce it); not imported");
            return;
        }
        if let Err(e) = parse_pattern(entry) {
            match e.canonical.as_deref().map(|c| (c, parse_pattern(c))) {
                Some((c, Ok(_))) => {
                    self.note(
                        "origin-canonicalised",
                        line,
                        format!("\"{entry}\" is written as the browser sends it: \"{c}\""),
                    );
                    return self.push_pattern(cors, c, line);
                }
                _ => {
                    self.warn(
                        "origin-not-expressible",
                        line,
                        format!("origin \"{entry}\" not imported: {e}"),
                    );
                    return;
                }
            }
        }
        self.push_pattern(cors, entry, line);
    }

    fn push_pattern(&mut self, cors: &mut Cors, entry: &str, line: usize) {
        if !cors.origins.iter().any(|o| o == entry) {
            cors.origins.push(entry.to_string());
            cors.origin_lines.push((entry.to_string(), line));
        }
    }
}

/// A header-name list as a source writes it: comma separated, any case, quotes.
/// The strings of a JSON array (anything else is empty; the callers report
/// non-string entries themselves).
pub fn json_strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub fn split_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(|s| s.trim().trim_matches(['"', '\'']).trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Applies the rules every format shares and renders the policy document.
fn policy_doc(imp: &mut Import, upstream: Option<&str>) -> String {
    let placeholder = "https://upstream.invalid";
    let mut routes = Vec::new();
    let mut used_placeholder = false;
    let mut names: Vec<String> = Vec::new();
    let mut specs = std::mem::take(&mut imp.routes);
    if specs.is_empty() {
        specs.push(RouteSpec {
            name: "all".into(),
            prefix: "/".into(),
            upstream: None,
            cors: Cors::default(),
        });
    }
    for spec in &mut specs {
        let c = &mut spec.cors;
        if imp.https_api {
            let lines = c.origin_lines.clone();
            c.origins.retain(|entry| {
                let Some(host) = entry.strip_prefix("http://") else { return true };
                let host = host.split(':').next().unwrap_or(host);
                let local = host == "localhost" || host.ends_with(".localhost") || host == "127.0.0.1" || host == "[::1]";
                if local {
                    return true;
                }
                let line = lines.iter().find(|(o, _)| o == entry).map_or(0, |(_, l)| *l);
                let https = entry.replacen("http://", "https://", 1);
                imp.findings.push(Finding { level: Level::Warning, code: "http-origin", line,
                    message: format!("\"{entry}\" is a plain-http page calling an https API: anyone on its network can change that page's script; not imported (add \"{https}\" if the site is served over https)") });
                false
            });
        }
        let any = c.origins.iter().any(|o| o == "*");
        if any && c.origins.len() > 1 {
            let others: Vec<String> = c.origins.iter().filter(|o| *o != "*").cloned().collect();
            imp.findings.push(Finding {
                level: Level::Note,
                code: "covered-by-wildcard",
                line: 0,
                message: format!(
                    "route \"{}\": {} also listed, but \"*\" already allows every origin",
                    spec.name,
                    others.join(", ")
                ),
            });
            c.origins.retain(|o| o == "*");
        }
        if any && c.credentials {
            imp.findings.push(Finding { level: Level::Warning, code: "wildcard-with-credentials", line: c.credentials_line,
                message: format!("route \"{}\": credentials were allowed for any origin (every site could act as the signed-in user, or browsers refused it); imported without credentials; list the origins that need cookies to allow them", spec.name) });
            c.credentials = false;
        }
        if c.credentials {
            for (list, what) in [(&mut c.methods, "methods"), (&mut c.headers, "headers")] {
                if let Some(l) = list.as_mut() {
                    if l.iter().any(|x| x == "*") {
                        l.retain(|x| x != "*");
                        imp.findings.push(Finding { level: Level::Note, code: "wildcard-with-credentials", line: c.credentials_line,
                            message: format!("route \"{}\": \"*\" in the allowed {what} with credentials is read literally by browsers (it allowed nothing); not imported", spec.name) });
                    }
                }
            }
            if c.expose.iter().any(|x| x == "*") {
                c.expose.retain(|x| x != "*");
                imp.findings.push(Finding { level: Level::Note, code: "wildcard-with-credentials", line: c.credentials_line,
                    message: format!("route \"{}\": \"*\" in the exposed headers with credentials is read literally by browsers (it exposed nothing); not imported", spec.name) });
            }
        }
        if let Some(h) = c.headers.as_mut() {
            let mut kept = Vec::new();
            for name in h.drain(..) {
                let lower = name.to_ascii_lowercase();
                if lower == "*" {
                    kept.push(lower);
                } else if !is_token(lower.as_bytes())
                    || lower.starts_with("access-control-")
                    || is_forbidden_request_header(&lower)
                {
                    imp.findings.push(Finding { level: Level::Note, code: "header-not-settable", line: 0,
                        message: format!("route \"{}\": allowed header \"{name}\" not imported: scripts can never set it, so allowing it changed nothing", spec.name) });
                } else if !kept.contains(&lower) {
                    kept.push(lower);
                }
            }
            *h = kept;
        }
        let mut expose = Vec::new();
        for name in c.expose.drain(..) {
            let lower = name.to_ascii_lowercase();
            if lower == "set-cookie"
                || lower == "set-cookie2"
                || !(lower == "*" || is_token(lower.as_bytes()))
            {
                imp.findings.push(Finding { level: Level::Note, code: "header-not-exposable", line: 0,
                    message: format!("route \"{}\": exposed header \"{name}\" not imported: browsers never expose it", spec.name) });
            } else if !expose.contains(&lower) {
                expose.push(lower);
            }
        }
        c.expose = expose;
        if let Some(m) = c.max_age {
            if m > 86_400 {
                imp.findings.push(Finding { level: Level::Note, code: "max-age-capped", line: 0,
                    message: format!("route \"{}\": max age {m} s is above the policy's limit; 86400 s (browsers cap it lower anyway: Chromium 7200 s, WebKit 600 s)", spec.name) });
                c.max_age = Some(86_400);
            }
        }
        if let Some(m) = c.methods.as_mut() {
            // Browsers never preflight these and the gateway always allows them.
            m.retain(|x| !cors_gateway_core::fetch::is_safelisted_method(x));
        }
        let mut cors = serde_json::Map::new();
        cors.insert("allow_origins".into(), json!(c.origins));
        if let Some(m) = &c.methods {
            cors.insert("allow_methods".into(), json!(m));
        }
        if let Some(h) = &c.headers {
            cors.insert("allow_headers".into(), json!(h));
        }
        if !c.expose.is_empty() {
            cors.insert("expose_headers".into(), json!(c.expose));
        }
        if c.credentials {
            cors.insert("allow_credentials".into(), json!(true));
        }
        if let Some(m) = c.max_age {
            cors.insert("max_age_secs".into(), json!(m));
        }
        let up = match (upstream, &spec.upstream) {
            (Some(u), _) => u.to_string(),
            (None, Some(u)) => u.clone(),
            (None, None) => {
                used_placeholder = true;
                placeholder.to_string()
            }
        };
        let mut name = spec.name.clone();
        let mut n = 2;
        while names.contains(&name) {
            name = format!("{}-{n}", spec.name);
            n += 1;
        }
        names.push(name.clone());
        let fields: Vec<String> = cors_gateway_core::policy::CORS_FIELDS
            .iter()
            .filter_map(|k| {
                cors.get(*k)
                    .map(|v| format!("        \"{k}\": {}", compact(v)))
            })
            .collect();
        routes.push(format!(
            "    {{\n      \"name\": {},\n      \"path_prefix\": {},\n      \"upstream\": {},\n      \"cors\": {{\n{}\n      }}\n    }}",
            compact(&json!(name)),
            compact(&json!(spec.prefix)),
            compact(&json!(up)),
            fields.iter().map(|f| f.replacen("        ", "  ", 0)).collect::<Vec<_>>().join(",\n")
        ));
    }
    // One finding per distinct problem (a map shared by routes is read once per route).
    let mut seen = std::collections::HashSet::new();
    imp.findings
        .retain(|f| seen.insert((f.code, f.line, f.message.clone())));
    if used_placeholder {
        imp.warn(
            "no-upstream",
            0,
            format!(
                "the source names no upstream; routes send to {placeholder}: pass --upstream URL"
            ),
        );
    }
    format!(
        "{{\n  \"version\": 1,\n  \"routes\": [\n{}\n  ]\n}}\n",
        routes.join(",\n")
    )
}

/// One line of JSON, with a space after commas for reading.
fn compact(v: &Value) -> String {
    match v {
        Value::Array(a) => format!("[{}]", a.iter().map(compact).collect::<Vec<_>>().join(", ")),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

/// The whole command: read, convert, validate, write. Returns the exit code.
pub fn run(
    from: Source,
    file: &str,
    upstream: Option<&str>,
    output: Option<&str>,
    json_out: bool,
) -> u8 {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cors-gateway: cannot read {file}: {e}");
            return 64;
        }
    };
    if let Some(u) = upstream {
        if let Err(m) = cors_gateway_core::policy::parse_upstream(u) {
            eprintln!("cors-gateway: --upstream: {m}");
            return 64;
        }
    }
    let read = match from {
        Source::Apache => apache::read(&text),
        Source::Nginx => nginx::read(&text),
        Source::S3 => s3::read(&text),
        Source::Gcs => gcs::read(&text),
        Source::Apigateway => apigateway::read(&text),
        Source::Express => express::read(&text),
    };
    let mut imp = match read {
        Ok(i) => i,
        Err(e) => {
            report(
                file,
                from,
                None,
                &[Finding {
                    level: Level::Warning,
                    code: "unreadable",
                    line: e.0,
                    message: e.1,
                }],
                json_out,
            );
            return 2;
        }
    };
    if upstream.is_some_and(|u| u.starts_with("https://")) {
        imp.https_api = true;
    }
    let text_out = policy_doc(&mut imp, upstream);
    let (policy, doc) = match Policy::from_json_tree(&text_out) {
        Ok(loaded) => loaded,
        Err(errors) => {
            for e in errors.0 {
                imp.warn(
                    "invalid-policy",
                    0,
                    format!("the imported policy does not load: {e}"),
                );
            }
            report(file, from, None, &imp.findings, json_out);
            return 2;
        }
    };
    for l in lint(&policy, &doc) {
        imp.findings.push(Finding {
            level: Level::Warning,
            code: l.code,
            line: 0,
            message: format!("policy {}: {}", l.path, l.message),
        });
    }
    if let Some(out) = output {
        let tmp = format!("{out}.tmp-{}", std::process::id());
        if let Err(e) = std::fs::write(&tmp, &text_out).and_then(|()| std::fs::rename(&tmp, out)) {
            let _ = std::fs::remove_file(&tmp);
            eprintln!("cors-gateway: cannot write {out}: {e}");
            return 64;
        }
    }
    report(
        file,
        from,
        Some((&doc, &text_out, output)),
        &imp.findings,
        json_out,
    );
    u8::from(imp.findings.iter().any(|f| f.level == Level::Warning))
}

/// Prints the findings, and the policy when no output file was given: the
/// policy on stdout, the findings on stderr, so `> policy.json` works.
fn report(
    file: &str,
    from: Source,
    policy: Option<(&Json<'_>, &str, Option<&str>)>,
    findings: &[Finding],
    json_out: bool,
) {
    let warnings = findings
        .iter()
        .filter(|f| f.level == Level::Warning)
        .count();
    if json_out {
        let items: Vec<Value> = findings.iter().map(|f| json!({"level": if f.level == Level::Warning { "warning" } else { "note" }, "code": f.code, "line": f.line, "message": f.message})).collect();
        let doc = json!({"file": file, "from": from.name(), "valid": policy.is_some(), "output": policy.and_then(|p| p.2), "policy": policy.map(|p| p.0), "findings": items});
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return;
    }
    let mut lines = Vec::new();
    lines.push(match policy {
        Some((_, _, Some(out))) => format!(
            "{file}: imported from {} to {out}, {warnings} warning{}",
            from.name(),
            if warnings == 1 { "" } else { "s" }
        ),
        Some((_, _, None)) => format!(
            "{file}: imported from {}, {warnings} warning{}",
            from.name(),
            if warnings == 1 { "" } else { "s" }
        ),
        None => format!(
            "{file}: no valid policy could be imported from {}",
            from.name()
        ),
    });
    for f in findings {
        let at = if f.line > 0 {
            format!("{file}:{}", f.line)
        } else {
            file.to_string()
        };
        let level = if f.level == Level::Warning {
            "warning"
        } else {
            "note"
        };
        lines.push(format!("  {level}[{}]: {at}: {}", f.code, f.message));
    }
    match policy {
        Some((_, text, None)) => {
            print!("{text}");
            for l in lines {
                eprintln!("{l}");
            }
        }
        _ => {
            for l in lines {
                println!("{l}");
            }
        }
    }
}

/// A source that cannot be read at all: line and message.
pub struct ReadError(pub usize, pub String);

/// One rule of a rule-list format (S3, GCS): the first rule matching the
/// request's origin and method answers it.
#[derive(Debug, Clone, Default)]
pub struct Rule {
    pub line: usize,
    /// Entries as the source wrote them (`*` wildcards in the source's sense).
    pub origins: Vec<(String, usize)>,
    /// `None` entries: "*", any.
    pub methods: Vec<String>,
    pub headers: Vec<String>,
    pub expose: Vec<String>,
    pub max_age: Option<u64>,
}

/// A source origin glob (one `*` matching any characters, S3 style) matched
/// against a concrete origin or another entry.
pub fn glob_covers(glob: &str, entry: &str) -> bool {
    if glob == "*" || glob == entry {
        return true;
    }
    if entry.contains('*') {
        return false;
    }
    match glob.split_once('*') {
        Some((pre, post)) => {
            entry.len() >= pre.len() + post.len() && entry.starts_with(pre) && entry.ends_with(post)
        }
        None => false,
    }
}

/// Merges rules into one route, never allowing more than the source did: every
/// origin keeps only the methods every listed origin had, and the headers every
/// rule had. What an origin loses is a finding.
pub fn merge_rules(imp: &mut Import, rules: &[Rule], any_headers: &[&str]) -> Cors {
    let mut cors = Cors::default();
    let all = |r: &Rule| r.methods.iter().any(|m| m == "*");
    // Methods per origin entry: the union over the rules that match every origin the entry matches.
    let mut per_entry: Vec<(String, usize, Vec<String>)> = Vec::new();
    for r in rules {
        for (o, line) in &r.origins {
            let mut m: Vec<String> = Vec::new();
            let mut any = false;
            for other in rules {
                if other.origins.iter().any(|(g, _)| glob_covers(g, o)) {
                    any |= all(other);
                    for x in &other.methods {
                        if !m.contains(x) {
                            m.push(x.clone());
                        }
                    }
                }
            }
            if any {
                m = vec!["*".into()];
            }
            per_entry.push((o.clone(), *line, m));
        }
    }
    let mut methods: Option<Vec<String>> = None;
    for (_, _, m) in &per_entry {
        methods = Some(match methods {
            None => m.clone(),
            Some(prev) if prev == ["*"] => m.clone(),
            Some(prev) if m == &["*"] => prev,
            Some(prev) => prev.into_iter().filter(|x| m.contains(x)).collect(),
        });
    }
    let methods = methods.unwrap_or_default();
    for (o, line, m) in &per_entry {
        let lost: Vec<&String> = m
            .iter()
            .filter(|x| *x != "*" && !methods.contains(x) && !methods.iter().any(|y| y == "*"))
            .collect();
        let lost: Vec<&String> = lost
            .into_iter()
            .filter(|x| !cors_gateway_core::fetch::is_safelisted_method(x))
            .collect();
        if !lost.is_empty() || (m == &["*"] && methods != ["*"]) {
            let what = if m == &["*"] {
                "any method".to_string()
            } else {
                lost.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            imp.warn("rules-narrowed", *line, format!("\"{o}\" could use {what}, but a route has one method list for all its origins and other origins here could not; not imported for it (give it a route of its own to keep them)"));
        }
        let refused: Vec<&str> = ["GET", "HEAD", "POST"]
            .into_iter()
            .filter(|s| !m.iter().any(|x| x == s || x == "*"))
            .collect();
        if !refused.is_empty() {
            imp.warn("safelisted-method", *line, format!("the source refused {} from \"{o}\"; the gateway allows GET, HEAD and POST from every allowed origin (browsers send them without a preflight, and the source's refusal only hid the response)", refused.join(", ")));
        }
    }
    // Headers (and exposed headers): only what every rule allowed.
    let norm = |h: &Vec<String>| -> Vec<String> {
        if h.iter().any(|x| x == "*") {
            let mut v = vec!["*".to_string()];
            v.extend(any_headers.iter().map(|s| s.to_string()));
            v
        } else {
            h.iter().map(|x| x.to_ascii_lowercase()).collect()
        }
    };
    let inter = |a: Vec<String>, b: Vec<String>| -> Vec<String> {
        if a.first().is_some_and(|x| x == "*") && b.first().is_some_and(|x| x == "*") {
            let mut v = vec!["*".to_string()];
            v.extend(a.into_iter().skip(1).filter(|x| b.contains(x)));
            v
        } else if a.first().is_some_and(|x| x == "*") {
            b.into_iter().filter(|x| x != "*").collect()
        } else if b.first().is_some_and(|x| x == "*") {
            a
        } else {
            a.into_iter().filter(|x| b.contains(x)).collect()
        }
    };
    let mut headers: Option<Vec<String>> = None;
    let mut expose: Option<Vec<String>> = None;
    for r in rules {
        headers = Some(match headers {
            None => norm(&r.headers),
            Some(h) => inter(h, norm(&r.headers)),
        });
        let e: Vec<String> = r.expose.iter().map(|x| x.to_ascii_lowercase()).collect();
        expose = Some(match expose {
            None => e,
            Some(prev) => prev.into_iter().filter(|x| e.contains(x)).collect(),
        });
        if let Some(a) = r.max_age {
            cors.max_age = Some(cors.max_age.map_or(a, |b| b.min(a)));
        }
    }
    let headers = headers.unwrap_or_default();
    let expose = expose.unwrap_or_default();
    for r in rules {
        let h = norm(&r.headers);
        let lost: Vec<&String> = h.iter().filter(|x| !headers.contains(x)).collect();
        if !lost.is_empty() {
            imp.warn("rules-narrowed", r.line, format!("this rule allowed the request headers {}, which other rules did not; a route has one header list for all its origins, so they were not imported", lost.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")));
        }
        let lost: Vec<&String> = r
            .expose
            .iter()
            .filter(|x| !expose.contains(&x.to_ascii_lowercase()))
            .collect();
        if !lost.is_empty() {
            imp.warn(
                "rules-narrowed",
                r.line,
                format!(
                    "this rule exposed {}, which other rules did not; not imported",
                    lost.iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
        if rules.iter().any(|x| x.max_age != r.max_age) {
            if let Some(a) = r.max_age {
                if Some(a) != cors.max_age {
                    imp.note("max-age-merged", r.line, format!("this rule's max age {a} s; the route uses the shortest of the rules, {} s", cors.max_age.unwrap_or(a)));
                }
            }
        }
    }
    cors.methods = Some(methods);
    cors.headers = Some(headers);
    cors.expose = expose;
    cors
}

/// One response header a web-server config adds, in the context it applies to.
#[derive(Debug, Clone)]
pub struct Hdr {
    /// Lower case.
    pub name: String,
    pub value: String,
    pub line: usize,
    /// Sent on error responses too (nginx `always`, Apache `Header always`).
    pub always: bool,
}

/// Builds a route's settings from the headers a server config sends on
/// preflights (`pre`) and on actual requests (`act`). `origin` turns one
/// `Access-Control-Allow-Origin` value into policy entries (variables are the
/// format's business); it returns whether the value depends on the request.
pub fn cors_from_headers(
    imp: &mut Import,
    route: &str,
    pre: &[Hdr],
    act: &[Hdr],
    origin: &mut dyn FnMut(&mut Import, &mut Cors, &Hdr) -> bool,
) -> Cors {
    let mut cors = Cors::default();
    let find = |set: &[Hdr], n: &str| -> Vec<Hdr> {
        set.iter().filter(|h| h.name == n).cloned().collect()
    };
    let acao_pre = find(pre, "access-control-allow-origin");
    let acao_act = find(act, "access-control-allow-origin");
    for (set, what) in [(&acao_pre, "preflight"), (&acao_act, "actual")] {
        if set.len() > 1 {
            let lines: Vec<String> = set.iter().map(|h| h.line.to_string()).collect();
            imp.warn("duplicate-allow-origin", set[1].line, format!("route \"{route}\": {} Access-Control-Allow-Origin lines reach one {what} response (lines {}): browsers refuse a response with more than one value; the gateway sends exactly one, from line {}", set.len(), lines.join(", "), set[0].line));
        }
    }
    let cred = |set: &[Hdr]| {
        find(set, "access-control-allow-credentials")
            .first()
            .map(|h| (h.value.trim().eq_ignore_ascii_case("true"), h.line))
    };
    if let Some((c, l)) = cred(act).or(cred(pre)) {
        cors.credentials = c;
        cors.credentials_line = l;
    }
    if cred(act).is_some_and(|(c, _)| c)
        && !cred(pre).is_some_and(|(c, _)| c)
        && !acao_pre.is_empty()
    {
        imp.warn("credentials-preflight", cors.credentials_line, format!("route \"{route}\": preflight answers lacked Access-Control-Allow-Credentials: true, so credentialed requests that need a preflight failed while simple ones worked; the policy allows credentials for both"));
    }
    let mut varies = false;
    match (acao_pre.first(), acao_act.first()) {
        (None, None) => {}
        (Some(p), Some(a)) => {
            varies |= origin(imp, &mut cors, a);
            if p.value != a.value {
                let mut other = Cors::default();
                varies |= origin(imp, &mut other, p);
                if other.origins != cors.origins {
                    imp.warn("origin-mismatch", p.line, format!("route \"{route}\": preflights allowed {:?} (line {}) but actual requests {:?} (line {}); a browser needs both, so only origins in both are imported", other.origins, p.line, cors.origins, a.line));
                    if other.origins.iter().all(|o| o != "*") {
                        if cors.origins.iter().any(|o| o == "*") {
                            cors.origins = other.origins;
                        } else {
                            cors.origins.retain(|o| other.origins.contains(o));
                        }
                    }
                }
            }
        }
        (None, Some(a)) => {
            varies |= origin(imp, &mut cors, a);
            imp.warn("preflight-without-cors", a.line, format!("route \"{route}\": preflight answers carried no Access-Control-Allow-Origin, so browsers could send only simple requests; the gateway answers preflights for these origins with the policy's methods and headers (none beyond the safelisted ones unless the source listed them)"));
        }
        (Some(p), None) => {
            varies |= origin(imp, &mut cors, p);
            imp.warn("actual-without-cors", p.line, format!("route \"{route}\": only preflight answers carried Access-Control-Allow-Origin, so browsers hid every actual response; the gateway grants the actual requests it preflights"));
        }
    }
    if let Some(a) = acao_act.first().or(acao_pre.first()) {
        if varies
            && !act
                .iter()
                .any(|h| h.name == "vary" && h.value.to_ascii_lowercase().contains("origin"))
        {
            imp.warn("missing-vary", a.line, format!("route \"{route}\": Access-Control-Allow-Origin depends on the request's Origin but no Vary: Origin was sent, so a shared cache could hand one site's answer to another; the gateway always sends Vary: Origin"));
        }
        if !a.always {
            imp.note("errors-without-cors", a.line, format!("route \"{route}\": the CORS headers were added to successful responses only, so pages could not read error responses; the gateway adds them to every answer for an allowed origin"));
        }
    }
    let one = |imp: &mut Import, set: &[Hdr], n: &str| -> Option<Hdr> {
        let all = find(set, n);
        if all.len() > 1 {
            imp.warn("duplicate-header", all[1].line, format!("route \"{route}\": {n} is sent twice (lines {} and {}); browsers combine them, the policy takes both lists", all[0].line, all[1].line));
            let mut h = all[0].clone();
            h.value = all
                .iter()
                .map(|h| h.value.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            return Some(h);
        }
        all.into_iter().next()
    };
    cors.methods = Some(
        one(imp, pre, "access-control-allow-methods")
            .map(|h| split_list(&h.value))
            .unwrap_or_default(),
    );
    cors.headers = Some(
        one(imp, pre, "access-control-allow-headers")
            .map(|h| split_list(&h.value))
            .unwrap_or_default(),
    );
    if let Some(h) = one(imp, pre, "access-control-max-age") {
        match h.value.trim().parse::<u64>() {
            Ok(n) => cors.max_age = Some(n),
            Err(_) => imp.warn("max-age-invalid", h.line, format!("Access-Control-Max-Age \"{}\" is not a number of seconds (browsers ignored it); the policy's default 600 s", h.value)),
        }
    } else if !pre.is_empty() {
        imp.note("max-age-default", 0, format!("route \"{route}\": no Access-Control-Max-Age was sent (browsers cache a preflight 5 s); the policy's default is 600 s"));
    }
    if let Some(h) = one(imp, act, "access-control-expose-headers") {
        cors.expose = split_list(&h.value);
    }
    for h in pre.iter().chain(act) {
        if h.name.starts_with("access-control-")
            && ![
                "access-control-allow-origin",
                "access-control-allow-credentials",
                "access-control-allow-methods",
                "access-control-allow-headers",
                "access-control-max-age",
                "access-control-expose-headers",
            ]
            .contains(&h.name.as_str())
        {
            imp.warn(
                "header-not-imported",
                h.line,
                format!("{} has no policy equivalent here; not imported", h.name),
            );
        }
    }
    for h in act.iter().filter(|h| {
        h.name == "access-control-allow-methods"
            || h.name == "access-control-allow-headers"
            || h.name == "access-control-max-age"
    }) {
        if !pre.iter().any(|p| p.line == h.line) {
            imp.note("preflight-only-header", h.line, format!("{} on actual responses is ignored by browsers; the gateway sends it on preflights only", h.name));
        }
    }
    cors
}

/// [`merge_rules`] after converting every origin entry with `add`: entries
/// that convert to nothing (unsafe, inexpressible) take no part in the merge.
pub fn merge_with_origins(
    imp: &mut Import,
    rules: &[Rule],
    any_headers: &[&str],
    add: fn(&mut Import, &mut Cors, &str, usize),
) -> Cors {
    let mut yields: Vec<(String, Vec<String>)> = Vec::new();
    let mut lines = Vec::new();
    for r in rules {
        for (o, l) in &r.origins {
            if yields.iter().any(|(x, _)| x == o) {
                continue;
            }
            let mut scratch = Cors::default();
            add(imp, &mut scratch, o, *l);
            yields.push((o.clone(), scratch.origins));
            lines.extend(scratch.origin_lines);
        }
    }
    let kept: Vec<Rule> = rules
        .iter()
        .filter_map(|r| {
            let mut r = r.clone();
            r.origins
                .retain(|(o, _)| yields.iter().any(|(x, y)| x == o && !y.is_empty()));
            (!r.origins.is_empty()).then_some(r)
        })
        .collect();
    let mut cors = merge_rules(imp, &kept, any_headers);
    cors.origin_lines = lines;
    for (_, y) in yields {
        for o in y {
            if !cors.origins.contains(&o) {
                cors.origins.push(o);
            }
        }
    }
    cors
}
