//! What the browser does with a request and with the gateway's answer: the
//! client side of the Fetch standard's CORS protocol, so `explain` can say
//! whether a preflight is sent and what the page will see, in the words of
//! Chromium's console. (The gateway's rules live in cors-gateway-core.)

use cors_gateway_core::headers::is_safelisted_method;

/// A request as the page's script makes it.
pub struct PageRequest<'a> {
    pub url: &'a str,
    pub origin: &'a str,
    pub method: &'a str,
    /// (lower-case name, value) as set by the script.
    pub headers: &'a [(String, String)],
    pub credentials: bool,
}

fn is_safelisted_header(name: &str, value: &str) -> bool {
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match name {
        "accept" | "accept-language" | "content-language" => value.len() <= 128,
        "content-type" => matches!(
            essence.as_str(),
            "application/x-www-form-urlencoded" | "multipart/form-data" | "text/plain"
        ),
        "range" => value.starts_with("bytes="),
        _ => false,
    }
}

/// Header names the browser lists in `Access-Control-Request-Headers`: the
/// non-safelisted ones, lower case, sorted, without duplicates.
pub fn unsafe_header_names(req: &PageRequest<'_>) -> Vec<String> {
    let mut names: Vec<String> = req
        .headers
        .iter()
        .filter(|(n, v)| !is_safelisted_header(n, v))
        .map(|(n, _)| n.clone())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Why a preflight is sent (empty: it is not).
pub fn preflight_reasons(req: &PageRequest<'_>) -> Vec<String> {
    let mut why = Vec::new();
    if !is_safelisted_method(req.method) {
        why.push(format!(
            "{} is not a CORS-safelisted method (GET, HEAD, POST)",
            req.method
        ));
    }
    for (n, v) in req.headers {
        if !is_safelisted_header(n, v) {
            why.push(if n == "content-type" {
                format!("content-type \"{v}\" is not one of the three safelisted types (form, multipart, text/plain)")
            } else {
                format!("{n} is not a CORS-safelisted request header")
            });
        }
    }
    why
}

fn get<'h>(headers: &'h [(String, String)], name: &str) -> Vec<&'h str> {
    headers
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

fn blocked(req: &PageRequest<'_>, preflight: bool, reason: &str) -> String {
    let pre = if preflight {
        "Response to preflight request doesn't pass access control check: "
    } else {
        ""
    };
    format!(
        "Access to fetch at '{}' from origin '{}' has been blocked by CORS policy: {pre}{reason}",
        req.url, req.origin
    )
}

/// Fetch's CORS check on a response (the preflight's or the actual one's).
fn cors_check(
    req: &PageRequest<'_>,
    headers: &[(String, String)],
    preflight: bool,
) -> Result<(), String> {
    let acao = get(headers, "access-control-allow-origin");
    match acao.as_slice() {
        [] => return Err(blocked(req, preflight, "No 'Access-Control-Allow-Origin' header is present on the requested resource.")),
        [v] if *v == "*" && req.credentials => {
            return Err(blocked(req, preflight, "The value of the 'Access-Control-Allow-Origin' header in the response must not be the wildcard '*' when the request's credentials mode is 'include'."))
        }
        [v] if *v != "*" && *v != req.origin => {
            return Err(blocked(req, preflight, &format!("The 'Access-Control-Allow-Origin' header has a value '{v}' that is not equal to the supplied origin.")))
        }
        [_] => {}
        many => {
            return Err(blocked(req, preflight, &format!("The 'Access-Control-Allow-Origin' header contains multiple values '{}', but only one is allowed.", many.join(", "))))
        }
    }
    if req.credentials {
        let acac = get(headers, "access-control-allow-credentials");
        if acac.as_slice() != ["true"] {
            return Err(blocked(req, preflight, &format!("The value of the 'Access-Control-Allow-Credentials' header in the response is '{}' which must be 'true' when the request's credentials mode is 'include'.", acac.join(", "))));
        }
    }
    Ok(())
}

fn list(headers: &[(String, String)], name: &str) -> Vec<String> {
    get(headers, name)
        .iter()
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The browser's checks of a preflight answer.
pub fn check_preflight(
    req: &PageRequest<'_>,
    status: u16,
    headers: &[(String, String)],
) -> Result<(), String> {
    cors_check(req, headers, true)?;
    if !(200..300).contains(&status) {
        return Err(blocked(req, true, "It does not have HTTP ok status."));
    }
    let methods = list(headers, "access-control-allow-methods");
    let any = !req.credentials && methods.iter().any(|m| m == "*");
    if !is_safelisted_method(req.method) && !any && !methods.iter().any(|m| m == req.method) {
        return Err(format!(
            "Access to fetch at '{}' from origin '{}' has been blocked by CORS policy: Method {} is not allowed by Access-Control-Allow-Methods in preflight response.",
            req.url, req.origin, req.method
        ));
    }
    let allowed = list(headers, "access-control-allow-headers");
    let any = !req.credentials && allowed.iter().any(|h| h == "*");
    for name in unsafe_header_names(req) {
        let listed = allowed.iter().any(|h| h.eq_ignore_ascii_case(&name));
        let covered_by_wildcard = any && name != "authorization";
        if !(listed || covered_by_wildcard) {
            return Err(format!(
                "Access to fetch at '{}' from origin '{}' has been blocked by CORS policy: Request header field {name} is not allowed by Access-Control-Allow-Headers in preflight response.",
                req.url, req.origin
            ));
        }
    }
    Ok(())
}

/// The browser's check of the actual answer.
pub fn check_response(req: &PageRequest<'_>, headers: &[(String, String)]) -> Result<(), String> {
    cors_check(req, headers, false)
}

/// The response headers the page's script may read beyond the safelisted ones.
pub fn exposed(req: &PageRequest<'_>, headers: &[(String, String)]) -> Vec<String> {
    let names = list(headers, "access-control-expose-headers");
    if !req.credentials && names.iter().any(|n| n == "*") {
        return vec!["* (every header except Set-Cookie)".into()];
    }
    names
}
