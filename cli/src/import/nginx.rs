//! `--from nginx`: `add_header Access-Control-*` in `server` and `location`
//! blocks (locations become routes), `if ($request_method = OPTIONS)` preflight
//! blocks, `map $http_origin` allowlists and `proxy_pass` upstreams, with
//! nginx's inheritance: a level with any `add_header` of its own inherits none.

use super::regex::{literal_dot_reading, to_origins, Conv};
use super::{cors_from_headers, Cors, Hdr, Import, ReadError, RouteSpec};

/// One directive, with its block when it has one.
#[derive(Debug, Clone)]
pub struct Directive {
    pub name: String,
    pub args: Vec<String>,
    pub line: usize,
    pub block: Option<Vec<Directive>>,
}

fn tokens(text: &str) -> Result<Vec<(String, usize, bool)>, ReadError> {
    // (token, line, was quoted)
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while let Some(&c) = chars.peek() {
        match c {
            '\n' => {
                line += 1;
                chars.next();
            }
            c if c.is_whitespace() => {
                chars.next();
            }
            '#' => {
                while chars.peek().is_some_and(|&c| c != '\n') {
                    chars.next();
                }
            }
            '{' | '}' | ';' => {
                out.push((c.to_string(), line, false));
                chars.next();
            }
            '"' | '\'' => {
                let start = line;
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        None => return Err(ReadError(start, "unterminated quoted string".into())),
                        Some('\\') => {
                            if let Some(n) = chars.next() {
                                if n != c && n != '\\' {
                                    s.push('\\');
                                }
                                s.push(n);
                            }
                        }
                        Some(ch) if ch == c => break,
                        Some(ch) => {
                            if ch == '\n' {
                                line += 1;
                            }
                            s.push(ch)
                        }
                    }
                }
                out.push((s, start, true));
            }
            _ => {
                let mut s = String::new();
                while let Some(&ch) = chars.peek() {
                    if ch.is_whitespace()
                        || ch == ';'
                        || ch == '{'
                        || (ch == '}' && !s.ends_with('$'))
                    {
                        break;
                    }
                    s.push(ch);
                    chars.next();
                }
                out.push((s, line, false));
            }
        }
    }
    Ok(out)
}

pub fn parse(text: &str) -> Result<Vec<Directive>, ReadError> {
    let toks = tokens(text)?;
    let mut pos = 0;
    let out = parse_block(&toks, &mut pos, 0)?;
    if pos < toks.len() {
        return Err(ReadError(toks[pos].1, "unexpected \"}\"".into()));
    }
    Ok(out)
}

fn parse_block(
    t: &[(String, usize, bool)],
    pos: &mut usize,
    depth: usize,
) -> Result<Vec<Directive>, ReadError> {
    let mut out = Vec::new();
    while *pos < t.len() {
        let (tok, line, quoted) = &t[*pos];
        if tok == "}" && !quoted {
            if depth == 0 {
                return Ok(out);
            }
            *pos += 1;
            return Ok(out);
        }
        let mut d = Directive {
            name: tok.clone(),
            args: Vec::new(),
            line: *line,
            block: None,
        };
        *pos += 1;
        loop {
            let Some((a, l, q)) = t.get(*pos) else {
                return Err(ReadError(
                    *line,
                    format!("\"{}\" is not terminated by \";\" or a block", d.name),
                ));
            };
            *pos += 1;
            match (a.as_str(), q) {
                (";", false) => break,
                ("{", false) => {
                    d.block = Some(parse_block(t, pos, depth + 1)?);
                    if t.get(*pos - 1).map(|x| x.0.as_str()) != Some("}") {
                        return Err(ReadError(
                            *l,
                            format!("the block of \"{}\" is not closed", d.name),
                        ));
                    }
                    break;
                }
                _ => d.args.push(a.clone()),
            }
        }
        out.push(d);
    }
    if depth > 0 {
        return Err(ReadError(
            t.last().map_or(0, |x| x.1),
            "a block is not closed".into(),
        ));
    }
    Ok(out)
}

/// A `map $http_origin $var` block.
struct OriginMap {
    var: String,
    entries: Vec<(String, String, usize)>,
    default: Option<(String, usize)>,
}

pub fn read(text: &str) -> Result<Import, ReadError> {
    let tree = parse(text)?;
    let mut imp = Import::default();
    let mut maps = Vec::new();
    let mut servers = Vec::new();
    let mut loose = Vec::new();
    let mut ignored: Vec<(String, usize)> = Vec::new();
    collect(
        &tree,
        &mut maps,
        &mut servers,
        &mut loose,
        &mut ignored,
        &mut imp,
    );
    if servers.is_empty() {
        // A snippet (an included file): its directives are one server's.
        servers.push(Directive {
            name: "server".into(),
            args: Vec::new(),
            line: 1,
            block: Some(loose),
        });
    } else if !loose.is_empty() {
        for d in &loose {
            ignored.push((d.name.clone(), d.line));
        }
    }
    for (si, s) in servers.iter().enumerate() {
        let body = s.block.as_deref().unwrap_or(&[]);
        if body
            .iter()
            .any(|d| d.name == "listen" && d.args.iter().any(|a| a == "ssl" || a.ends_with("443")))
        {
            imp.https_api = true;
        }
        let server_headers: Vec<Hdr> = body.iter().filter_map(add_header).collect();
        let server_name = body
            .iter()
            .find(|d| d.name == "server_name")
            .and_then(|d| d.args.first().cloned());
        let prefix_name = if servers.len() > 1 {
            format!(
                "{}-",
                server_name
                    .clone()
                    .unwrap_or_else(|| format!("server{}", si + 1))
            )
        } else {
            String::new()
        };
        let mut locations = Vec::new();
        for d in body {
            match d.name.as_str() {
                "add_header" | "server_name" | "listen" => {}
                "location" => locations.push(d.clone()),
                "if" => imp.warn("if-not-imported", d.line, format!("\"if ({})\" at server level: the gateway cannot condition CORS on it; its directives were not imported", d.args.join(" "))),
                _ => ignored.push((d.name.clone(), d.line)),
            }
        }
        let mut any_location_root = false;
        let mut flat = Vec::new();
        flatten(&locations, &mut flat, &mut imp);
        for loc in &flat {
            let Some(prefix) = location_prefix(loc, &mut imp) else {
                continue;
            };
            any_location_root |= prefix == "/";
            let name = format!("{prefix_name}{}", route_name(&prefix));
            let cors = location_cors(&mut imp, &name, loc, &server_headers, &maps, &mut ignored);
            let upstream = loc
                .block
                .as_deref()
                .unwrap_or(&[])
                .iter()
                .find(|d| d.name == "proxy_pass")
                .and_then(|d| d.args.first())
                .and_then(|u| proxy_upstream(u, &mut imp, loc.line));
            imp.routes.push(RouteSpec {
                name,
                prefix,
                upstream,
                cors,
            });
        }
        if !any_location_root && !server_headers.is_empty() {
            // Requests outside every location get the server's own headers.
            let fake = Directive {
                name: "location".into(),
                args: vec!["/".into()],
                line: s.line,
                block: Some(Vec::new()),
            };
            let name = format!("{prefix_name}root");
            let cors = location_cors(&mut imp, &name, &fake, &server_headers, &maps, &mut ignored);
            imp.routes.push(RouteSpec {
                name,
                prefix: "/".into(),
                upstream: None,
                cors,
            });
        }
    }
    // Routes with headers nowhere inherit nothing: they keep no origins, which
    // `finish` reports; drop duplicated prefixes across servers.
    let mut seen: Vec<String> = Vec::new();
    let mut kept = Vec::new();
    for r in std::mem::take(&mut imp.routes) {
        if seen.contains(&r.prefix) {
            imp.warn("route-not-imported", 0, format!("route \"{}\": another server already has path {}; a policy has one route per path (use one policy per host)", r.name, r.prefix));
            continue;
        }
        seen.push(r.prefix.clone());
        kept.push(r);
    }
    imp.routes = kept;
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

fn collect(
    ds: &[Directive],
    maps: &mut Vec<OriginMap>,
    servers: &mut Vec<Directive>,
    loose: &mut Vec<Directive>,
    ignored: &mut Vec<(String, usize)>,
    imp: &mut Import,
) {
    for d in ds {
        match d.name.as_str() {
            "http" => collect(
                d.block.as_deref().unwrap_or(&[]),
                maps,
                servers,
                loose,
                ignored,
                imp,
            ),
            "server" if d.block.is_some() => servers.push(d.clone()),
            "map" if d.args.len() == 2 => {
                if d.args[0] != "$http_origin" {
                    imp.note(
                        "map-ignored",
                        d.line,
                        format!(
                            "map {} is not keyed on $http_origin; not imported",
                            d.args[0]
                        ),
                    );
                    continue;
                }
                let mut m = OriginMap {
                    var: d.args[1].clone(),
                    entries: Vec::new(),
                    default: None,
                };
                for e in d.block.as_deref().unwrap_or(&[]) {
                    let value = e.args.first().cloned().unwrap_or_default();
                    match e.name.as_str() {
                        "default" => m.default = Some((value, e.line)),
                        "hostnames" | "volatile" => {}
                        _ => m.entries.push((e.name.clone(), value, e.line)),
                    }
                }
                maps.push(m);
            }
            "events" | "user" | "worker_processes" | "pid" | "include" | "error_log" => {
                ignored.push((d.name.clone(), d.line))
            }
            _ => loose.push(d.clone()),
        }
    }
}

/// Nested locations become routes of their own.
fn flatten(ls: &[Directive], out: &mut Vec<Directive>, imp: &mut Import) {
    for l in ls {
        out.push(l.clone());
        let inner: Vec<Directive> = l
            .block
            .as_deref()
            .unwrap_or(&[])
            .iter()
            .filter(|d| d.name == "location")
            .cloned()
            .collect();
        if !inner.is_empty() {
            imp.note("nested-location", l.line, "nested locations become routes of their own; they inherit the enclosing location's headers only when they have none");
            flatten(&inner, out, imp);
        }
    }
}

fn location_prefix(loc: &Directive, imp: &mut Import) -> Option<String> {
    match loc.args.as_slice() {
        [p] if p.starts_with('/') => Some(p.clone()),
        [m, p] if (m == "^~" || m == "=") && p.starts_with('/') => {
            if m == "=" {
                imp.note("exact-location", loc.line, format!("location = {p} matches one path; the route's prefix {p} also covers the paths below it"));
            }
            Some(p.clone())
        }
        [p] if p.starts_with('@') => None,
        args => {
            imp.warn("location-not-expressible", loc.line, format!("location {}: routes match path prefixes, not regexes; its CORS headers were not imported", args.join(" ")));
            None
        }
    }
}

fn route_name(prefix: &str) -> String {
    let n: String = prefix
        .trim_matches('/')
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    if n.is_empty() {
        "root".into()
    } else {
        n
    }
}

fn add_header(d: &Directive) -> Option<Hdr> {
    if d.name != "add_header" || d.args.len() < 2 {
        return None;
    }
    Some(Hdr {
        name: d.args[0].to_ascii_lowercase(),
        value: d.args[1].clone(),
        line: d.line,
        always: d.args.get(2).is_some_and(|a| a == "always"),
    })
}

/// The `$request_method` values an `if` condition selects.
fn method_condition(args: &[String]) -> Option<Vec<String>> {
    let joined = args.join(" ");
    let inner = joined
        .trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .trim();
    let rest = inner.strip_prefix("$request_method")?.trim();
    if let Some(v) = rest.strip_prefix('=') {
        return Some(vec![v.trim().trim_matches(['"', '\'']).to_string()]);
    }
    let re = rest.strip_prefix('~')?.trim().trim_matches(['"', '\'']);
    let alts = re.strip_prefix("^(")?.strip_suffix(")$")?;
    Some(alts.split('|').map(str::to_string).collect())
}

fn location_cors(
    imp: &mut Import,
    name: &str,
    loc: &Directive,
    server: &[Hdr],
    maps: &[OriginMap],
    ignored: &mut Vec<(String, usize)>,
) -> Cors {
    let body = loc.block.as_deref().unwrap_or(&[]);
    let own: Vec<Hdr> = body.iter().filter_map(add_header).collect();
    let base: Vec<Hdr> = if own.is_empty() { server.to_vec() } else { own };
    if !server.is_empty()
        && body.iter().any(|d| d.name == "add_header")
        && server.iter().any(|h| h.name.starts_with("access-control-"))
    {
        imp.note("inheritance", loc.line, format!("route \"{name}\": this location has add_header lines of its own, so nginx sent none of the server's (lines {}) here", server.iter().map(|h| h.line.to_string()).collect::<Vec<_>>().join(", ")));
    }
    let mut by_method: Vec<(Vec<String>, Vec<Hdr>, usize)> = Vec::new();
    for d in body {
        match d.name.as_str() {
            "if" => match method_condition(&d.args) {
                Some(methods) => {
                    let inner = d.block.as_deref().unwrap_or(&[]);
                    let hs: Vec<Hdr> = inner.iter().filter_map(add_header).collect();
                    for i in inner {
                        match i.name.as_str() {
                            "add_header" if !i.args.first().is_some_and(|n| n.to_ascii_lowercase().starts_with("access-control-") || n.eq_ignore_ascii_case("vary")) => {
                                imp.note("not-cors-header", i.line, format!("add_header {}: the gateway answers preflights itself (204, no body)", i.args.first().cloned().unwrap_or_default()));
                            }
                            "add_header" => {}
                            "return" => imp.note("preflight-answered", i.line, format!("return {}: the gateway answers preflights itself with 204", i.args.join(" "))),
                            _ => ignored.push((i.name.clone(), i.line)),
                        }
                    }
                    by_method.push((methods, if hs.is_empty() { base.clone() } else { hs }, d.line));
                }
                None => imp.warn("if-not-imported", d.line, format!("\"if {}\": only $request_method conditions can be imported; its directives were not", d.args.join(" "))),
            },
            "add_header" | "location" | "proxy_pass" => {}
            _ => ignored.push((d.name.clone(), d.line)),
        }
    }
    let for_method = |m: &str| -> Vec<Hdr> {
        by_method
            .iter()
            .rev()
            .find(|(ms, _, _)| ms.iter().any(|x| x == m))
            .map_or_else(|| base.clone(), |(_, h, _)| h.clone())
    };
    let pre = for_method("OPTIONS");
    let act = for_method("GET");
    let has_origin = |hs: &[Hdr]| hs.iter().any(|h| h.name == "access-control-allow-origin");
    for m in ["HEAD", "POST"] {
        if has_origin(&act) && !has_origin(&for_method(m)) {
            imp.warn("safelisted-method", 0, format!("route \"{name}\": {m} responses carried no Access-Control-Allow-Origin; the gateway grants GET, HEAD and POST alike (browsers send them without a preflight)"));
        }
    }
    let mut cors = cors_from_headers(imp, name, &pre, &act, &mut |imp, cors, h| {
        origin_value(imp, cors, h, maps)
    });
    // Methods a preflight allows whose actual responses had no CORS headers.
    if let Some(ms) = cors.methods.clone() {
        for m in ms {
            if m != "OPTIONS"
                && has_origin(&act)
                && !has_origin(&for_method(&m))
                && !["GET", "HEAD", "POST"].contains(&m.as_str())
            {
                imp.warn("actual-without-cors", 0, format!("route \"{name}\": preflights allowed {m} but its responses carried no Access-Control-Allow-Origin (browsers hid them); the gateway grants them"));
            }
        }
    }
    if cors.origins.is_empty() && !has_origin(&pre) && !has_origin(&act) {
        cors.methods = None;
        cors.headers = None;
    }
    cors
}

fn origin_value(imp: &mut Import, cors: &mut Cors, h: &Hdr, maps: &[OriginMap]) -> bool {
    let v = h.value.trim();
    if v == "$http_origin" {
        imp.warn("reflects-any-origin", h.line, "Access-Control-Allow-Origin $http_origin echoes whatever Origin the request carries, trusting every site on the web; imported as \"*\"");
        cors.origins.push("*".into());
        return true;
    }
    if let Some(m) = maps.iter().find(|m| m.var == v) {
        for (key, value, line) in &m.entries {
            map_entry(imp, cors, key, value, *line);
        }
        match &m.default {
            Some((d, line)) if d == "$http_origin" => {
                imp.warn("reflects-any-origin", *line, format!("map {}: default $http_origin echoes any origin the list does not name, trusting every site; imported as \"*\"", m.var));
                cors.origins.push("*".into());
            }
            Some((d, line)) if d == "*" => {
                imp.note(
                    "map-default",
                    *line,
                    "the map's default \"*\" allows any origin",
                );
                cors.origins.push("*".into());
            }
            Some((d, line)) if !d.is_empty() => imp.add_origin(cors, d, *line),
            _ => {}
        }
        return true;
    }
    if v.contains('$') {
        imp.warn("origin-not-expressible", h.line, format!("Access-Control-Allow-Origin {v}: a variable the importer cannot follow; not imported"));
        return true;
    }
    imp.add_origin(cors, v, h.line);
    false
}

fn map_entry(imp: &mut Import, cors: &mut Cors, key: &str, value: &str, line: usize) {
    if value.is_empty() || value == "\"\"" || value == "0" {
        imp.note("map-entry-empty", line, format!("map entry {key}: an empty value sends no Access-Control-Allow-Origin; not an allowed origin"));
        return;
    }
    let reflected = value == "$http_origin";
    let regex = key.strip_prefix("~*").or_else(|| key.strip_prefix('~'));
    match regex {
        Some(re) => {
            if !reflected {
                imp.warn("map-value", line, format!("map entry {key} sends the fixed value \"{value}\" for every origin it matches; only an origin equal to it was allowed, imported as that"));
                return imp.add_origin(cors, value, line);
            }
            match to_origins(re) {
                Ok(Conv::Any) => {
                    imp.warn("reflects-any-origin", line, format!("map entry {key} matches any origin, trusting every site; imported as \"*\""));
                    cors.origins.push("*".into());
                }
                Ok(Conv::Origins(list)) => {
                    imp.note(
                        "regex-converted",
                        line,
                        format!("{re} is exactly {}", list.join(", ")),
                    );
                    for o in list {
                        imp.add_origin(cors, &o, line);
                    }
                }
                Err(why) => {
                    let hint = literal_dot_reading(re)
                        .map(|l| format!(" (read with literal dots and anchors: {})", l.join(", ")))
                        .unwrap_or_default();
                    let code = if why.contains("anchored") {
                        "unanchored-regex"
                    } else {
                        "regex-not-expressible"
                    };
                    imp.warn(
                        code,
                        line,
                        format!("map regex {re} not imported: {why}{hint}"),
                    );
                }
            }
        }
        None => {
            if !reflected && value != key {
                imp.warn("map-value", line, format!("map entry {key} sends \"{value}\", which is not the origin itself; not imported"));
                return;
            }
            imp.add_origin(cors, key, line);
        }
    }
}

fn proxy_upstream(u: &str, imp: &mut Import, line: usize) -> Option<String> {
    if u.contains('$') {
        imp.warn(
            "upstream-not-imported",
            line,
            format!("proxy_pass {u}: a variable; pass --upstream"),
        );
        return None;
    }
    match cors_gateway_core::policy::parse_upstream(u) {
        Ok(_) => Some(u.trim_end_matches('/').to_string()),
        Err(e) => {
            imp.warn(
                "upstream-not-imported",
                line,
                format!("proxy_pass {u}: {e}; pass --upstream"),
            );
            None
        }
    }
}
