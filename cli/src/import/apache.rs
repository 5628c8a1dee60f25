//! `--from apache`: `Header add|set|append|merge|setifempty|unset` lines (with
//! or without `always`) for the `Access-Control-*` headers, in the server
//! config or a `.htaccess`, inside `<IfModule>`, with `<Location>` (and
//! `<Directory>` under the `DocumentRoot`) mapped to routes, and the
//! `SetEnvIf Origin` reflection recipe. Apache answers a preflight like any
//! request for the resource, so preflights and actual requests carry the same
//! headers.

use super::regex::{literal_dot_reading, to_origins, Conv};
use super::{cors_from_headers, Cors, Hdr, Import, ReadError, RouteSpec};

/// One logical line (continuations joined) split into words.
struct Line {
    no: usize,
    words: Vec<String>,
}

fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), '\\') if it.peek().is_some_and(|n| *n == '"' || *n == '\'') => {
                cur.extend(it.next());
            }
            (Some(_), c) => cur.push(c),
            (None, '"') | (None, '\'') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            (None, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn lines(text: &str) -> Vec<Line> {
    let mut out = Vec::new();
    let mut pending = String::new();
    let mut start = 0;
    for (i, raw) in text.lines().enumerate() {
        if pending.is_empty() {
            start = i + 1;
        }
        let t = raw.trim();
        if let Some(cont) = t.strip_suffix('\\') {
            pending.push_str(cont);
            pending.push(' ');
            continue;
        }
        pending.push_str(t);
        let l = std::mem::take(&mut pending);
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        out.push(Line {
            no: start,
            words: words(&l),
        });
    }
    out
}

/// `Header` directives of one scope, in order.
#[derive(Clone)]
struct HeaderOp {
    always: bool,
    action: String,
    name: String,
    value: String,
    env: Option<String>,
    line: usize,
}

struct Scope {
    prefix: Option<String>,
    ops: Vec<HeaderOp>,
    proxy: Option<String>,
}

/// `SetEnvIf Origin REGEX VAR=...`.
struct EnvRule {
    var: String,
    regex: String,
    value: String,
    line: usize,
}

pub fn read(text: &str) -> Result<Import, ReadError> {
    let mut imp = Import::default();
    let mut scopes = vec![Scope {
        prefix: Some("/".into()),
        ops: Vec::new(),
        proxy: None,
    }];
    let mut stack: Vec<(String, Option<usize>)> = Vec::new(); // (section, scope index)
    let mut envs: Vec<EnvRule> = Vec::new();
    let mut docroot: Option<String> = None;
    let mut ignored: Vec<(String, usize)> = Vec::new();
    let mut skipped_section: usize = 0;
    for l in lines(text) {
        let w = &l.words;
        let Some(first) = w.first() else { continue };
        let lower = first.to_ascii_lowercase();
        if let Some(close) = lower.strip_prefix("</") {
            let name = close.trim_end_matches('>');
            match stack.pop() {
                Some((open, _)) if open == name => {}
                _ => return Err(ReadError(l.no, format!("</{name}> closes no open section"))),
            }
            skipped_section = skipped_section.saturating_sub(1);
            continue;
        }
        if let Some(open) = lower.strip_prefix('<') {
            let name = open.trim_end_matches('>').to_string();
            let arg = w
                .get(1)
                .map(|a| {
                    a.trim_end_matches('>')
                        .trim_matches(['"', '\''])
                        .to_string()
                })
                .unwrap_or_default();
            let current = stack.iter().rev().find_map(|(_, s)| *s).unwrap_or(0);
            let mut scope = Some(current);
            if skipped_section > 0 {
                skipped_section += 1;
                stack.push((name, None));
                continue;
            }
            match name.as_str() {
                "ifmodule" | "ifdefine" | "ifversion" => {}
                "virtualhost" => {
                    if arg.ends_with(":443") {
                        imp.https_api = true;
                    }
                }
                "location" if arg.starts_with('/') => {
                    scope = Some(scope_for(&mut scopes, &arg));
                }
                "directory" => {
                    let rel = docroot
                        .as_deref()
                        .and_then(|d| arg.strip_prefix(d.trim_end_matches('/')));
                    match rel {
                        Some(r) => {
                            let p = if r.is_empty() {
                                "/".to_string()
                            } else {
                                format!("{}/", r.trim_end_matches('/'))
                            };
                            let p = if p.starts_with('/') {
                                p
                            } else {
                                format!("/{p}")
                            };
                            scope = Some(scope_for(&mut scopes, &p));
                        }
                        None => {
                            imp.warn("section-not-imported", l.no, format!("<Directory {arg}> is a filesystem path outside the DocumentRoot this file names, so it has no URL path; its headers were not imported"));
                            skipped_section = 1;
                        }
                    }
                }
                _ => {
                    imp.warn("section-not-imported", l.no, format!("<{} {arg}>: routes match URL path prefixes only; the headers in this section were not imported", w[0].trim_start_matches('<').trim_end_matches('>')));
                    skipped_section = 1;
                }
            }
            stack.push((name, scope));
            continue;
        }
        if skipped_section > 0 {
            continue;
        }
        let scope = stack.iter().rev().find_map(|(_, s)| *s).unwrap_or(0);
        match lower.as_str() {
            "header" => header(&mut imp, &mut scopes[scope], w, l.no),
            "setenvif" | "setenvifnocase" => {
                if w.get(1).is_some_and(|a| a.eq_ignore_ascii_case("origin")) && w.len() >= 4 {
                    let (var, value) = w[3]
                        .split_once('=')
                        .map_or((w[3].clone(), "1".to_string()), |(a, b)| {
                            (a.to_string(), b.to_string())
                        });
                    envs.push(EnvRule {
                        var,
                        regex: w[2].clone(),
                        value,
                        line: l.no,
                    });
                } else {
                    ignored.push((w[0].clone(), l.no));
                }
            }
            "documentroot" => {
                docroot = w.get(1).cloned();
                ignored.push((w[0].clone(), l.no));
            }
            "sslengine" => {
                if w.get(1).is_some_and(|a| a.eq_ignore_ascii_case("on")) {
                    imp.https_api = true;
                }
                ignored.push((w[0].clone(), l.no));
            }
            "proxypass" => {
                let (path, url) = match (w.get(1), w.get(2)) {
                    (Some(u), None) => ("/", u.as_str()),
                    (Some(p), Some(u)) => (p.as_str(), u.as_str()),
                    _ => continue,
                };
                match cors_gateway_core::policy::parse_upstream(url) {
                    Ok(_) => {
                        let url = url.trim_end_matches('/').to_string();
                        let at = if scope == 0 {
                            scope_for(&mut scopes, path)
                        } else {
                            scope
                        };
                        scopes[at].proxy = Some(url);
                    }
                    Err(e) => imp.warn(
                        "upstream-not-imported",
                        l.no,
                        format!("ProxyPass {url}: {e}; pass --upstream"),
                    ),
                }
            }
            "rewritecond" if w.iter().any(|a| a.contains("REQUEST_METHOD")) => {
                imp.note("preflight-answered", l.no, "a rewrite for OPTIONS requests: the gateway answers preflights itself with 204");
            }
            "rewriterule" if w.iter().any(|a| a.contains("R=200") || a.contains("R=204")) => {
                imp.note("preflight-answered", l.no, "a rewrite answering OPTIONS requests: the gateway answers preflights itself with 204");
            }
            _ => ignored.push((w[0].clone(), l.no)),
        }
    }
    if let Some((open, _)) = stack.last() {
        return Err(ReadError(0, format!("<{open}> is not closed")));
    }
    let global = scopes[0].ops.clone();
    let n = scopes.len();
    for (i, s) in scopes.iter().enumerate() {
        if i == 0 && n > 1 && global.is_empty() && s.proxy.is_none() {
            continue;
        }
        let prefix = s.prefix.clone().unwrap_or_else(|| "/".into());
        let name = if prefix == "/" {
            "root".to_string()
        } else {
            prefix
                .trim_matches('/')
                .replace(|c: char| !c.is_ascii_alphanumeric(), "-")
        };
        // A location's Header lines run after the server's.
        let mut ops = if i == 0 { Vec::new() } else { global.clone() };
        ops.extend(s.ops.iter().cloned());
        let hs = evaluate(&mut imp, &name, &ops);
        let mut cors = cors_from_headers(&mut imp, &name, &hs, &hs, &mut |imp, cors, h| {
            origin_value(imp, cors, h, &envs)
        });
        if cors.origins.is_empty() && hs.iter().all(|h| h.name != "access-control-allow-origin") {
            cors.methods = None;
            cors.headers = None;
        }
        imp.routes.push(RouteSpec {
            name,
            prefix,
            upstream: s.proxy.clone(),
            cors,
        });
    }
    if !ignored.is_empty() {
        let list: Vec<String> = ignored
            .iter()
            .map(|(n, l)| format!("{n} (line {l})"))
            .collect();
        imp.note(
            "not-cors",
            0,
            format!(
                "not about CORS, left to the server behind the gateway: {}",
                list.join(", ")
            ),
        );
    }
    Ok(imp)
}

/// The scope for a URL path prefix: one per path, however many sections name it.
fn scope_for(scopes: &mut Vec<Scope>, prefix: &str) -> usize {
    if let Some(i) = scopes
        .iter()
        .position(|s| s.prefix.as_deref() == Some(prefix))
    {
        return i;
    }
    scopes.push(Scope {
        prefix: Some(prefix.to_string()),
        ops: Vec::new(),
        proxy: None,
    });
    scopes.len() - 1
}

fn header(imp: &mut Import, scope: &mut Scope, w: &[String], line: usize) {
    let mut i = 1;
    let mut always = false;
    match w.get(i).map(|s| s.to_ascii_lowercase()) {
        Some(c) if c == "always" => {
            always = true;
            i += 1;
        }
        Some(c) if c == "onsuccess" => i += 1,
        _ => {}
    }
    let (Some(action), Some(name)) = (w.get(i), w.get(i + 1)) else {
        imp.warn(
            "header-not-imported",
            line,
            "a Header line without an action and a header name; ignored",
        );
        return;
    };
    let action = action.to_ascii_lowercase();
    let lname = name.to_ascii_lowercase();
    if !lname.starts_with("access-control-") && lname != "vary" {
        imp.note(
            "not-cors-header",
            line,
            format!(
                "Header {action} {name}: not a CORS header; left to the server behind the gateway"
            ),
        );
        return;
    }
    let value = w.get(i + 2).cloned().unwrap_or_default();
    let mut env = None;
    for extra in &w[(i + 3).min(w.len())..] {
        if let Some(v) = extra.strip_prefix("env=") {
            env = Some(v.to_string());
        } else {
            imp.warn("header-condition", line, format!("Header condition \"{extra}\" cannot be imported; the line is taken as unconditional"));
        }
    }
    if !["set", "add", "append", "merge", "setifempty", "unset"].contains(&action.as_str()) {
        imp.warn(
            "header-not-imported",
            line,
            format!("Header {action} {name}: this action cannot be imported"),
        );
        return;
    }
    if action == "add" && lname == "access-control-allow-origin" {
        imp.note("add-may-duplicate", line, format!("Header add {name} adds a second line when the application sends its own, and browsers refuse two values; the gateway replaces the upstream's CORS headers and sends one"));
    }
    if action == "unset" && lname.starts_with("access-control-") {
        imp.note("upstream-cors-replaced", line, format!("Header unset {name}: the gateway replaces the upstream's CORS headers with the policy's anyway"));
    }
    scope.ops.push(HeaderOp {
        always,
        action,
        name: lname,
        value,
        env,
        line,
    });
}

/// The headers a response ends up with: mod_headers keeps the `always` table
/// and the on-success table apart and sends both on a success.
fn evaluate(imp: &mut Import, route: &str, ops: &[HeaderOp]) -> Vec<Hdr> {
    let mut tables: [Vec<Hdr>; 2] = [Vec::new(), Vec::new()];
    let mut env_of: Vec<(usize, Option<String>)> = Vec::new();
    for op in ops {
        let t = &mut tables[usize::from(op.always)];
        let h = Hdr {
            name: op.name.clone(),
            value: op.value.clone(),
            line: op.line,
            always: op.always,
        };
        match op.action.as_str() {
            "set" => {
                t.retain(|x| x.name != op.name);
                t.push(h);
            }
            "add" => t.push(h),
            "setifempty" => {
                if !t.iter().any(|x| x.name == op.name) {
                    t.push(h);
                }
            }
            "append" | "merge" => match t.iter_mut().find(|x| x.name == op.name) {
                Some(x)
                    if op.action == "merge" && x.value.split(',').any(|v| v.trim() == op.value) => {
                }
                Some(x) => x.value = format!("{}, {}", x.value, op.value),
                None => t.push(h),
            },
            _ => t.retain(|x| x.name != op.name),
        }
        env_of.push((op.line, op.env.clone()));
    }
    let [success, always] = tables;
    let both = success
        .iter()
        .any(|h| h.name == "access-control-allow-origin")
        && always
            .iter()
            .any(|h| h.name == "access-control-allow-origin");
    if both {
        imp.note("two-tables", 0, format!("route \"{route}\": Header and Header always keep separate tables, so a success response carried both tables' Access-Control-Allow-Origin"));
    }
    let mut out = success;
    out.extend(always);
    // Conditions stay visible to the origin resolver through the value.
    for h in out
        .iter_mut()
        .filter(|h| h.name == "access-control-allow-origin")
    {
        if let Some((_, Some(env))) = env_of.iter().find(|(l, _)| *l == h.line) {
            h.value = format!("{}\u{0}env={env}", h.value);
        }
    }
    out
}

fn origin_value(imp: &mut Import, cors: &mut Cors, h: &Hdr, envs: &[EnvRule]) -> bool {
    let (value, cond) = match h.value.split_once('\u{0}') {
        Some((v, c)) => (v.trim(), c.strip_prefix("env=").map(str::to_string)),
        None => (h.value.trim(), None),
    };
    if value.contains("%{req:Origin}")
        || value.contains("%{HTTP:Origin}")
        || value.contains("%{HTTP_ORIGIN}")
    {
        imp.warn("reflects-any-origin", h.line, format!("Access-Control-Allow-Origin {value} echoes whatever Origin the request carries, trusting every site on the web; imported as \"*\""));
        cors.origins.push("*".into());
        return true;
    }
    let var = value.strip_prefix("%{").and_then(|v| v.strip_suffix("}e"));
    let Some(var) = var else {
        if value.contains("%{") {
            imp.warn("origin-not-expressible", h.line, format!("Access-Control-Allow-Origin {value}: a format the importer cannot follow; not imported"));
            return true;
        }
        imp.add_origin(cors, value, h.line);
        return false;
    };
    let rules: Vec<&EnvRule> = envs.iter().filter(|e| e.var == var).collect();
    if rules.is_empty() {
        imp.warn(
            "origin-not-expressible",
            h.line,
            format!(
                "Access-Control-Allow-Origin {value}: no SetEnvIf Origin sets {var}; not imported"
            ),
        );
        return true;
    }
    if cond.as_deref() != Some(var) {
        imp.note("env-unconditional", h.line, format!("without env={var}, Apache sent \"(null)\" when no rule matched; the gateway sends nothing for an origin it does not allow"));
    }
    for e in rules {
        if e.value != "$0" && e.value != "$1" {
            imp.warn(
                "origin-not-expressible",
                e.line,
                format!(
                    "SetEnvIf Origin sets {}={}, not the origin itself; not imported",
                    e.var, e.value
                ),
            );
            continue;
        }
        match to_origins(&e.regex) {
            Ok(Conv::Any) => {
                imp.warn("reflects-any-origin", e.line, format!("SetEnvIf Origin \"{}\" matches any origin, so the header echoed every site's; imported as \"*\"", e.regex));
                cors.origins.push("*".into());
            }
            Ok(Conv::Origins(list)) => {
                imp.note(
                    "regex-converted",
                    e.line,
                    format!("{} is exactly {}", e.regex, list.join(", ")),
                );
                for o in list {
                    imp.add_origin(cors, &o, e.line);
                }
            }
            Err(why) => {
                let hint = literal_dot_reading(&e.regex)
                    .map(|l| format!(" (read with literal dots and anchors: {})", l.join(", ")))
                    .unwrap_or_default();
                let code = if why.contains("anchored") {
                    "unanchored-regex"
                } else {
                    "regex-not-expressible"
                };
                imp.warn(
                    code,
                    e.line,
                    format!("SetEnvIf Origin \"{}\" not imported: {why}{hint}", e.regex),
                );
            }
        }
    }
    true
}
