//! Lints: what is legal in a policy but risky or useless. `cors-gateway check`
//! prints them; the gateway itself only refuses what is invalid.

use crate::fetch::{is_safelisted_method, SAFELISTED_ANY_VALUE};
use crate::json::Json;
use crate::origin::{parse_pattern, OriginPattern};
use crate::policy::{Policy, UpstreamScheme};

/// One warning, with a stable code and the JSON path it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lint {
    pub code: &'static str,
    pub path: String,
    pub message: String,
}

/// Chromium caps `Access-Control-Max-Age` at this many seconds.
pub const CHROMIUM_MAX_AGE_CAP: u32 = 7200;

/// WebKit (Safari, every browser on iOS) caps `Access-Control-Max-Age` at
/// this many seconds.
pub const WEBKIT_MAX_AGE_CAP: u32 = 600;

/// Whether `*.suffix` allows every site under a public suffix: a single
/// label (`*.com`, `*.internal`), or a suffix of the Public Suffix List
/// (`co.uk`, `github.io`, `s3.amazonaws.com`), where anyone can register a
/// name.
fn is_public_suffix(suffix: &str) -> bool {
    let s = suffix.strip_suffix('.').unwrap_or(suffix);
    !s.contains('.') || psl::suffix(s.as_bytes()).is_some_and(|p| p.as_bytes() == s.as_bytes())
}

fn is_local_host(host: &str) -> bool {
    host == "localhost" || host.ends_with(".localhost") || host == "127.0.0.1" || host == "[::1]"
}

/// The `allow_origins` entries in force for a route (or the defaults, `None`),
/// with the JSON path of the list they come from.
fn origin_list<'a>(doc: &'a Json, route: Option<usize>) -> (String, Vec<&'a str>) {
    let list = |v: &'a Json| -> Vec<&'a str> {
        v.as_array()
            .map(|a| a.iter().filter_map(Json::as_str).collect())
            .unwrap_or_default()
    };
    if let Some(i) = route {
        let v = &doc["routes"][i]["cors"]["allow_origins"];
        if !v.is_null() {
            return (format!("routes[{i}].cors.allow_origins"), list(v));
        }
    }
    (
        "cors.allow_origins".into(),
        list(&doc["cors"]["allow_origins"]),
    )
}

/// Where a `cors` field is set for a route: the route's override or the defaults.
fn field_path(doc: &Json, route: usize, field: &str) -> String {
    if doc["routes"][route]["cors"].get(field).is_some() {
        format!("routes[{route}].cors.{field}")
    } else {
        format!("cors.{field}")
    }
}

/// Lints a valid policy. `doc` is the tree it was validated from
/// ([`Policy::from_json_tree`]), for the paths of what the lints find.
pub fn lint(policy: &Policy, doc: &Json) -> Vec<Lint> {
    let mut out = Vec::new();
    let mut push = |code: &'static str, path: String, message: String| {
        if !out.iter().any(|l: &Lint| l.code == code && l.path == path) {
            out.push(Lint {
                code,
                path,
                message,
            });
        }
    };
    if policy.debug {
        push(
            "debug-enabled",
            "debug".into(),
            "debug names the failed check in responses and logs; never enable it in production"
                .into(),
        );
    }

    // Per cors level as written: lists that say something useless or dangerous.
    let mut levels: Vec<(String, &Json)> = vec![("cors".into(), &doc["cors"])];
    if let Some(routes) = doc["routes"].as_array() {
        for (i, r) in routes.iter().enumerate() {
            levels.push((format!("routes[{i}].cors"), &r["cors"]));
        }
    }
    for (base, cors) in &levels {
        if let Some(list) = cors["allow_origins"].as_array() {
            let entries: Vec<&str> = list.iter().filter_map(Json::as_str).collect();
            let patterns: Vec<Option<OriginPattern>> =
                entries.iter().map(|e| parse_pattern(e).ok()).collect();
            for (i, (e, p)) in entries.iter().zip(&patterns).enumerate() {
                let path = format!("{base}.allow_origins[{i}]");
                if entries[..i].contains(e) {
                    push(
                        "duplicate-origin",
                        path.clone(),
                        format!("\"{e}\" is listed twice"),
                    );
                }
                match p {
                    Some(OriginPattern::Null) => push("null-origin", path.clone(), "\"null\" is the origin of sandboxed iframes, data: URLs and local files: any site can produce it, so allowing it is close to allowing everyone".into()),
                    Some(OriginPattern::Subdomains { suffix, .. })
                        if is_public_suffix(suffix) =>
                    {
                        push("public-suffix-wildcard", path.clone(), format!("\"{e}\" allows every site under the public suffix \"{suffix}\", i.e. anyone can register a matching domain"));
                    }
                    _ => {}
                }
                // Covered by another entry of the same list?
                if let Some(j) = patterns.iter().enumerate().position(|(j, q)| {
                    j != i && q.as_ref().zip(p.as_ref()).is_some_and(|(q, p)| q.covers(p))
                }) {
                    push(
                        "overlapping-origin",
                        path.clone(),
                        format!("\"{e}\" is already allowed by \"{}\"", entries[j]),
                    );
                }
            }
        }
        if let Some(list) = cors["allow_methods"].as_array() {
            for (i, m) in list.iter().enumerate() {
                if let Some(m) = m.as_str().filter(|m| is_safelisted_method(m)) {
                    push("never-preflighted-method", format!("{base}.allow_methods[{i}]"), format!("{m} is CORS-safelisted: browsers never ask for it in a preflight, so listing it changes nothing"));
                }
            }
        }
        if let Some(list) = cors["allow_headers"].as_array() {
            for (i, h) in list.iter().enumerate() {
                if let Some(h) = h.as_str().filter(|h| {
                    SAFELISTED_ANY_VALUE
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(h))
                }) {
                    push("safelisted-header-listed", format!("{base}.allow_headers[{i}]"), format!("{h} is CORS-safelisted for the values browsers send: browsers only preflight it for unusual values, so listing it rarely changes anything"));
                }
            }
        }
        if let Some(n) = cors["max_age_secs"].as_u64() {
            if n > u64::from(CHROMIUM_MAX_AGE_CAP) {
                push("max-age-above-chromium-cap", format!("{base}.max_age_secs"), format!("{n} s: Chromium caches preflights for at most {CHROMIUM_MAX_AGE_CAP} s, and a long cache delays revocations"));
            }
            if n > u64::from(WEBKIT_MAX_AGE_CAP) {
                push("max-age-above-webkit-cap", format!("{base}.max_age_secs"), format!("{n} s: WebKit (Safari, every browser on iOS) caches preflights for at most {WEBKIT_MAX_AGE_CAP} s, so those browsers preflight again every {} minutes", WEBKIT_MAX_AGE_CAP / 60));
            }
        }
        if cors["allow_private_network"] == Json::Bool(true) {
            push("private-network-access-replaced", format!("{base}.allow_private_network"), "Chromium no longer sends Private Network Access preflights: it replaced them with the Local Network Access permission prompt, so Access-Control-Allow-Private-Network changes nothing in current browsers (the gateway still answers it for older Chromium builds); a public page reaching a gateway on a private or loopback address needs the user to grant that permission".into());
        }
    }

    // Per route, on the merged configuration.
    for route in &policy.routes {
        let i = route.index;
        let c = &route.cors;
        let (list_path, entries) = origin_list(doc, Some(i));
        if c.origins.is_empty() {
            push(
                "no-origins",
                list_path.clone(),
                format!(
                    "route \"{}\" allows no origin: every CORS request to it is refused",
                    route.name
                ),
            );
        }
        for (j, e) in entries.iter().enumerate() {
            let Some(rest) = e.strip_prefix("http://") else {
                continue;
            };
            let host = rest.split(':').next().unwrap_or(rest);
            let host = if rest.starts_with('[') {
                rest.split(']')
                    .next()
                    .map(|h| &rest[..h.len() + 1])
                    .unwrap_or(rest)
            } else {
                host
            };
            if is_local_host(host) {
                continue;
            }
            let path = format!("{list_path}[{j}]");
            if c.allow_credentials {
                push("http-origin-with-credentials", path.clone(), format!("route \"{}\" sends credentialed responses to \"{e}\", a plain-http origin any network attacker can impersonate", route.name));
            }
            if route.upstream.scheme == UpstreamScheme::Https {
                push(
                    "http-origin-for-https-upstream",
                    path,
                    format!(
                        "route \"{}\" fronts an https API but trusts the plain-http origin \"{e}\"",
                        route.name
                    ),
                );
            }
        }
        let writes = ["POST", "PUT", "PATCH", "DELETE"].iter().any(|m| {
            c.allow_methods.contains(m) || (c.allow_methods.wildcard && !c.allow_credentials)
        });
        let content_type = c.allow_headers.contains("content-type")
            || (c.allow_headers.wildcard && !c.allow_credentials);
        if writes && !content_type && !c.origins.is_empty() {
            push("json-route-without-content-type", field_path(doc, i, "allow_headers"), format!("route \"{}\" allows writes but not the content-type header: a fetch() with a JSON body (content-type: application/json) is preflighted and refused", route.name));
        }
        if !route.path_prefix.ends_with('/') {
            let shadowing: Vec<&str> = policy
                .routes
                .iter()
                .filter(|o| {
                    o.index != i
                        && o.path_prefix.starts_with(&route.path_prefix)
                        && !o.path_prefix[route.path_prefix.len()..].starts_with('/')
                })
                .map(|o| o.name.as_str())
                .collect();
            let p = format!("routes[{i}].path_prefix");
            if shadowing.is_empty() {
                push("prefix-without-trailing-slash", p, format!("\"{}\" also matches \"{}-anything\"; end it with \"/\" unless that is intended", route.path_prefix, route.path_prefix));
            } else {
                push("shadowed-route", p, format!("\"{}\" is not a whole path segment: it also captures paths next to route(s) {} that do not start with their prefix exactly", route.path_prefix, shadowing.join(", ")));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(json: &str) -> Vec<(&'static str, String)> {
        let (p, tree) = Policy::from_json_tree(json).unwrap();
        lint(&p, &tree)
            .into_iter()
            .map(|l| (l.code, l.path))
            .collect()
    }

    /// The real Public Suffix List, not a short list: hosting platforms
    /// where anyone can register a subdomain warn, ordinary domains do not.
    #[test]
    fn public_suffixes_come_from_the_list() {
        for suffix in [
            "s3.amazonaws.com",
            "blogspot.com",
            "firebaseapp.com",
            "co.uk",
            "github.io",
            "com",
            "internal",
        ] {
            assert!(is_public_suffix(suffix), "{suffix}");
            let json = format!(
                r#"{{"version":1,"cors":{{"allow_origins":["https://*.{suffix}"]}},
                   "routes":[{{"name":"a","path_prefix":"/a/","upstream":"https://u"}}]}}"#
            );
            let got = codes(&json);
            assert!(
                got.contains(&("public-suffix-wildcard", "cors.allow_origins[0]".into())),
                "{suffix}: {got:?}"
            );
        }
        for suffix in ["example.com", "tenant.example.co.uk", "a.b.example"] {
            assert!(!is_public_suffix(suffix), "{suffix}");
        }
    }

    #[test]
    fn flags_the_classic_misconfigurations() {
        let got = codes(
            r#"{"version":1,"debug":true,
               "cors":{"allow_origins":["null","http://app.example.com","https://*.co.uk","https://*.com",
                                         "https://a.example.com","https://*.example.com","https://a.example.com"],
                       "allow_methods":["GET","PUT"],"allow_headers":["accept"],"allow_credentials":true,"max_age_secs":86400},
               "routes":[{"name":"api","path_prefix":"/api","upstream":"https://api.internal"},
                         {"name":"v2","path_prefix":"/api-v2/","upstream":"https://api.internal","cors":{"allow_private_network":true}},
                         {"name":"none","path_prefix":"/none/","upstream":"https://x","cors":{"allow_origins":[]}}]}"#,
        );
        for (code, path) in [
            ("debug-enabled", "debug"),
            ("null-origin", "cors.allow_origins[0]"),
            ("http-origin-with-credentials", "cors.allow_origins[1]"),
            ("http-origin-for-https-upstream", "cors.allow_origins[1]"),
            ("public-suffix-wildcard", "cors.allow_origins[2]"),
            ("public-suffix-wildcard", "cors.allow_origins[3]"),
            ("overlapping-origin", "cors.allow_origins[4]"),
            ("duplicate-origin", "cors.allow_origins[6]"),
            ("never-preflighted-method", "cors.allow_methods[0]"),
            ("safelisted-header-listed", "cors.allow_headers[0]"),
            ("max-age-above-chromium-cap", "cors.max_age_secs"),
            ("max-age-above-webkit-cap", "cors.max_age_secs"),
            (
                "private-network-access-replaced",
                "routes[1].cors.allow_private_network",
            ),
            ("json-route-without-content-type", "cors.allow_headers"),
            ("shadowed-route", "routes[0].path_prefix"),
            ("no-origins", "routes[2].cors.allow_origins"),
        ] {
            assert!(
                got.contains(&(code, path.to_string())),
                "missing {code} at {path}: {got:?}"
            );
        }
    }

    #[test]
    fn the_example_policy_is_clean_but_for_what_it_chose() {
        let text = include_str!("../../tests/policies/example.json");
        let got = codes(text);
        // It lists GET and POST (harmless) and an exact origin that its own
        // subdomain pattern already covers; nothing risky.
        assert!(
            got.contains(&("overlapping-origin", "cors.allow_origins[0]".into())),
            "{got:?}"
        );
        // Its max_age_secs (7200) is Chromium's cap, above WebKit's.
        assert!(
            got.iter().all(|(c, _)| matches!(
                *c,
                "never-preflighted-method" | "overlapping-origin" | "max-age-above-webkit-cap"
            )),
            "{got:?}"
        );
    }

    #[test]
    fn each_engines_cap_is_its_own_lint() {
        let at = |secs: u32| {
            codes(&format!(
                r#"{{"version":1,"cors":{{"allow_origins":["https://a.example"],"max_age_secs":{secs}}},
                   "routes":[{{"name":"r","path_prefix":"/r/","upstream":"https://r.internal"}}]}}"#
            ))
            .into_iter()
            .map(|(c, _)| c)
            .filter(|c| c.starts_with("max-age"))
            .collect::<Vec<_>>()
        };
        assert_eq!(at(600), Vec::<&str>::new());
        assert_eq!(at(601), ["max-age-above-webkit-cap"]);
        assert_eq!(at(7200), ["max-age-above-webkit-cap"]);
        assert_eq!(
            at(7201),
            ["max-age-above-chromium-cap", "max-age-above-webkit-cap"]
        );
    }

    #[test]
    fn private_network_access_is_explained_where_it_is_set() {
        let got = codes(
            r#"{"version":1,"cors":{"allow_origins":["https://a.example"],"allow_private_network":true},
               "routes":[{"name":"r","path_prefix":"/r/","upstream":"https://r.internal"},
                         {"name":"s","path_prefix":"/s/","upstream":"https://s.internal","cors":{"allow_private_network":false}}]}"#,
        );
        let pna: Vec<_> = got
            .iter()
            .filter(|(c, _)| *c == "private-network-access-replaced")
            .collect();
        assert_eq!(pna.len(), 1, "{got:?}");
        assert_eq!(pna[0].1, "cors.allow_private_network");
    }
}
