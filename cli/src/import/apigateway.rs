//! `--from apigateway`: an API Gateway HTTP API `CorsConfiguration` (as the
//! API's `CorsConfiguration`/`Cors` member, bare, or in CloudFormation's and
//! the CDK's camelCase). API Gateway answers preflights itself with the
//! configured lists when the origin is allowed; the browser judges the rest.

use super::{split_list, Cors, Import, ReadError, RouteSpec};
use cors_gateway_core::locate::locate;
use serde_json::{Map, Value};

const FIELDS: [&str; 6] = [
    "AllowOrigins",
    "AllowMethods",
    "AllowHeaders",
    "ExposeHeaders",
    "MaxAge",
    "AllowCredentials",
];

pub fn read(text: &str) -> Result<Import, ReadError> {
    let doc: Value = serde_json::from_str(text)
        .map_err(|e| ReadError(e.line(), format!("not valid JSON: {e}")))?;
    let (obj, base) = ["CorsConfiguration", "Cors", "corsConfiguration", "cors"]
        .iter()
        .find_map(|k| {
            doc.get(*k)
                .and_then(Value::as_object)
                .map(|o| (o, k.to_string()))
        })
        .or_else(|| doc.as_object().map(|o| (o, String::new())))
        .ok_or_else(|| ReadError(1, "expected a CorsConfiguration object".into()))?;
    let mut imp = Import {
        https_api: true,
        ..Import::default()
    };
    let path = |k: &str| {
        if base.is_empty() {
            k.to_string()
        } else {
            format!("{base}.{k}")
        }
    };
    let line = |k: &str| locate(text, &path(k)).map_or(0, |(l, _)| l);
    // Field names case-insensitively: `AllowOrigins` and `allowOrigins` both occur.
    let get = |name: &str| -> Option<(&String, &Value)> {
        obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(name))
    };
    check_fields(&mut imp, obj, &line);
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
    let mut cors = Cors::default();
    if let Some((k, v)) = get("AllowCredentials") {
        cors.credentials = v.as_bool().unwrap_or(false);
        cors.credentials_line = line(k);
    }
    if let Some((k, v)) = get("AllowOrigins") {
        for (j, o) in list(v).iter().enumerate() {
            let l = locate(text, &format!("{}[{j}]", path(k))).map_or(line(k), |(l, _)| l);
            if o == "https://*" || o == "http://*" {
                imp.warn("origin-not-expressible", l, format!("\"{o}\" allows every {} site{}; not imported (use \"*\" if any site is meant, or list the origins)", &o[..o.len() - 4], if cors.credentials { " with the user's credentials, which trusts the whole web" } else { "" }));
                continue;
            }
            imp.add_origin(&mut cors, o, l);
        }
    }
    if let Some((_, v)) = get("AllowMethods") {
        cors.methods = Some(list(v));
    }
    if let Some((_, v)) = get("AllowHeaders") {
        cors.headers = Some(list(v));
    }
    if let Some((_, v)) = get("ExposeHeaders") {
        cors.expose = list(v);
    }
    if let Some((_, v)) = get("MaxAge") {
        cors.max_age = v.as_u64();
    }
    if cors.methods.is_none() {
        imp.note("methods-default", 0, "AllowMethods is not set: API Gateway sends no Access-Control-Allow-Methods, so browsers allow only GET, HEAD and POST; the policy's default is the same");
        cors.methods = Some(Vec::new());
    }
    if cors.max_age.is_none() {
        imp.note("max-age-default", 0, "MaxAge is not set: API Gateway sends no Access-Control-Max-Age (browsers cache a preflight 5 s); the policy's default is 600 s");
    }
    imp.routes.push(RouteSpec {
        name: "api".into(),
        prefix: "/".into(),
        upstream: None,
        cors,
    });
    Ok(imp)
}

fn check_fields(imp: &mut Import, obj: &Map<String, Value>, line: &dyn Fn(&str) -> usize) {
    for k in obj.keys() {
        if !FIELDS.iter().any(|f| f.eq_ignore_ascii_case(k)) {
            imp.warn(
                "unknown-field",
                line(k),
                format!(
                    "\"{k}\" is not a CorsConfiguration field ({}); ignored",
                    FIELDS.join(", ")
                ),
            );
        }
    }
}
