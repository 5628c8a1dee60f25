//! `--from gcs`: a Cloud Storage bucket's `cors.json` (the array
//! `gcloud storage buckets update --cors-file` takes, or `{"cors": [...]}` as
//! the bucket resource holds it). Entries have `origin`, `method`,
//! `responseHeader`, `maxAgeSeconds`; `"*"` is the only wildcard, the first
//! entry matching origin and method answers, and there are no credentials.

use super::{merge_with_origins, Cors, Import, ReadError, RouteSpec, Rule};
use cors_gateway_core::locate::locate;
use serde_json::Value;

pub fn read(text: &str) -> Result<Import, ReadError> {
    let doc: Value = serde_json::from_str(text)
        .map_err(|e| ReadError(e.line(), format!("not valid JSON: {e}")))?;
    let (entries, base) = match (&doc, doc.get("cors")) {
        (Value::Array(a), _) => (a, ""),
        (_, Some(Value::Array(a))) => (a, "cors"),
        _ => return Err(ReadError(1, "expected the cors.json array ([{\"origin\": [...], \"method\": [...]}]) or {\"cors\": [...]}".into())),
    };
    let mut imp = Import::default();
    let line = |path: &str| locate(text, path).map_or(0, |(l, _)| l);
    let strings = super::json_strings;
    let mut rules = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let at = format!("{base}[{i}]");
        let Some(obj) = e.as_object() else {
            imp.warn(
                "rule-ignored",
                line(&at),
                "an entry must be an object; ignored",
            );
            continue;
        };
        for k in obj.keys() {
            if !["origin", "method", "responseHeader", "maxAgeSeconds"].contains(&k.as_str()) {
                imp.warn(
                    "unknown-field",
                    line(&format!("{at}.{k}")),
                    format!("\"{k}\" is not a Cloud Storage CORS field; ignored"),
                );
            }
        }
        let origins: Vec<(String, usize)> = strings(&e["origin"])
            .into_iter()
            .enumerate()
            .map(|(j, o)| (o, line(&format!("{at}.origin[{j}]"))))
            .collect();
        let methods = strings(&e["method"]);
        if origins.is_empty() || methods.is_empty() {
            imp.warn(
                "rule-ignored",
                line(&at),
                "an entry without origin or method matches no request; ignored",
            );
            continue;
        }
        let response = strings(&e["responseHeader"]);
        rules.push(Rule {
            line: line(&at),
            origins,
            methods,
            headers: response.clone(),
            expose: response,
            max_age: e["maxAgeSeconds"].as_u64(),
        });
    }
    if rules.iter().any(|r| !r.headers.is_empty()) {
        imp.note("response-header", 0, "responseHeader is Cloud Storage's one list for the request headers a preflight may ask for and the response headers scripts may read; imported as both allow_headers and expose_headers");
    }
    let cors = merge_with_origins(&mut imp, &rules, &[], add_gcs_origin);
    imp.routes.push(RouteSpec {
        name: "bucket".into(),
        prefix: "/".into(),
        upstream: None,
        cors,
    });
    Ok(imp)
}

fn add_gcs_origin(imp: &mut Import, cors: &mut Cors, o: &str, l: usize) {
    if o != "*" && o.contains('*') {
        imp.warn("origin-not-expressible", l, format!("\"{o}\": Cloud Storage matches origins literally, \"*\" alone being any origin, so this entry matched only itself (no browser sends it); not imported"));
        return;
    }
    imp.add_origin(cors, o, l);
}
