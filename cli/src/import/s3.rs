//! `--from s3`: an S3 bucket CORS configuration, as `{"CORSRules": [...]}`, the
//! bare array the console shows, or CloudFormation's `CorsConfiguration`
//! (`CorsRules`, `ExposedHeaders`, `MaxAge`, `Id`). S3's rules: each origin
//! entry may hold one `*` matching any characters, the first rule matching the
//! origin and method answers, and no credentials.

use super::{merge_with_origins, Cors, Import, ReadError, RouteSpec, Rule};
use cors_gateway_core::locate::locate;
use serde_json::Value;

const RULE_FIELDS: [&str; 9] = [
    "ID",
    "Id",
    "AllowedHeaders",
    "AllowedMethods",
    "AllowedOrigins",
    "ExposeHeaders",
    "ExposedHeaders",
    "MaxAgeSeconds",
    "MaxAge",
];

pub fn read(text: &str) -> Result<Import, ReadError> {
    let doc: Value = serde_json::from_str(text)
        .map_err(|e| ReadError(e.line(), format!("not valid JSON: {e}")))?;
    let (rules, base) = rule_list(&doc)
        .ok_or_else(|| ReadError(1, "expected {\"CORSRules\": [...]}, a CloudFormation CorsConfiguration ({\"CorsRules\": [...]}) or an array of rules".into()))?;
    let mut imp = Import::default();
    let line = |path: &str| locate(text, path).map_or(0, |(l, _)| l);
    let strings = super::json_strings;
    let mut parsed = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        let at = format!("{base}[{i}]");
        let Some(obj) = r.as_object() else {
            imp.warn(
                "rule-ignored",
                line(&at),
                "a rule must be an object; ignored",
            );
            continue;
        };
        for k in obj.keys() {
            if !RULE_FIELDS.contains(&k.as_str()) {
                imp.warn(
                    "unknown-field",
                    line(&format!("{at}.{k}")),
                    format!("\"{k}\" is not an S3 CORS rule field; ignored"),
                );
            }
        }
        let origins: Vec<(String, usize)> = strings(&r["AllowedOrigins"])
            .into_iter()
            .enumerate()
            .map(|(j, o)| (o, line(&format!("{at}.AllowedOrigins[{j}]"))))
            .collect();
        let methods = strings(&r["AllowedMethods"]);
        if origins.is_empty() || methods.is_empty() {
            imp.warn(
                "rule-ignored",
                line(&at),
                "S3 requires AllowedOrigins and AllowedMethods; this rule matched nothing",
            );
            continue;
        }
        for m in &methods {
            if !["GET", "PUT", "POST", "DELETE", "HEAD"].contains(&m.as_str()) {
                imp.warn("method-not-s3", line(&format!("{at}.AllowedMethods")), format!("\"{m}\" is not a method S3 accepts (GET, PUT, POST, DELETE, HEAD); imported as written"));
            }
        }
        let mut headers = Vec::new();
        for (j, h) in strings(&r["AllowedHeaders"]).into_iter().enumerate() {
            if h != "*" && h.contains('*') {
                imp.warn("header-wildcard", line(&format!("{at}.AllowedHeaders[{j}]")), format!("\"{h}\": a header-name wildcard is not expressible; not imported (list the headers it should allow)"));
            } else {
                headers.push(h);
            }
        }
        let expose = strings(if r.get("ExposedHeaders").is_some() {
            &r["ExposedHeaders"]
        } else {
            &r["ExposeHeaders"]
        });
        let max_age = r
            .get("MaxAgeSeconds")
            .or(r.get("MaxAge"))
            .and_then(Value::as_u64);
        if let Some(id) = r.get("ID").or(r.get("Id")).and_then(Value::as_str) {
            imp.note(
                "rule-id",
                line(&at),
                format!("rule \"{id}\": rule ids have no policy equivalent"),
            );
        }
        parsed.push(Rule {
            line: line(&at),
            origins,
            methods,
            headers,
            expose,
            max_age,
        });
    }
    let had_star_headers = parsed.iter().any(|r| r.headers.iter().any(|h| h == "*"));
    // S3 answers `*` by listing the requested headers, so it covers
    // Authorization too; the policy's "*" does not, so it is listed.
    let cors: Cors = merge_with_origins(&mut imp, &parsed, &["authorization"], add_s3_origin);
    if had_star_headers
        && cors
            .headers
            .as_ref()
            .is_some_and(|h| h.iter().any(|x| x == "*"))
    {
        imp.note("headers-wildcard", 0, "S3's \"*\" in AllowedHeaders allows any request header, Authorization included; the policy's \"*\" excludes authorization, so it is listed beside it");
    }
    imp.note("s3-semantics", 0, "S3 never allows credentials; the policy does not either. The gateway always sends Vary: Origin for listed origins");
    imp.routes.push(RouteSpec {
        name: "bucket".into(),
        prefix: "/".into(),
        upstream: None,
        cors,
    });
    Ok(imp)
}

fn rule_list(doc: &Value) -> Option<(&Vec<Value>, String)> {
    if let Some(a) = doc.as_array() {
        return Some((a, String::new()));
    }
    for (outer, inner) in [
        ("", "CORSRules"),
        ("", "CorsRules"),
        ("CORSConfiguration", "CORSRules"),
        ("CorsConfiguration", "CorsRules"),
    ] {
        let v = if outer.is_empty() {
            &doc[inner]
        } else {
            &doc[outer][inner]
        };
        if let Some(a) = v.as_array() {
            let base = if outer.is_empty() {
                inner.to_string()
            } else {
                format!("{outer}.{inner}")
            };
            return Some((a, base));
        }
    }
    None
}

/// An S3 origin entry as a policy pattern: its `*` matches any characters,
/// which the policy expresses only as `*`, a leading `*.` label, or `:*`.
fn add_s3_origin(imp: &mut Import, cors: &mut Cors, o: &str, line: usize) {
    if o == "*" || !o.contains('*') {
        return imp.add_origin(cors, o, line);
    }
    if o.matches('*').count() > 1 {
        imp.warn(
            "origin-not-expressible",
            line,
            format!("\"{o}\": S3 allows one \"*\" per origin (it matched nothing); not imported"),
        );
        return;
    }
    let (pre, post) = o.split_once('*').unwrap_or((o, ""));
    if pre.ends_with("://") && post.starts_with('.') {
        // `https://*.example.com`: S3's `*` also spans dots, as the policy's `*.` does.
        return imp.add_origin(cors, o, line);
    }
    if pre.ends_with(':') && post.is_empty() && !pre.ends_with("://") {
        return imp.add_origin(cors, o, line);
    }
    if pre.ends_with("://") && !post.is_empty() && !post.contains(['/', ':']) {
        let (bare, sub) = (format!("{pre}{post}"), format!("{pre}*.{post}"));
        imp.warn("wildcard-narrowed", line, format!("\"{o}\": S3's \"*\" matches any characters, so it also allowed hosts that merely end in \"{post}\" (e.g. {pre}evil{post}); imported as \"{bare}\" and \"{sub}\" only"));
        imp.add_origin(cors, &bare, line);
        imp.add_origin(cors, &sub, line);
        return;
    }
    imp.warn("origin-not-expressible", line, format!("\"{o}\": a \"*\" there has no policy equivalent (only \"scheme://*.domain\" and \"scheme://host:*\" do); not imported"));
}
