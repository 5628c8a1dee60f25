//! `cors-gateway report`: what the gateway's JSON log lines
//! (`CORS_GATEWAY_LOG=json`) say, for an operator rolling out a policy:
//! requests by route, kind and outcome; the refused origins (would-refuse on
//! report-only routes) with the policy change that fixes each (`advice`, as
//! `explain` advises); where a candidate policy decided differently; and, with
//! `--suggest`, the policy with those changes applied, validated by the core.

use crate::advice::{self, Edit, Problem, Refused};
use cors_gateway_core::json::Json;
use cors_gateway_core::Failure;
use cors_gateway_core::Policy;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, Write as _};

/// `println!` into the report's text.
macro_rules! say {
    ($out:expr, $($arg:tt)*) => {{
        let _ = writeln!($out, $($arg)*);
    }};
}

pub struct Options<'a> {
    /// Log files; none (or `-`) reads stdin.
    pub files: &'a [String],
    /// The policy the fixes name fields of (and `--suggest` edits).
    pub policy: Option<&'a str>,
    /// Where to write the policy with the fixes applied.
    pub suggest: Option<&'a str>,
    /// Origins the suggestion must not add.
    pub except: &'a [String],
    pub json: bool,
}

/// What is read of one `request` line.
struct Request {
    route: String,
    kind: String,
    outcome: String,
    failure: Option<String>,
    detail: Option<String>,
    origin: Option<String>,
    method: String,
    path: String,
    sha: String,
    candidate: Option<Value>,
}

impl Request {
    fn from(v: &Value) -> Request {
        let s = |k: &str| v[k].as_str().map(str::to_string);
        Request {
            route: s("route").unwrap_or_else(|| "-".into()),
            kind: s("kind").unwrap_or_else(|| "-".into()),
            outcome: s("decision").unwrap_or_else(|| "-".into()),
            failure: s("failure"),
            detail: s("failure_detail"),
            origin: s("origin"),
            method: s("method").unwrap_or_default(),
            path: s("path").unwrap_or_default(),
            sha: s("policy_sha256").unwrap_or_else(|| "-".into()),
            candidate: v.get("candidate").filter(|c| c.is_object()).cloned(),
        }
    }
}

/// (route, origin, outcome, failure, failure detail).
type RefusalKey = (String, String, String, String, String);
/// (route, kind, origin, live decision, candidate decision).
type DifferenceKey = (String, String, String, String, String);

#[derive(Default)]
struct Tally {
    requests: usize,
    /// Requests to the gateway's own endpoints (health, admin).
    own: usize,
    messages: usize,
    /// Lines that are not the gateway's JSON (the host's own output).
    foreign: usize,
    policies: BTreeMap<String, usize>,
    candidates: BTreeMap<String, usize>,
    by_route: BTreeMap<(String, String, String), usize>,
    /// (route, origin, outcome, failure, detail) → (count, a method and path seen).
    refused: BTreeMap<RefusalKey, (usize, String, String)>,
    /// (route, kind, origin, live, candidate) → count.
    differences: BTreeMap<DifferenceKey, usize>,
    /// Distinct ERROR and WARNING messages → count.
    problems: BTreeMap<String, usize>,
}

impl Tally {
    fn line(&mut self, line: &str) {
        // Hosts prefix their instances' lines (`stderr [3] :: `).
        let parsed = line
            .find('{')
            .and_then(|i| serde_json::from_str::<Value>(&line[i..]).ok())
            .filter(|v| v["event"].is_string());
        let Some(v) = parsed else {
            if !line.trim().is_empty() {
                self.foreign += 1;
            }
            return;
        };
        if v["event"] != "request" {
            self.messages += 1;
            let m = v["message"].as_str().unwrap_or_default();
            if m.starts_with("ERROR") || m.starts_with("WARNING") {
                *self.problems.entry(m.to_string()).or_default() += 1;
            }
            return;
        }
        let r = Request::from(&v);
        self.requests += 1;
        // Health and the admin endpoint: the gateway's own, decided by no policy.
        if v["kind"].is_null() {
            self.own += 1;
            return;
        }
        *self.policies.entry(r.sha.clone()).or_default() += 1;
        *self
            .by_route
            .entry((r.route.clone(), r.kind.clone(), r.outcome.clone()))
            .or_default() += 1;
        if matches!(r.outcome.as_str(), "refuse" | "would-refuse") {
            let key = (
                r.route.clone(),
                r.origin.clone().unwrap_or_else(|| "-".into()),
                r.outcome.clone(),
                r.failure.clone().unwrap_or_else(|| "-".into()),
                r.detail.clone().unwrap_or_default(),
            );
            let e = self
                .refused
                .entry(key)
                .or_insert_with(|| (0, r.method.clone(), r.path.clone()));
            e.0 += 1;
        }
        if let Some(c) = &r.candidate {
            let sha = c["sha256"].as_str().unwrap_or("-").to_string();
            *self.candidates.entry(sha).or_default() += 1;
            if c["differs"] == true {
                let live = outcome(&r.outcome, r.failure.as_deref());
                let mut cand =
                    outcome(c["decision"].as_str().unwrap_or("-"), c["failure"].as_str());
                // Alike in outcome and check, so the answer's headers differ
                // (another max-age, other allowed headers).
                if live.trim_start_matches("would-") == cand {
                    cand.push_str(" (other headers)");
                }
                let key = (
                    r.route.clone(),
                    r.kind.clone(),
                    r.origin.clone().unwrap_or_else(|| "-".into()),
                    live,
                    cand,
                );
                *self.differences.entry(key).or_default() += 1;
            }
        }
    }
}

/// `refuse origin-not-allowed`, `allow`: a decision in one phrase.
fn outcome(decision: &str, failure: Option<&str>) -> String {
    match failure {
        Some(f) => format!("{decision} {f}"),
        None => decision.to_string(),
    }
}

/// The policy the fixes are named against: its document, its SHA-256 and
/// where each route name sits.
struct Live {
    file: String,
    /// The tree the core validated.
    doc: Json<'static>,
    sha: String,
}

impl Live {
    fn route_index(&self, name: &str) -> Option<usize> {
        self.doc["routes"]
            .as_array()?
            .iter()
            .position(|r| r["name"].as_str() == Some(name))
    }
}

pub fn run(o: &Options<'_>) -> u8 {
    let mut tally = Tally::default();
    let stdin = o.files.is_empty() || o.files.iter().any(|f| f == "-");
    let mut inputs: Vec<(String, Box<dyn BufRead>)> = Vec::new();
    for f in o.files.iter().filter(|f| *f != "-") {
        match std::fs::File::open(f) {
            Ok(file) => inputs.push((f.clone(), Box::new(std::io::BufReader::new(file)))),
            Err(e) => {
                eprintln!("cors-gateway: cannot read {f}: {e}");
                return 64;
            }
        }
    }
    if stdin {
        inputs.push(("<stdin>".into(), Box::new(std::io::stdin().lock())));
    }
    for (name, input) in inputs {
        for line in input.split(b'\n') {
            match line {
                // Log values are lossy UTF-8 already; a stray byte costs one line.
                Ok(bytes) => tally.line(&String::from_utf8_lossy(&bytes)),
                Err(e) => {
                    eprintln!("cors-gateway: cannot read {name}: {e}");
                    return 64;
                }
            }
        }
    }

    let live = match o.policy {
        None => None,
        Some(file) => match read_policy(file) {
            Ok(l) => Some(l),
            Err(code) => return code,
        },
    };
    if o.suggest.is_some() && live.is_none() {
        eprintln!("cors-gateway: --suggest needs --policy (the policy to change)");
        return 64;
    }

    // Fixes, and the edits among them, per refusal.
    let null = Json::Null;
    let mut rows = Vec::new();
    let mut edits: BTreeMap<Edit, usize> = BTreeMap::new();
    for ((route, origin, outcome, failure, detail), (count, method, path)) in &tally.refused {
        let index = live.as_ref().and_then(|l| l.route_index(route));
        let doc = live.as_ref().map_or(&null, |l| &l.doc);
        let refused = Refused {
            origin,
            method: if detail.is_empty() { method } else { detail },
            path,
            header: (!detail.is_empty()).then_some(detail.as_str()),
        };
        // `detail` is the log's `failure_detail` (`""` without one).
        let fix = Failure::from_code(failure, detail)
            .and_then(|f| advice::fix(doc, index, Problem::Failure(f), &refused));
        // A cut origin (the log keeps 256 bytes) is not the one to allow.
        let usable = |e: &&Edit| {
            e.field != "allow_origins" || (origin.len() < 256 && !o.except.contains(origin))
        };
        if let Some(e) = fix.as_ref().and_then(|f| f.edit.as_ref()).filter(usable) {
            *edits.entry(e.clone()).or_default() += count;
        }
        rows.push((
            *count,
            route,
            origin,
            outcome,
            failure,
            detail,
            fix.map(|f| f.text),
        ));
    }
    // Most frequent first; ties in the map's (stable) order.
    rows.sort_by_key(|r| std::cmp::Reverse(r.0));

    let suggestion = match (&live, edits.is_empty()) {
        (Some(l), false) => match suggest(l, &edits, o.suggest) {
            Ok(doc) => Some(doc),
            Err(e) => {
                eprintln!("cors-gateway: {e}");
                return 1;
            }
        },
        _ => None,
    };
    let mut differences: Vec<_> = tally.differences.iter().collect();
    differences.sort_by_key(|d| std::cmp::Reverse(*d.1));

    if o.json {
        let doc = json!({
            "requests": tally.requests,
            "to_the_gateway": tally.own,
            "other_lines": {"messages": tally.messages, "not_from_the_gateway": tally.foreign},
            "policies": counts(&tally.policies),
            "candidates": counts(&tally.candidates),
            "problems": tally.problems.iter().map(|(m, n)| json!({"message": m, "count": n})).collect::<Vec<_>>(),
            "by_route": tally.by_route.iter().map(|((route, kind, outcome), n)| json!({"route": route, "kind": kind, "outcome": outcome, "count": n})).collect::<Vec<_>>(),
            "refused": rows.iter().map(|(n, route, origin, outcome, failure, detail, fix)| json!({
                "count": n, "route": route, "origin": origin, "outcome": outcome, "failure": failure,
                "failure_detail": (!detail.is_empty()).then_some(detail), "fix": fix})).collect::<Vec<_>>(),
            "candidate_differences": differences.iter().map(|((route, kind, origin, l, c), n)| json!({
                "count": n, "route": route, "kind": kind, "origin": origin, "live": l, "candidate": c})).collect::<Vec<_>>(),
            "suggestion": suggestion.as_ref().map(|doc| json!({
                "changes": edits.iter().map(|(e, n)| json!({"path": e.path(), "add": e.add, "set": e.add.is_none().then_some(true), "refusals": n})).collect::<Vec<_>>(),
                "written_to": o.suggest,
                "policy": doc,
            })),
        });
        let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
        text.push('\n');
        let _ = std::io::stdout().write_all(text.as_bytes());
        return 0;
    }

    let mut out = String::new();
    print_text(
        &tally,
        &rows,
        &differences,
        live.as_ref(),
        &edits,
        o,
        &mut out,
    );
    // One write, its failure ignored: `report | head` must not panic.
    let _ = std::io::stdout().write_all(out.as_bytes());
    0
}

fn counts(m: &BTreeMap<String, usize>) -> Vec<Value> {
    m.iter()
        .map(|(sha, n)| json!({"sha256": sha, "requests": n}))
        .collect()
}

fn read_policy(file: &str) -> Result<Live, u8> {
    let bytes = std::fs::read(file).map_err(|e| {
        eprintln!("cors-gateway: cannot read {file}: {e}");
        64u8
    })?;
    let text = String::from_utf8(bytes.clone()).map_err(|_| {
        eprintln!("cors-gateway: {file} is not a JSON policy (a compiled one cannot be edited; give its source)");
        64u8
    })?;
    let doc = match Policy::from_json_tree(&text) {
        Ok((_, tree)) => tree.into_owned(),
        Err(errors) => {
            eprintln!(
                "cors-gateway: {file} is not a valid policy ({} errors; `cors-gateway check {file}` lists them)",
                errors.0.len()
            );
            return Err(2);
        }
    };
    Ok(Live {
        file: file.to_string(),
        doc,
        sha: hex(&Sha256::digest(&bytes)),
    })
}

/// Pretty JSON in the document's own order (the tree keeps it, and a policy
/// reads top-down: `version`, `cors`, `routes`), new members last.
fn pretty(v: &Json<'_>, depth: usize, out: &mut String) {
    let pad = |d: usize| "  ".repeat(d);
    match v {
        Json::Object(members) if !members.is_empty() => {
            out.push_str("{\n");
            for (i, (k, item)) in members.iter().enumerate() {
                out.push_str(&pad(depth + 1));
                out.push_str(&serde_json::to_string(&**k).unwrap_or_default());
                out.push_str(": ");
                pretty(item, depth + 1, out);
                out.push_str(if i + 1 < members.len() { ",\n" } else { "\n" });
            }
            out.push_str(&pad(depth));
            out.push('}');
        }
        // Lists of plain values stay on one line, as policies write them.
        Json::Array(items)
            if items
                .iter()
                .all(|i| !matches!(i, Json::Object(_) | Json::Array(_))) =>
        {
            out.push_str(&v.to_string().replace("\",\"", "\", \""));
        }
        Json::Array(items) => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                out.push_str(&pad(depth + 1));
                pretty(item, depth + 1, out);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            out.push_str(&pad(depth));
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The policy with every edit applied; refused unless the core loads it.
fn suggest(
    live: &Live,
    edits: &BTreeMap<Edit, usize>,
    out: Option<&str>,
) -> Result<Json<'static>, String> {
    let mut doc = live.doc.clone();
    for e in edits.keys() {
        advice::apply(&mut doc, e)?;
    }
    let mut text = String::new();
    pretty(&doc, 0, &mut text);
    text.push('\n');
    if let Err(errors) = Policy::from_json(&text) {
        let first = errors
            .0
            .first()
            .map_or(String::new(), |e| format!(": {}: {}", e.path, e.message));
        return Err(format!(
            "the suggested changes do not make a valid policy{first}"
        ));
    }
    if let Some(out) = out {
        std::fs::write(out, &text).map_err(|e| format!("cannot write {out}: {e}"))?;
    }
    Ok(doc)
}

/// Left-aligned columns, two spaces apart; counts right-aligned. After each
/// row, its note (indented under the second column), where it has one.
fn table(out: &mut String, head: &[&str], rows: &[Vec<String>], notes: &[Option<String>]) {
    let mut width: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let print = |out: &mut String, cells: Vec<&str>| {
        let mut line = String::from(" ");
        for (i, (c, w)) in cells.iter().zip(&width).enumerate() {
            line.push(' ');
            if i == 0 {
                line.push_str(&format!("{c:>w$}"));
            } else {
                line.push_str(&format!("{c:<w$}"));
            }
            line.push(' ');
        }
        out.push_str(line.trim_end());
        out.push('\n');
    };
    print(out, head.to_vec());
    for (i, r) in rows.iter().enumerate() {
        print(out, r.iter().map(String::as_str).collect());
        if let Some(Some(note)) = notes.get(i) {
            say!(out, "{:w$}{note}", "", w = width[0] + 4);
        }
    }
}

type Row<'a> = (
    usize,
    &'a String,
    &'a String,
    &'a String,
    &'a String,
    &'a String,
    Option<String>,
);

fn print_text(
    tally: &Tally,
    rows: &[Row<'_>],
    differences: &[(&DifferenceKey, &usize)],
    live: Option<&Live>,
    edits: &BTreeMap<Edit, usize>,
    o: &Options<'_>,
    out: &mut String,
) {
    let own = match tally.own {
        0 => String::new(),
        n => format!(", {n} of them to the gateway's own endpoints"),
    };
    say!(
        out,
        "{} request{} logged{own} ({} message line{}, {} line{} not from the gateway)",
        tally.requests,
        plural(tally.requests),
        tally.messages,
        plural(tally.messages),
        tally.foreign,
        plural(tally.foreign)
    );
    for (sha, n) in &tally.policies {
        say!(out, "policy    {sha}  {n} request{}", plural(*n));
    }
    for (sha, n) in &tally.candidates {
        say!(out, "candidate {sha}  {n} request{}", plural(*n));
    }
    if let Some(l) = live {
        if !tally.policies.contains_key(&l.sha) {
            say!(
                out,
                "note: {} (sha256 {}) decided none of these requests; the fixes name its fields",
                l.file,
                l.sha
            );
        }
    }
    for (m, n) in &tally.problems {
        say!(out, "logged {n}×: {m}");
    }

    say!(out, "\nrequests by route, kind and outcome:");
    let by: Vec<Vec<String>> = tally
        .by_route
        .iter()
        .map(|((r, k, out), n)| vec![n.to_string(), r.clone(), k.clone(), out.clone()])
        .collect();
    table(out, &["count", "route", "kind", "outcome"], &by, &[]);

    say!(
        out,
        "\nrefused origins (would-refuse: on a report-only route, forwarded all the same):"
    );
    if rows.is_empty() {
        say!(out, "  none");
    } else {
        let t: Vec<Vec<String>> = rows
            .iter()
            .map(|(n, route, origin, outcome, failure, detail, _)| {
                let failure = if detail.is_empty() {
                    failure.to_string()
                } else {
                    format!("{failure} ({detail})")
                };
                vec![
                    n.to_string(),
                    route.to_string(),
                    origin.to_string(),
                    outcome.to_string(),
                    failure,
                ]
            })
            .collect();
        let fixes: Vec<Option<String>> = rows
            .iter()
            .map(|r| r.6.as_ref().map(|f| format!("fix: {f}")))
            .collect();
        table(
            out,
            &["count", "route", "origin", "outcome", "failure"],
            &t,
            &fixes,
        );
        if live.is_none() {
            say!(
                out,
                "  (with --policy FILE the fixes name the exact field of that policy)"
            );
        }
    }

    if !tally.candidates.is_empty() {
        say!(out, "\ncandidate differences (live policy / candidate):");
        if differences.is_empty() {
            say!(
                out,
                "  none: the candidate decided every request as the live policy did"
            );
        } else {
            let t: Vec<Vec<String>> = differences
                .iter()
                .map(|((route, kind, origin, l, c), n)| {
                    vec![
                        n.to_string(),
                        route.clone(),
                        kind.clone(),
                        origin.clone(),
                        l.clone(),
                        c.clone(),
                    ]
                })
                .collect();
            table(
                out,
                &["count", "route", "kind", "origin", "live", "candidate"],
                &t,
                &[],
            );
        }
    }

    if let Some(l) = live {
        if edits.is_empty() {
            return;
        }
        say!(out, "\nsuggested change to {}:", l.file);
        for (e, n) in edits {
            let what = match &e.add {
                Some(v) => format!("add \"{v}\" to {}", e.path()),
                None => format!("set {} to true", e.path()),
            };
            say!(out, "  {what}  ({n} refusal{})", plural(*n));
        }
        say!(out, "  every origin added can read the API's responses: drop the ones nobody vouches for (--except ORIGIN)");
        match o.suggest {
            Some(file) => say!(
                out,
                "  written to {file}; `cors-gateway check {file}` validates it"
            ),
            None => say!(out, "  --suggest FILE writes the policy with these changes"),
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
