//! `cors-gateway`: the policy author's tools, on the gateway's own core.
//!
//! - `check POLICY.json`: validates exactly as the gateway does (every error,
//!   with JSON path and line:column) and lints what is legal but risky.
//! - `explain`: for one request, the route, whether the browser preflights it
//!   and why, the gateway's exact answer, and what the browser then does.
//! - `compile POLICY.json -o OUT`: validates, then writes the compiled form
//!   (`cors_gateway_core::compiled`) a fresh instance loads in one pass.
//!
//! - `import --from FORMAT FILE`: a policy from another server's CORS
//!   configuration, with findings (see `import/`).
//! - `report [LOG...]`: what the gateway's JSON log lines say, for rolling out
//!   a policy (see `report`).
//!
//! `check` and `explain` also read a compiled policy. `check --format github`
//! and `--format sarif` are for CI (`report_formats`).
//!
//! Exit codes: 0 valid and clean (explain: the browser allows the request),
//! 1 valid with warnings (explain: the browser blocks it), 2 invalid policy,
//! 64 usage error (or a file that cannot be read or written).

mod advice;
mod browser;
mod import;
mod report;
mod report_formats;

use browser::{Blocked, Engine, PageRequest};
use clap::{Parser, Subcommand};
use cors_gateway_core::decision::upstream_path;
use cors_gateway_core::json::Json;
use cors_gateway_core::lint::lint;
use cors_gateway_core::locate::locate;
use cors_gateway_core::path::Target;
use cors_gateway_core::{
    compiled, decide, forwarding, Action, Decision, Policy, RequestView, Route,
};
use report_formats::CheckFormat;
use serde_json::{json, Value};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "cors-gateway",
    version,
    about = "Check, explain, compile and import cors-gateway policies; report on its logs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

impl From<Format> for CheckFormat {
    fn from(f: Format) -> Self {
        match f {
            Format::Text => CheckFormat::Text,
            Format::Json => CheckFormat::Json,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Validate a policy as the gateway does, and lint it.
    Check {
        policy: String,
        #[arg(long, value_enum, default_value = "text")]
        format: CheckFormat,
    },
    /// What the gateway and the browser do with one request.
    Explain {
        #[arg(long)]
        policy: String,
        /// The page's origin, e.g. https://app.example.com
        #[arg(long, required_unless_present = "raw")]
        origin: Option<String>,
        #[arg(long, default_value = "GET")]
        method: String,
        /// A header the page's script sets: `name` or `name: value`. Repeatable.
        #[arg(long = "header")]
        headers: Vec<String>,
        #[arg(long, default_value = "/")]
        path: String,
        /// credentials: 'include' (cookies, HTTP auth).
        #[arg(long)]
        credentials: bool,
        /// Evaluate exactly this request as the gateway receives it (headers
        /// from --request-header), without the browser model.
        #[arg(long)]
        raw: bool,
        /// With --raw: a request header `name: value`. Repeatable.
        #[arg(long = "request-header")]
        request_headers: Vec<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Validate a policy, then write its compiled form: what a host without
    /// instance reuse loads fastest (large origin lists). The gateway reads it
    /// wherever it reads the JSON.
    Compile {
        policy: String,
        /// Where to write it; replaced atomically (a running gateway reading
        /// it sees the old or the new file, never a partial one).
        #[arg(long, short)]
        output: String,
    },
    /// Summarise the gateway's JSON log lines (CORS_GATEWAY_LOG=json): requests
    /// by route, kind and outcome, refused origins with the fix for each, and
    /// where a candidate policy decided differently.
    Report {
        /// Log files (default, or `-`: standard input).
        files: Vec<String>,
        /// The live policy: fixes name its exact fields.
        #[arg(long)]
        policy: Option<String>,
        /// Write the policy with the fixes applied here (needs --policy).
        #[arg(long)]
        suggest: Option<String>,
        /// An origin the suggestion must not add. Repeatable.
        #[arg(long)]
        except: Vec<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Convert another server's CORS configuration into a policy, naming
    /// everything unsafe or inexpressible in it.
    Import {
        #[arg(long, value_enum)]
        from: import::Source,
        file: String,
        /// Where the routes send (default: what the source names, else a placeholder).
        #[arg(long)]
        upstream: Option<String>,
        /// Write the policy here (the findings go to stdout); without it the
        /// policy goes to stdout and the findings to stderr.
        #[arg(long, short)]
        output: Option<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 64 } else { 0 });
        }
    };
    let code = match cli.command {
        Command::Check { policy, format } => check(&policy, format),
        Command::Compile { policy, output } => compile(&policy, &output),
        Command::Report {
            files,
            policy,
            suggest,
            except,
            format,
        } => report::run(&report::Options {
            files: &files,
            policy: policy.as_deref(),
            suggest: suggest.as_deref(),
            except: &except,
            json: format == Format::Json,
        }),
        Command::Import {
            from,
            file,
            upstream,
            output,
            format,
        } => import::run(
            from,
            &file,
            upstream.as_deref(),
            output.as_deref(),
            format == Format::Json,
        ),
        Command::Explain {
            policy,
            origin,
            method,
            headers,
            path,
            credentials,
            raw,
            request_headers,
            format,
        } => {
            if raw {
                explain_raw(&policy, &method, &path, &request_headers, format)
            } else {
                let origin = origin.unwrap_or_default();
                explain(
                    &policy,
                    &origin,
                    &method,
                    &headers,
                    &path,
                    credentials,
                    format,
                )
            }
        }
    };
    ExitCode::from(code)
}

/// Reads and validates a policy; on failure prints every error and returns the exit code.
/// `doc` is the tree the core validated, which the lints and fixes walk. For a
/// compiled policy, `text` and `doc` are its JSON part (origin lists without
/// the patterns it moved to tables).
fn load(file: &str, format: CheckFormat) -> Result<(Policy, String, Json<'static>), u8> {
    let mut is_compiled = false;
    let read = std::fs::read(file).and_then(|bytes| {
        if compiled::is_compiled(&bytes) {
            is_compiled = true;
            let json = compiled::json_part(&bytes).unwrap_or_default().into_owned();
            // The core's loader validates the JSON part inside; the fixes
            // read it again here (a compiled policy is not linted).
            let tree = Json::parse(&json).map_or(Json::Null, Json::into_owned);
            Ok((compiled::load(bytes).map(|p| (p, tree)), json))
        } else {
            String::from_utf8(bytes)
                .map(|t| {
                    let loaded = Policy::from_json_tree(&t).map(|(p, tree)| (p, tree.into_owned()));
                    (loaded, t)
                })
                .map_err(|_| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "stream did not contain valid UTF-8",
                    )
                })
        }
    });
    let (result, text) = match read {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cors-gateway: cannot read {file}: {e}");
            return Err(64);
        }
    };
    match result {
        Ok((p, doc)) => Ok((p, text, doc)),
        Err(errors) => {
            let items: Vec<Value> = errors
                .0
                .iter()
                .map(|e| {
                    // A compiled file is binary: positions in its JSON part mean nothing to the reader.
                    let (line, column) = e
                        .line_col
                        .or_else(|| locate(&text, &e.path).filter(|_| !is_compiled))
                        .unwrap_or((0, 0));
                    json!({"path": e.path, "line": line, "column": column, "message": e.message})
                })
                .collect();
            match format {
                CheckFormat::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &json!({"file": file, "valid": false, "errors": items, "warnings": []})
                    )
                    .unwrap_or_default()
                ),
                CheckFormat::Github => print!("{}", report_formats::github(file, &items, &[])),
                CheckFormat::Sarif => print!("{}", report_formats::sarif(file, &items, &[])),
                CheckFormat::Text => {
                    println!(
                        "{file}: invalid, {} error{}",
                        items.len(),
                        if items.len() == 1 { "" } else { "s" }
                    );
                    for i in &items {
                        let at = if i["path"] == "" {
                            "document".to_string()
                        } else {
                            i["path"].as_str().unwrap_or("").to_string()
                        };
                        let position = match (i["line"].as_u64(), i["column"].as_u64()) {
                            (Some(l), Some(c)) if l > 0 => format!(" ({l}:{c})"),
                            _ => String::new(),
                        };
                        println!(
                            "  error: {at}{position}: {}",
                            i["message"].as_str().unwrap_or("")
                        );
                    }
                }
            }
            Err(2)
        }
    }
}

fn check(file: &str, format: CheckFormat) -> u8 {
    let (policy, text, doc) = match load(file, format) {
        Ok(x) => x,
        Err(code) => return code,
    };
    if let Some(digest) = policy.compiled_from {
        // Its origin lists are tables: lint the JSON it came from.
        let sha: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        match format {
            CheckFormat::Json => println!(
                "{}",
                serde_json::to_string_pretty(&json!({"file": file, "valid": true, "compiled": true, "compiled_from_sha256": sha, "routes": policy.routes.len(), "errors": [], "warnings": []}))
                    .unwrap_or_default()
            ),
            CheckFormat::Github => {}
            CheckFormat::Sarif => print!("{}", report_formats::sarif(file, &[], &[])),
            CheckFormat::Text => println!(
                "{file}: valid compiled policy, {} route{}, compiled from JSON with SHA-256 {sha} (run check on that JSON for warnings)",
                policy.routes.len(),
                if policy.routes.len() == 1 { "" } else { "s" },
            ),
        }
        return 0;
    }
    let lints = lint(&policy, &doc);
    let warnings: Vec<Value> = lints
        .iter()
        .map(|l| {
            let (line, column) = locate(&text, &l.path).unwrap_or((0, 0));
            json!({"code": l.code, "path": l.path, "line": line, "column": column, "message": l.message})
        })
        .collect();
    match format {
        CheckFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({"file": file, "valid": true, "routes": policy.routes.len(), "errors": [], "warnings": warnings}))
                .unwrap_or_default()
        ),
        CheckFormat::Github => print!("{}", report_formats::github(file, &[], &warnings)),
        CheckFormat::Sarif => print!("{}", report_formats::sarif(file, &[], &warnings)),
        CheckFormat::Text => {
            println!(
                "{file}: valid, {} route{}, {} warning{}",
                policy.routes.len(),
                if policy.routes.len() == 1 { "" } else { "s" },
                warnings.len(),
                if warnings.len() == 1 { "" } else { "s" }
            );
            for w in &warnings {
                println!(
                    "  warning[{}]: {} ({}:{}): {}",
                    w["code"].as_str().unwrap_or(""),
                    w["path"].as_str().unwrap_or(""),
                    w["line"],
                    w["column"],
                    w["message"].as_str().unwrap_or("")
                );
            }
        }
    }
    u8::from(!warnings.is_empty())
}

fn compile(file: &str, output: &str) -> u8 {
    use sha2::{Digest, Sha256};
    // The same validation and messages as `check`.
    let text = match load(file, CheckFormat::Text) {
        Ok((policy, text, _)) if policy.compiled_from.is_none() => text,
        Ok(_) => {
            eprintln!("cors-gateway: {file} is compiled already; compile the JSON it came from");
            return 64;
        }
        Err(code) => return code,
    };
    let bytes = match compiled::compile(&text, Sha256::digest(text.as_bytes()).into()) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("cors-gateway: {file}: {e}");
            return 2;
        }
    };
    // Write beside the target, then rename over it: atomic on one filesystem.
    let tmp = format!("{output}.tmp-{}", std::process::id());
    if let Err(e) = std::fs::write(&tmp, &bytes).and_then(|()| std::fs::rename(&tmp, output)) {
        let _ = std::fs::remove_file(&tmp);
        eprintln!("cors-gateway: cannot write {output}: {e}");
        return 64;
    }
    println!(
        "{file}: compiled to {output} ({} bytes, {} bytes of JSON)",
        bytes.len(),
        text.len()
    );
    0
}

fn split_header(h: &str) -> (String, String) {
    match h.split_once(':') {
        Some((n, v)) => (n.trim().to_ascii_lowercase(), v.trim().to_string()),
        None => (h.trim().to_ascii_lowercase(), "1".into()),
    }
}

/// The gateway's answer to one request: status ("forward" or a number),
/// failure code and the headers it adds.
fn answer(d: &Decision<'_>) -> (Value, Option<&'static str>, Vec<(String, String)>) {
    let status = match d.status() {
        None => Value::from("forward"),
        Some(s) => Value::from(s.as_u16()),
    };
    let headers = d
        .headers()
        .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v).into_owned()))
        .collect();
    (status, d.failure.map(|f| f.code()), headers)
}

/// The gateway's answer to exactly this request, the route it chose and,
/// when forwarded, the URL the upstream is sent and the request headers it
/// receives.
type RawAnswer = (
    Value,
    Option<&'static str>,
    Vec<(String, String)>,
    Option<String>,
    Option<(String, Vec<(String, String)>)>,
    bool,
);

/// The request headers the upstream receives, by the rules the component
/// applies (`forwarding::request_headers`), for a client that addressed the
/// request's `Host` over https; the client address, which only the host
/// knows, is left out.
fn forwarded_headers(route: &Route, headers: &[(String, String)]) -> Vec<(String, String)> {
    let raw: Vec<(&str, Vec<u8>)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_bytes().to_vec()))
        .collect();
    let host = headers
        .iter()
        .find(|(n, _)| n == "host")
        .map(|(_, v)| v.as_str());
    let peer = forwarding::Peer {
        client_ip: None,
        host,
        proto: "https",
    };
    forwarding::request_headers(&raw, &route.forward, &peer)
        .into_iter()
        .map(|(n, v)| (n, String::from_utf8_lossy(&v).into_owned()))
        .collect()
}

fn decide_raw(
    policy: &Policy,
    method: &str,
    path: &str,
    headers: &[(String, String)],
) -> RawAnswer {
    let mut scratch = Vec::new();
    let target = Target::parse(path);
    let view = RequestView::from_headers(method, &target.path, headers, &mut scratch);
    let d = decide(policy, &view);
    let (status, failure, out) = answer(&d);
    let transparent = d.is_report_only();
    // Where the request goes: a report-only route forwards it whatever its
    // would-be decision, as the component does.
    let upstream = match d.action {
        Action::Forward(r) | Action::ReportOnly { route: r, .. } => Some((
            format!(
                "{}://{}{}",
                r.upstream.scheme.as_str(),
                r.upstream.authority,
                upstream_path(r, &target.path, target.query)
            ),
            forwarded_headers(r, headers),
        )),
        _ => None,
    };
    (
        status,
        failure,
        out,
        d.route().map(|r| r.name.clone()),
        upstream,
        transparent,
    )
}

fn explain_raw(
    file: &str,
    method: &str,
    path: &str,
    request_headers: &[String],
    format: Format,
) -> u8 {
    let (policy, _, _) = match load(file, format.into()) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let headers: Vec<(String, String)> = request_headers.iter().map(|h| split_header(h)).collect();
    let (status, failure, out, route, forwarded, transparent) =
        decide_raw(&policy, method, path, &headers);
    let pairs = |h: &[(String, String)]| h.iter().map(|(n, v)| json!([n, v])).collect::<Vec<_>>();
    let upstream = forwarded.as_ref().map(|(u, _)| u);
    let doc = json!({"route": route, "status": status, "failure": failure, "upstream": upstream,
                     "transparent": transparent, "headers": pairs(&out),
                     "forwarded_headers": forwarded.as_ref().map(|(_, h)| pairs(h))});
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default()),
        Format::Text => {
            println!(
                "{method} {path} -> {status} (route {})",
                route.as_deref().unwrap_or("none")
            );
            if let Some(f) = failure {
                println!("  failed check: {f}");
            }
            if transparent {
                println!("  report-only: forwarded untouched; the above is only logged");
            }
            for (n, v) in &out {
                println!("  {n}: {v}");
            }
            if let Some((u, sent)) = &forwarded {
                println!("  forwarded to {u} with:");
                for (n, v) in sent {
                    println!("    {n}: {v}");
                }
            }
        }
    }
    0
}

/// Said of a request on a report-only route, whose real answer is the upstream's.
const REPORT_ONLY: &str = "report-only route: the gateway forwards this request (and its preflight) untouched and only logs its decision, so the browser judges the upstream's own CORS headers. The answers and the verdict above are what the policy does once enforced.";

/// What the browser's refusal comes from: the gateway's failed check, else
/// credentials the policy does not allow.
fn problem<'a>(d: &Decision<'a>, credentials: bool) -> Option<advice::Problem<'a>> {
    d.failure
        .map(advice::Problem::Failure)
        .or(credentials.then_some(advice::Problem::Credentials))
}

/// The advice for a failed check (see `advice`).
fn suggestion(
    doc: &Json,
    route: Option<usize>,
    problem: advice::Problem<'_>,
    req: &PageRequest<'_>,
    header: Option<&str>,
) -> Option<String> {
    let refused = advice::Refused {
        origin: req.origin,
        method: req.method,
        path: req.url.trim_start_matches("<gateway>"),
        header,
    };
    advice::fix(doc, route, problem, &refused).map(|f| f.text)
}

fn explain(
    file: &str,
    origin: &str,
    method: &str,
    headers: &[String],
    path: &str,
    credentials: bool,
    format: Format,
) -> u8 {
    let (policy, _, doc) = match load(file, format.into()) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let page_headers: Vec<(String, String)> = headers.iter().map(|h| split_header(h)).collect();
    let url = format!("<gateway>{path}");
    // Routed and decided on the normalised path, as the gateway does.
    let target = Target::parse(path);
    let path: &str = &target.path;
    let req = PageRequest {
        url: &url,
        origin,
        method,
        headers: &page_headers,
        credentials,
    };
    let route = policy.route_for(path);
    let route_index = route.map(|r| r.index);
    let reasons = browser::preflight_reasons(&req);
    let mut steps: Vec<Value> = Vec::new();
    let mut verdict: Result<Vec<String>, (Blocked, Option<String>)> = Ok(Vec::new());
    // Seconds each engine keeps an accepted preflight answer.
    let mut cached: Option<u32> = None;

    if !reasons.is_empty() {
        let unsafe_names = browser::unsafe_header_names(&req);
        let mut pre = vec![
            ("origin".to_string(), origin.to_string()),
            ("access-control-request-method".into(), method.to_string()),
        ];
        if !unsafe_names.is_empty() {
            pre.push((
                "access-control-request-headers".into(),
                unsafe_names.join(","),
            ));
        }
        let mut scratch = Vec::new();
        let view = RequestView::from_headers("OPTIONS", path, &pre, &mut scratch);
        let d = decide(&policy, &view);
        let (status, failure, out) = answer(&d);
        let status_num = status.as_u64().map_or(0, |s| s as u16);
        steps.push(json!({"request": "preflight", "sent": pre.iter().map(|(n, v)| json!([n, v])).collect::<Vec<_>>(),
                          "status": status, "failure": failure, "headers": out.iter().map(|(n, v)| json!([n, v])).collect::<Vec<_>>()}));
        let check = browser::check_preflight(&req, status_num, &out);
        if check.is_ok() {
            cached = out
                .iter()
                .find(|(n, _)| n == "access-control-max-age")
                .and_then(|(_, v)| v.parse().ok());
        }
        if let Err(blocked) = check {
            let header = match d.failure {
                Some(cors_gateway_core::Failure::HeaderNotAllowed(h)) => Some(h.to_string()),
                Some(cors_gateway_core::Failure::AuthorizationNeedsListing) => {
                    Some("authorization".into())
                }
                _ => None,
            };
            let fix = problem(&d, credentials)
                .and_then(|p| suggestion(&doc, route_index, p, &req, header.as_deref()));
            verdict = Err((blocked, fix));
        }
    }
    if verdict.is_ok() {
        let mut actual = vec![("origin".to_string(), origin.to_string())];
        actual.extend(page_headers.iter().cloned());
        let mut scratch = Vec::new();
        let view = RequestView::from_headers(method, path, &actual, &mut scratch);
        let d = decide(&policy, &view);
        let (status, failure, out) = answer(&d);
        steps.push(
            json!({"request": "actual", "status": status, "failure": failure,
                          "headers": out.iter().map(|(n, v)| json!([n, v])).collect::<Vec<_>>()}),
        );
        let status_num = status.as_u64().map(|s| s as u16);
        verdict = match browser::check_response(&req, status_num, &out) {
            Ok(()) => Ok(browser::exposed(&req, &out)),
            Err(blocked) => Err((
                blocked,
                problem(&d, credentials).and_then(|p| suggestion(&doc, route_index, p, &req, None)),
            )),
        };
    }

    let mut notes: Vec<String> = Vec::new();
    if route.map_or(policy.defaults.allow_private_network, |r| {
        r.cors.allow_private_network
    }) {
        notes.push(browser::LOCAL_NETWORK_ACCESS.to_string());
    }
    let report_only = route.map_or(policy.defaults.mode, |r| r.cors.mode)
        == cors_gateway_core::policy::Mode::ReportOnly;
    if report_only {
        notes.push(REPORT_ONLY.to_string());
    }
    let doc_out = json!({
        "route": route.map(|r| r.name.clone()),
        "report_only": report_only,
        "preflight": !reasons.is_empty(),
        "preflight_reasons": reasons,
        "steps": steps,
        "browser": match &verdict {
            Ok(exposed) => {
                let mut b = json!({"allowed": true, "readable_extra_headers": exposed});
                if let Some(secs) = cached {
                    b["preflight_cached_secs"] = Engine::ALL
                        .iter()
                        .map(|e| (e.key().to_string(), json!(secs.min(e.max_age_cap()))))
                        .collect::<serde_json::Map<_, _>>()
                        .into();
                }
                b
            }
            Err((blocked, fix)) => json!({
                "allowed": false,
                "console": blocked.console(Engine::Chromium, &req).join("\n"),
                "consoles": Engine::ALL
                    .iter()
                    .map(|e| (e.key().to_string(), json!(blocked.console(*e, &req))))
                    .collect::<serde_json::Map<_, _>>(),
                "fix": fix,
            }),
        },
        "notes": notes,
    });
    match format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&doc_out).unwrap_or_default()
        ),
        Format::Text => {
            println!(
                "request:   {method} {path} from {origin}{}",
                if credentials { " with credentials" } else { "" }
            );
            println!(
                "route:     {}",
                route.map_or("none (the gateway answers 404)".to_string(), |r| format!(
                    "{} ({} -> {})",
                    r.name, r.path_prefix, r.upstream
                ))
            );
            if reasons.is_empty() {
                println!("preflight: no (a simple request: safelisted method and headers)");
            } else {
                println!("preflight: yes, because {}", reasons.join("; "));
            }
            for s in &steps {
                let status = match &s["status"] {
                    Value::String(_) => "forwarded to the upstream".to_string(),
                    v => format!("answered {v} by the gateway"),
                };
                println!(
                    "\n{} -> {status}{}",
                    s["request"].as_str().unwrap_or(""),
                    s["failure"]
                        .as_str()
                        .map(|f| format!(" (failed check: {f})"))
                        .unwrap_or_default()
                );
                for h in s["headers"].as_array().into_iter().flatten() {
                    println!(
                        "  {}: {}",
                        h[0].as_str().unwrap_or(""),
                        h[1].as_str().unwrap_or("")
                    );
                }
            }
            match &verdict {
                Ok(exposed) => {
                    println!("\nbrowser:   allowed; the page can read the response");
                    if !exposed.is_empty() {
                        println!(
                            "           and these headers beyond the safelisted ones: {}",
                            exposed.join(", ")
                        );
                    }
                    if let Some(secs) = cached {
                        let per: Vec<String> = Engine::ALL
                            .iter()
                            .map(|e| {
                                let cap = e.max_age_cap();
                                if secs > cap {
                                    format!("{} {cap} s (its cap)", e.label())
                                } else {
                                    format!("{} {secs} s", e.label())
                                }
                            })
                            .collect();
                        println!("cached:    the preflight answer, {}", per.join(", "));
                    }
                }
                Err((blocked, fix)) => {
                    println!("\nbrowser:   BLOCKED. The console says:");
                    for e in Engine::ALL {
                        println!("  {}:", e.label());
                        for line in blocked.console(e, &req) {
                            println!("    {line}");
                        }
                    }
                    if let Some(f) = fix {
                        println!("fix:       {f}");
                    }
                }
            }
            for n in &notes {
                println!("note:      {n}");
            }
        }
    }
    u8::from(verdict.is_err())
}
