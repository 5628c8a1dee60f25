//! What the browser does with a request and with the gateway's answer: the
//! client side of the Fetch standard's CORS protocol, so `explain` can say
//! whether a preflight is sent and what the page will see, in the words of
//! each engine's console (Chromium, Firefox, WebKit). The browser suite
//! (tests/browser.rs) holds these predictions to the real engines on every
//! run. (The gateway's rules live in cors-gateway-core.)

use cors_gateway_core::fetch::{is_safelisted_method, is_safelisted_request_header};

/// A request as the page's script makes it.
pub struct PageRequest<'a> {
    pub url: &'a str,
    pub origin: &'a str,
    pub method: &'a str,
    /// (lower-case name, value) as set by the script.
    pub headers: &'a [(String, String)],
    pub credentials: bool,
}

/// Header names the browser lists in `Access-Control-Request-Headers`: the
/// non-safelisted ones, lower case, sorted, without duplicates.
pub fn unsafe_header_names(req: &PageRequest<'_>) -> Vec<String> {
    let mut names: Vec<String> = req
        .headers
        .iter()
        .filter(|(n, v)| !is_safelisted_request_header(n, v))
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
        if !is_safelisted_request_header(n, v) {
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

/// The browser engines `explain` speaks for. Their CORS checks are the same
/// (the Fetch standard); their preflight caches and console wording are not.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Engine {
    Chromium,
    Firefox,
    WebKit,
}

impl Engine {
    pub const ALL: [Engine; 3] = [Engine::Chromium, Engine::Firefox, Engine::WebKit];

    /// The key in `--format json` output.
    pub fn key(self) -> &'static str {
        match self {
            Engine::Chromium => "chromium",
            Engine::Firefox => "firefox",
            Engine::WebKit => "webkit",
        }
    }

    /// Who runs it, for the text output.
    pub fn label(self) -> &'static str {
        match self {
            Engine::Chromium => "Chromium (Chrome, Edge)",
            Engine::Firefox => "Firefox",
            Engine::WebKit => "WebKit (Safari, every iOS browser)",
        }
    }

    /// The longest a preflight answer stays cached, in seconds, whatever
    /// `Access-Control-Max-Age` says.
    pub fn max_age_cap(self) -> u32 {
        match self {
            Engine::Chromium => cors_gateway_core::lint::CHROMIUM_MAX_AGE_CAP,
            Engine::Firefox => 86400,
            Engine::WebKit => cors_gateway_core::lint::WEBKIT_MAX_AGE_CAP,
        }
    }
}

/// Which of the browser's checks failed: one reason, worded differently by
/// each engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    NoAllowOrigin,
    MultipleAllowOrigins(Vec<String>),
    WildcardWithCredentials,
    OriginMismatch(String),
    CredentialsNotTrue(String),
    NotOkStatus,
    MethodNotAllowed(String),
    HeaderNotAllowed(String),
}

/// The browser blocks the request: where and why.
#[derive(Clone, Debug)]
pub struct Blocked {
    /// The preflight's answer failed (else the actual response's).
    pub preflight: bool,
    /// The failing response's status; `None` when the upstream chose it.
    pub status: Option<u16>,
    pub reason: Reason,
}

/// Stands for the status in a console message when the upstream answered.
pub const UPSTREAM_STATUS: &str = "<the upstream's status>";

impl Blocked {
    fn status(&self) -> String {
        self.status
            .map_or_else(|| UPSTREAM_STATUS.to_string(), |s| s.to_string())
    }

    /// The console lines `engine` prints for this block, in its words.
    pub fn console(&self, engine: Engine, req: &PageRequest<'_>) -> Vec<String> {
        match engine {
            Engine::Chromium => vec![self.chromium(req)],
            // After a failed preflight Firefox also reports the request itself.
            Engine::Firefox if self.preflight => vec![
                self.firefox(req),
                format!("Cross-Origin Request Blocked: The Same Origin Policy disallows reading the remote resource at {}. (Reason: CORS request did not succeed). Status code: (null).", req.url),
            ],
            Engine::Firefox => vec![self.firefox(req)],
            Engine::WebKit => vec![
                self.webkit(req),
                format!(
                    "Fetch API cannot load {} due to access control checks.",
                    req.url
                ),
            ],
        }
    }

    fn chromium(&self, req: &PageRequest<'_>) -> String {
        let pre = if self.preflight {
            "Response to preflight request doesn't pass access control check: "
        } else {
            ""
        };
        let reason = match &self.reason {
            Reason::NoAllowOrigin => "No 'Access-Control-Allow-Origin' header is present on the requested resource.".to_string(),
            Reason::WildcardWithCredentials => "The value of the 'Access-Control-Allow-Origin' header in the response must not be the wildcard '*' when the request's credentials mode is 'include'.".to_string(),
            Reason::OriginMismatch(v) => format!("The 'Access-Control-Allow-Origin' header has a value '{v}' that is not equal to the supplied origin."),
            Reason::MultipleAllowOrigins(v) => format!("The 'Access-Control-Allow-Origin' header contains multiple values '{}', but only one is allowed. Have the server send the header with a valid value.", v.join(", ")),
            Reason::CredentialsNotTrue(v) => format!("The value of the 'Access-Control-Allow-Credentials' header in the response is '{v}' which must be 'true' when the request's credentials mode is 'include'."),
            Reason::NotOkStatus => "It does not have HTTP ok status.".to_string(),
            // Not part of the preflight check's wording in Chromium.
            Reason::MethodNotAllowed(m) => {
                return format!("Access to fetch at '{}' from origin '{}' has been blocked by CORS policy: Method {m} is not allowed by Access-Control-Allow-Methods in preflight response.", req.url, req.origin)
            }
            Reason::HeaderNotAllowed(h) => {
                return format!("Access to fetch at '{}' from origin '{}' has been blocked by CORS policy: Request header field {h} is not allowed by Access-Control-Allow-Headers in preflight response.", req.url, req.origin)
            }
        };
        format!(
            "Access to fetch at '{}' from origin '{}' has been blocked by CORS policy: {pre}{reason}",
            req.url, req.origin
        )
    }

    /// Firefox's wording (its security.properties strings). Firefox checks a
    /// preflight's headers before its status.
    fn firefox(&self, req: &PageRequest<'_>) -> String {
        let url = req.url;
        let reason = match &self.reason {
            Reason::NotOkStatus => format!("(Reason: CORS preflight response did not succeed). Status code: {}.", self.status()),
            Reason::NoAllowOrigin => format!("(Reason: CORS header ‘Access-Control-Allow-Origin’ missing). Status code: {}.", self.status()),
            // Firefox joins repeated headers and compares the result.
            Reason::MultipleAllowOrigins(v) => format!("(Reason: CORS header ‘Access-Control-Allow-Origin’ does not match ‘{}’).", v.join(", ")),
            Reason::WildcardWithCredentials => {
                return format!("Cross-Origin Request Blocked: The Same Origin Policy disallows reading the remote resource at ‘{url}’. (Reason: Credential is not supported if the CORS header ‘Access-Control-Allow-Origin’ is ‘*’).")
            }
            Reason::OriginMismatch(v) => format!("(Reason: CORS header ‘Access-Control-Allow-Origin’ does not match ‘{v}’)."),
            Reason::CredentialsNotTrue(_) => "(Reason: expected ‘true’ in CORS header ‘Access-Control-Allow-Credentials’).".to_string(),
            Reason::MethodNotAllowed(_) => "(Reason: Did not find method in CORS header ‘Access-Control-Allow-Methods’).".to_string(),
            Reason::HeaderNotAllowed(h) => format!("(Reason: header ‘{h}’ is not allowed according to header ‘Access-Control-Allow-Headers’ from CORS preflight response)."),
        };
        format!("Cross-Origin Request Blocked: The Same Origin Policy disallows reading the remote resource at {url}. {reason}")
    }

    /// WebKit's first line (the second names the URL). WebKit checks a
    /// preflight's status before its headers.
    fn webkit(&self, req: &PageRequest<'_>) -> String {
        if self.preflight && !self.status.is_some_and(|s| (200..300).contains(&s)) {
            return format!(
                "Preflight response is not successful. Status code: {}",
                self.status()
            );
        }
        match &self.reason {
            Reason::NoAllowOrigin | Reason::OriginMismatch(_) => format!(
                "Origin {} is not allowed by Access-Control-Allow-Origin. Status code: {}",
                req.origin,
                self.status()
            ),
            Reason::MultipleAllowOrigins(_) => {
                "Access-Control-Allow-Origin cannot contain more than one origin.".to_string()
            }
            Reason::WildcardWithCredentials => {
                "Cannot use wildcard in Access-Control-Allow-Origin when credentials flag is true."
                    .to_string()
            }
            Reason::CredentialsNotTrue(_) => {
                "Credentials flag is true, but Access-Control-Allow-Credentials is not \"true\"."
                    .to_string()
            }
            Reason::NotOkStatus => format!(
                "Preflight response is not successful. Status code: {}",
                self.status()
            ),
            Reason::MethodNotAllowed(m) => {
                format!("Method {m} is not allowed by Access-Control-Allow-Methods.")
            }
            Reason::HeaderNotAllowed(h) => {
                format!("Request header field {h} is not allowed by Access-Control-Allow-Headers.")
            }
        }
    }
}

/// Fetch's CORS check on a response (the preflight's or the actual one's).
fn cors_check(
    req: &PageRequest<'_>,
    status: Option<u16>,
    headers: &[(String, String)],
    preflight: bool,
) -> Result<(), Blocked> {
    let fail = |reason| {
        Err(Blocked {
            preflight,
            status,
            reason,
        })
    };
    let acao = get(headers, "access-control-allow-origin");
    match acao.as_slice() {
        [] => return fail(Reason::NoAllowOrigin),
        [v] if *v == "*" && req.credentials => return fail(Reason::WildcardWithCredentials),
        [v] if *v != "*" && *v != req.origin => return fail(Reason::OriginMismatch(v.to_string())),
        [_] => {}
        many => {
            return fail(Reason::MultipleAllowOrigins(
                many.iter().map(|v| v.to_string()).collect(),
            ))
        }
    }
    if req.credentials {
        let acac = get(headers, "access-control-allow-credentials");
        if acac.as_slice() != ["true"] {
            return fail(Reason::CredentialsNotTrue(acac.join(", ")));
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
) -> Result<(), Blocked> {
    cors_check(req, Some(status), headers, true)?;
    let fail = |reason| {
        Err(Blocked {
            preflight: true,
            status: Some(status),
            reason,
        })
    };
    if !(200..300).contains(&status) {
        return fail(Reason::NotOkStatus);
    }
    let methods = list(headers, "access-control-allow-methods");
    let any = !req.credentials && methods.iter().any(|m| m == "*");
    if !is_safelisted_method(req.method) && !any && !methods.iter().any(|m| m == req.method) {
        return fail(Reason::MethodNotAllowed(req.method.to_string()));
    }
    let allowed = list(headers, "access-control-allow-headers");
    let any = !req.credentials && allowed.iter().any(|h| h == "*");
    for name in unsafe_header_names(req) {
        let listed = allowed.iter().any(|h| h.eq_ignore_ascii_case(&name));
        let covered_by_wildcard = any && name != "authorization";
        if !(listed || covered_by_wildcard) {
            return fail(Reason::HeaderNotAllowed(name));
        }
    }
    Ok(())
}

/// The browser's check of the actual answer; `status` is `None` when the
/// upstream chose it.
pub fn check_response(
    req: &PageRequest<'_>,
    status: Option<u16>,
    headers: &[(String, String)],
) -> Result<(), Blocked> {
    cors_check(req, status, headers, false)
}

/// The response headers the page's script may read beyond the safelisted ones.
pub fn exposed(req: &PageRequest<'_>, headers: &[(String, String)]) -> Vec<String> {
    let names = list(headers, "access-control-expose-headers");
    if !req.credentials && names.iter().any(|n| n == "*") {
        return vec!["* (every header except Set-Cookie)".into()];
    }
    names
}

/// What a route that answers Private Network Access preflights should know.
pub const LOCAL_NETWORK_ACCESS: &str = "allow_private_network answers Private Network Access preflights (Access-Control-Request-Private-Network), which Chromium no longer sends: it asks the user for the Local Network Access permission instead when a public page calls a private or loopback address. No response header grants that permission. The gateway still answers the header for the older Chromium builds that send these preflights.";
