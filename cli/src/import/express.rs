//! `--from express`: the options object of the `cors` npm package, as JSON.
//! A RegExp, which JSON cannot hold, is written as its literal in a string
//! ("/^https:\\/\\/app\\.example\\.com$/"). The package's behaviour: `origin`
//! `"*"` (default) answers `*`; a string is sent as is; `true` echoes the
//! request's origin; an array echoes a listed (or matching) origin; methods
//! default to GET,HEAD,PUT,PATCH,POST,DELETE; without `allowedHeaders` the
//! requested headers are echoed.

use super::regex::{literal_dot_reading, to_origins, Conv};
use super::{split_list, Cors, Import, ReadError, RouteSpec};
use cors_gateway_core::locate::locate;
use serde_json::Value;

const FIELDS: [&str; 8] = [
    "origin",
    "methods",
    "allowedHeaders",
    "headers",
    "exposedHeaders",
    "credentials",
    "maxAge",
    "preflightContinue",
];

pub fn read(text: &str) -> Result<Import, ReadError> {
    let doc: Value = serde_json::from_str(text)
        .map_err(|e| ReadError(e.line(), format!("not valid JSON: {e}")))?;
    let obj = doc.as_object().ok_or_else(|| {
        ReadError(
            1,
            "expected the options object of cors(), e.g. {\"origin\": \"https://app.example.com\"}"
                .into(),
        )
    })?;
    let mut imp = Import::default();
    let line = |k: &str| locate(text, k).map_or(0, |(l, _)| l);
    let list = |v: &Value| -> Vec<String> {
        match v {
            Value::String(s) => split_list(s),
            Value::Array(a) => a
                .iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        }
    };
    for k in obj.keys() {
        if !FIELDS.contains(&k.as_str()) && k != "optionsSuccessStatus" {
            imp.warn(
                "unknown-field",
                line(k),
                format!("\"{k}\" is not a cors option; ignored"),
            );
        }
    }
    let mut cors = Cors::default();
    if let Some(v) = obj.get("credentials") {
        cors.credentials = v.as_bool().unwrap_or(false);
        cors.credentials_line = line("credentials");
    }
    match obj.get("origin") {
        None => {
            imp.note(
                "origin-default",
                0,
                "origin is not set: the cors package answers every origin with \"*\"",
            );
            cors.origins.push("*".into());
        }
        Some(Value::Bool(true)) => {
            imp.warn("reflects-any-origin", line("origin"), format!("origin: true echoes whatever Origin the request carries, trusting every site on the web{}; imported as \"*\"", if cors.credentials { " with the user's credentials" } else { "" }));
            cors.origins.push("*".into());
        }
        Some(Value::Bool(false)) => {
            imp.warn(
                "cors-disabled",
                line("origin"),
                "origin: false turns CORS off; the policy allows no origin",
            );
        }
        Some(Value::String(s)) => origin_entry(&mut imp, &mut cors, s, line("origin")),
        Some(Value::Array(a)) => {
            for (i, e) in a.iter().enumerate() {
                let l = line(&format!("origin[{i}]"));
                match e.as_str() {
                    Some(s) => origin_entry(&mut imp, &mut cors, s, l),
                    None => imp.warn(
                        "origin-not-expressible",
                        l,
                        format!("{e} is not an origin string; not imported"),
                    ),
                }
            }
        }
        Some(other) => imp.warn(
            "origin-not-expressible",
            line("origin"),
            format!(
                "origin {other}: a function or other value cannot be imported; list the origins"
            ),
        ),
    }
    cors.methods = Some(match obj.get("methods") {
        Some(v) => list(v),
        None => {
            imp.note(
                "methods-default",
                0,
                "methods is not set: the package's default GET,HEAD,PUT,PATCH,POST,DELETE",
            );
            ["GET", "HEAD", "PUT", "PATCH", "POST", "DELETE"]
                .map(String::from)
                .to_vec()
        }
    });
    match obj.get("allowedHeaders").or(obj.get("headers")) {
        Some(v) => cors.headers = Some(list(v)),
        // With "*" the credentials are dropped later, so "*" headers are legal.
        None if cors.credentials && !cors.origins.iter().any(|o| o == "*") => {
            imp.warn("reflects-request-headers", 0, "allowedHeaders is not set, so the package echoed any requested header; with credentials the policy needs them listed, and none were imported: list them in allow_headers");
            cors.headers = Some(Vec::new());
        }
        None => {
            imp.note("reflects-request-headers", 0, "allowedHeaders is not set, so the package echoed any requested header; imported as \"*\" and \"authorization\" (which \"*\" does not cover)");
            cors.headers = Some(vec!["*".into(), "authorization".into()]);
        }
    }
    if let Some(v) = obj.get("exposedHeaders") {
        cors.expose = list(v);
    }
    match obj.get("maxAge").and_then(Value::as_u64) {
        Some(m) => cors.max_age = Some(m),
        None => imp.note("max-age-default", 0, "maxAge is not set: the package sent no Access-Control-Max-Age (browsers cache a preflight 5 s); the policy's default is 600 s"),
    }
    if obj.get("preflightContinue") == Some(&Value::Bool(true)) {
        imp.warn("preflight-continue", line("preflightContinue"), "preflightContinue: true passed preflights on to the app's own OPTIONS handler; the gateway answers every preflight itself and never forwards it");
    }
    if let Some(v) = obj.get("optionsSuccessStatus") {
        imp.note("options-status", line("optionsSuccessStatus"), format!("optionsSuccessStatus {v}: the gateway answers preflights with 204, which every current browser accepts"));
    }
    imp.routes.push(RouteSpec {
        name: "app".into(),
        prefix: "/".into(),
        upstream: None,
        cors,
    });
    Ok(imp)
}

fn origin_entry(imp: &mut Import, cors: &mut Cors, s: &str, line: usize) {
    let Some(body) = s
        .strip_prefix('/')
        .and_then(|r| r.rsplit_once('/'))
        .map(|(b, _)| b)
    else {
        return imp.add_origin(cors, s, line);
    };
    let body = body.replace("\\/", "/");
    match to_origins(&body) {
        Ok(Conv::Any) => {
            imp.warn(
                "reflects-any-origin",
                line,
                format!(
                    "{s} matches any origin, trusting every site on the web; imported as \"*\""
                ),
            );
            cors.origins.push("*".into());
        }
        Ok(Conv::Origins(list)) => {
            imp.note(
                "regex-converted",
                line,
                format!("{s} is exactly {}", list.join(", ")),
            );
            for o in list {
                imp.add_origin(cors, &o, line);
            }
        }
        Err(why) => {
            let hint = literal_dot_reading(&body)
                .map(|l| {
                    format!(
                        " (if its dots are literal and it is anchored, it means: {})",
                        l.join(", ")
                    )
                })
                .unwrap_or_default();
            let code = if why.contains("anchored") {
                "unanchored-regex"
            } else {
                "regex-not-expressible"
            };
            imp.warn(code, line, format!("{s} not imported: {why}{hint}"));
        }
    }
}
