//! The admin endpoint of the Spin build: read, replace and roll back the
//! policy in the key-value store.
//!
//! - `GET  /.well-known/cors-gateway/policy`: the stored document, `ETag` = its SHA-256;
//! - `PUT  /.well-known/cors-gateway/policy`: validate completely, then store it
//!   (the replaced version is kept for rollback); `If-Match` guards against
//!   overwriting a version the caller has not seen (412);
//! - `POST /.well-known/cors-gateway/policy/rollback`: swap in the previous version.
//!
//! Every call needs `Authorization: Bearer <token>`, the secret Spin variable
//! `cors_admin_token`; without that variable the endpoint does not exist.
//!
//! The endpoint is binding-free: [`wants_body`] tells the binding whether to
//! read the request body (an authorized `PUT` only, so an unauthenticated
//! client never makes the gateway read a megabyte), and [`answer`] decides
//! with that body and returns the answer for the binding to send.

use crate::log::{log, Req};
use crate::respond::Head;
use crate::source::{self, sha256_hex};
use crate::spin::{open_store, record_last_good, store_label, POLICY_KEY, PREVIOUS_KEY};
use cors_gateway_core::Policy;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const POLICY_PATH: &str = "/.well-known/cors-gateway/policy";
pub const ROLLBACK_PATH: &str = "/.well-known/cors-gateway/policy/rollback";
/// Larger documents are refused (413) before they are parsed.
pub const MAX_POLICY_BYTES: usize = 1 << 20;

pub fn is_admin_path(path: &str) -> bool {
    path == POLICY_PATH || path == ROLLBACK_PATH
}

type Headers = [(String, Vec<u8>)];

fn header<'h>(headers: &'h Headers, name: &str) -> Vec<&'h [u8]> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice())
        .collect()
}

/// Constant time in the token's content and length: both sides are hashed
/// first, and the digests compared with `subtle`.
fn authorized(headers: &Headers, token: &str) -> bool {
    let values = header(headers, "authorization");
    let [value] = values.as_slice() else {
        return false;
    };
    let presented = match value.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case(b"bearer ") => &value[7..],
        _ => return false,
    };
    let a = Sha256::digest(presented);
    let b = Sha256::digest(token.as_bytes());
    a.as_slice().ct_eq(b.as_slice()).into()
}

/// An answer of the endpoint: its head and body.
pub type Answer = (Head<'static>, Vec<u8>);

fn json(status: u16, etag: Option<&str>, body: serde_json::Value) -> Answer {
    let mut head = Head::new(status, &[], None)
        .header("content-type", "application/json")
        .header("cache-control", "no-store");
    let quoted;
    if let Some(sha) = etag {
        quoted = format!("\"{sha}\"");
        head = head.header("etag", &quoted);
    }
    (head, format!("{body}\n").into_bytes())
}

fn error(status: u16, message: &str) -> Answer {
    json(status, None, serde_json::json!({ "error": message }))
}

/// 412: the If-Match header does not name the stored version.
fn precondition_failed(stored_sha: Option<&str>) -> Answer {
    json(
        412,
        stored_sha,
        serde_json::json!({
            "error": "If-Match does not name the stored policy; GET it and retry",
            "sha256": stored_sha,
        }),
    )
}

/// Whether `If-Match` (if any) names `current` (the stored version's SHA-256).
/// The comparison is strong (RFC 9110 §13.1.1): a weak tag (`W/"…"`) never
/// matches, and the tag must be quoted exactly as the `ETag` was sent.
fn if_match_ok(headers: &Headers, current: Option<&str>) -> bool {
    let values = header(headers, "if-match");
    if values.is_empty() {
        return true;
    }
    values
        .iter()
        .flat_map(|v| v.split(|b| *b == b','))
        .map(|t| t.trim_ascii())
        .any(|tag| match current {
            None => false,
            Some(_) if tag == b"*" => true,
            Some(sha) => tag
                .strip_prefix(b"\"")
                .and_then(|t| t.strip_suffix(b"\""))
                .is_some_and(|t| t == sha.as_bytes()),
        })
}

/// Whether the binding must read the request body before [`answer`]: an
/// authorized `PUT` of the policy, nothing else.
pub fn wants_body(method: &str, path: &str, headers: &Headers, token: &str) -> bool {
    method == "PUT" && path == POLICY_PATH && authorized(headers, token)
}

/// The endpoint's answer. `body` is the request body the binding read (at
/// most [`MAX_POLICY_BYTES`], else `Err(413)`; `Err(400)` when unreadable)
/// where [`wants_body`] asked for it, `None` otherwise.
pub fn answer(
    req: &Req,
    method: &str,
    path: &str,
    headers: &Headers,
    token: &str,
    body: Option<Result<Vec<u8>, u16>>,
) -> Answer {
    if !authorized(headers, token) {
        log!(
            req,
            "cors-gateway: WARNING admin request refused: missing or wrong bearer token"
        );
        let head = Head::new(401, &[], None)
            .header("www-authenticate", "Bearer realm=\"cors-gateway\"")
            .header("cache-control", "no-store");
        return (head, b"cors-gateway: unauthorized\n".to_vec());
    }
    // Only reached with a store configured (see spin::admin_token).
    let label = store_label().unwrap_or("default");
    let store = match open_store() {
        Ok(Some(s)) => s,
        Ok(None) => {
            return error(
                503,
                &format!("cannot open key-value store {label:?}: it is not granted to this component (key_value_stores in spin.toml)"),
            )
        }
        Err(e) => return error(503, &e),
    };
    let stored = match store.get(POLICY_KEY) {
        Ok(v) => v,
        Err(e) => return error(503, &format!("cannot read {POLICY_KEY}: {e:?}")),
    };
    let stored_sha = stored.as_deref().map(sha256_hex);
    match (path, method) {
        (POLICY_PATH, "GET" | "HEAD") => match stored {
            Some(bytes) => {
                let head = Head::new(200, &[], None)
                    .header("content-type", "application/json")
                    .header("cache-control", "no-store")
                    .header("etag", &format!("\"{}\"", sha256_hex(&bytes)));
                (head, bytes)
            }
            None => error(
                404,
                "no policy is stored in the key-value store (the gateway serves a lower-precedence source)",
            ),
        },
        (POLICY_PATH, "PUT") => {
            let body = match body.unwrap_or(Err(400)) {
                Ok(b) => b,
                Err(status) => {
                    return error(
                        status,
                        if status == 413 {
                            "policy document too large"
                        } else {
                            "cannot read the request body"
                        },
                    )
                }
            };
            let text = match std::str::from_utf8(&body) {
                Ok(t) => t,
                Err(e) => return error(400, &format!("invalid policy: not UTF-8: {e}")),
            };
            if let Err(errors) = Policy::from_json(text) {
                let list: Vec<_> = errors
                    .0
                    .iter()
                    .map(|e| {
                        serde_json::json!({
                            "path": e.path,
                            "message": e.message,
                            "line": e.line_col.map(|(l, _)| l),
                            "column": e.line_col.map(|(_, c)| c),
                        })
                    })
                    .collect();
                return json(
                    400,
                    stored_sha.as_deref(),
                    serde_json::json!({ "error": format!("invalid policy: {errors}"), "errors": list }),
                );
            }
            if !if_match_ok(headers, stored_sha.as_deref()) {
                return precondition_failed(stored_sha.as_deref());
            }
            let new_sha = sha256_hex(&body);
            // Keep the replaced version for rollback (not when re-sending the same one,
            // which would make rollback a no-op).
            let previous = match &stored {
                Some(old) if stored_sha.as_deref() != Some(new_sha.as_str()) => {
                    if let Err(e) = store.set(PREVIOUS_KEY, old) {
                        return error(503, &format!("cannot keep the previous version: {e:?}"));
                    }
                    stored_sha.clone()
                }
                _ => None,
            };
            if let Err(e) = store.set(POLICY_KEY, &body) {
                return error(503, &format!("cannot store the policy: {e:?}"));
            }
            // Validated: it is the last good version even before a request uses it.
            record_last_good(req, &store, &new_sha, &format!("kv:{label}/{POLICY_KEY}"), &body);
            log!(
                req,
                "cors-gateway: admin stored policy {new_sha} (previous {})",
                previous.as_deref().unwrap_or("-")
            );
            json(
                if stored.is_some() { 200 } else { 201 },
                Some(&new_sha),
                serde_json::json!({ "sha256": new_sha, "previous_sha256": previous }),
            )
        }
        (ROLLBACK_PATH, "POST") => {
            if !if_match_ok(headers, stored_sha.as_deref()) {
                return precondition_failed(stored_sha.as_deref());
            }
            let previous = match store.get(PREVIOUS_KEY) {
                Ok(Some(p)) => std::sync::Arc::new(p),
                Ok(None) => return error(409, "no previous version to roll back to"),
                Err(e) => return error(503, &format!("cannot read {PREVIOUS_KEY}: {e:?}")),
            };
            // It validated when it was stored; a store edited by hand may differ.
            if let Err(e) = source::parse(&previous) {
                return error(409, &format!("previous version is invalid: {e}"));
            }
            let swapped = store.set(POLICY_KEY, &previous).and_then(|()| match &stored {
                Some(old) => store.set(PREVIOUS_KEY, old),
                None => store.delete(PREVIOUS_KEY),
            });
            if let Err(e) = swapped {
                return error(503, &format!("cannot roll back: {e:?}"));
            }
            let sha = sha256_hex(&previous);
            record_last_good(req, &store, &sha, &format!("kv:{label}/{POLICY_KEY}"), &previous);
            log!(
                req,
                "cors-gateway: admin rolled back to policy {sha} (replaced {})",
                stored_sha.as_deref().unwrap_or("-")
            );
            json(
                200,
                Some(&sha),
                serde_json::json!({ "sha256": sha, "previous_sha256": stored_sha }),
            )
        }
        (POLICY_PATH, _) => {
            let head = Head::new(405, &[], None).header("allow", "GET, HEAD, PUT");
            (head, b"cors-gateway: method not allowed\n".to_vec())
        }
        _ => {
            let head = Head::new(405, &[], None).header("allow", "POST");
            (head, b"cors-gateway: method not allowed\n".to_vec())
        }
    }
}
