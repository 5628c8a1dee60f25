//! The Spin build's policy sources (`--features spin`): the key-value store and
//! a Spin variable, ahead of the portable ones.
//!
//! Precedence, first configured wins:
//! 1. the key-value store named by the environment variable
//!    `CORS_POLICY_KV_STORE` (spin.toml: `environment`, next to the
//!    `key_value_stores` that grants it; usually `default`), key
//!    [`POLICY_KEY`] (the admin endpoint, a Redis-backed store on SpinKube,
//!    any tool that writes the store). Without that variable the store is
//!    never opened: a fresh instance (one per request on Spin) pays nothing
//!    for a store that holds no policy;
//! 2. the Spin variable named by the environment variable
//!    `CORS_POLICY_VARIABLE` (usually [`POLICY_VAR`], set with
//!    `spin aka deploy --variable` or `SPIN_VARIABLE_CORS_POLICY`), when not
//!    empty. Without that variable none is read;
//! 3. the portable sources: env `CORS_POLICY`, else the policy file named by
//!    `CORS_POLICY_FILE`, else the policy embedded at build time, else
//!    `/policies/policy.json`.
//!
//! So the shipped spin.toml (both switches off) makes no Spin host call; a
//! variable-held policy costs one, a key-value-held one three (open, get, and
//! the check that it is recorded as last-known-good). Each such call is a
//! measurable share of a request on Spin (docs/performance.md), hence opt-in.
//!
//! A configured source that is unreadable or invalid does not fall through to
//! a lower one (that could silently widen access): the gateway serves the last
//! good policy, which the store keeps because Spin starts an instance per
//! request and the instance cache alone would forget it.
//!
//! The candidate policy is read from the portable sources in this build too
//! (`CORS_POLICY_CANDIDATE`, `CORS_POLICY_CANDIDATE_FILE`: see `source::candidate`).

use crate::log::{log, Req};
use crate::source::{self, Keeper, Loaded, RawSource};
use spin_sdk::key_value::{Error as KvError, Store};
use spin_sdk::variables;
use std::cell::OnceCell;
use std::rc::Rc;
use std::sync::Arc;

/// The policy in force.
pub const POLICY_KEY: &str = "cors-gateway/policy";
/// The version the admin endpoint replaced, for rollback.
pub const PREVIOUS_KEY: &str = "cors-gateway/policy.previous";
/// The last policy that validated, whatever its source.
pub const LAST_GOOD_KEY: &str = "cors-gateway/last-good";
/// `"<sha256> <source>"` of [`LAST_GOOD_KEY`]: read on every request, so small.
pub const LAST_GOOD_META_KEY: &str = "cors-gateway/last-good.meta";
/// Spin variable holding a policy document.
pub const POLICY_VAR: &str = "cors_policy";
/// Secret Spin variable holding the admin bearer token.
pub const ADMIN_TOKEN_VAR: &str = "cors_admin_token";

/// The store that holds the policy (`CORS_POLICY_KV_STORE`), if any.
pub fn store_label() -> Option<&'static str> {
    source::env().kv_store.as_deref()
}

thread_local! {
    /// The store, opened once per instance: a reused instance (the WASI 0.3
    /// build) then pays one host call per request for the policy, not two.
    /// `Some(None)`: not granted, which is fixed for the app's lifetime.
    static STORE: OnceCell<Option<Rc<Store>>> = const { OnceCell::new() };
}

/// Opens the store (once per instance); `None` when no store is configured
/// (no host call) or the component was not granted it (the key-value source
/// is then simply not configured). A failure to open is not kept: the next
/// request tries again.
pub fn open_store() -> Result<Option<Rc<Store>>, String> {
    let Some(label) = store_label() else {
        return Ok(None);
    };
    if let Some(open) = STORE.with(|s| s.get().cloned()) {
        return Ok(open);
    }
    let open = match Store::open(label) {
        Ok(s) => Some(Rc::new(s)),
        Err(KvError::NoSuchStore | KvError::AccessDenied) => None,
        Err(e) => return Err(format!("cannot open key-value store {label:?}: {e:?}")),
    };
    Ok(STORE.with(|s| s.get_or_init(|| open).clone()))
}

/// The raw policy from the highest-precedence configured source.
pub fn source(req: &Req) -> (Result<Option<Rc<Store>>, String>, RawSource) {
    let start = source::timer(req);
    let store = open_store();
    let raw = match &store {
        _ if store_label().is_none() => None,
        Err(e) => Some(Err((kv_name(), e.clone()))),
        Ok(Some(s)) => match s.get(POLICY_KEY) {
            Ok(Some(bytes)) => Some(Ok(Some((kv_name(), Arc::new(bytes))))),
            Ok(None) => None,
            Err(e) => Some(Err((kv_name(), format!("cannot read: {e:?}")))),
        },
        Ok(None) => None,
    };
    if store_label().is_some() {
        let outcome = match (&store, &raw) {
            (Ok(None), _) => "not-granted",
            (_, Some(Ok(_))) => "found",
            (_, Some(Err(_))) => "error",
            _ => "empty",
        };
        source::consulted(req, &kv_name(), outcome, start);
    }
    if let Some(raw) = raw {
        return (store, raw);
    }
    (store, variable_or_portable(req))
}

fn kv_name() -> String {
    format!("kv:{}/{POLICY_KEY}", store_label().unwrap_or("-"))
}

fn variable_or_portable(req: &Req) -> RawSource {
    let Some(var) = source::env().variable.as_deref() else {
        return source::portable_source(req);
    };
    let var_name = format!("variable:{var}");
    let start = source::timer(req);
    let got = variables::get(var);
    let outcome = match &got {
        Ok(v) if !v.trim().is_empty() => "found",
        Ok(_) => "empty",
        Err(_) => "error",
    };
    source::consulted(req, &var_name, outcome, start);
    match got {
        Ok(v) if !v.trim().is_empty() => Ok(Some((var_name, Arc::new(v.into_bytes())))),
        Ok(_) => source::portable_source(req),
        // Named by the environment yet not declared: a misconfiguration, not
        // an empty source (falling through could serve a wider policy).
        Err(variables::Error::Undefined(_) | variables::Error::InvalidName(_)) => Err((
            var_name,
            format!("CORS_POLICY_VARIABLE names {var:?}, which is not a variable of this component: declare it in spin.toml's [variables] and [component.<id>.variables]"),
        )),
        Err(e) => Err((var_name, format!("cannot read: {e:?}"))),
    }
}

/// Health's warnings about the Spin sources: a policy left in the variable
/// [`POLICY_VAR`] while `CORS_POLICY_VARIABLE` is unset is not in force, and
/// nothing else would say so. Health only: it costs a host call.
pub fn warnings() -> Vec<String> {
    if source::env().variable.is_some() {
        return Vec::new();
    }
    match variables::get(POLICY_VAR) {
        Ok(v) if !v.trim().is_empty() => vec![format!(
            "the variable {POLICY_VAR} holds a policy that is not in force: set CORS_POLICY_VARIABLE = \"{POLICY_VAR}\" in the component's environment (spin.toml) to use it"
        )],
        _ => Vec::new(),
    }
}

/// The candidate policy's key in the store (`CORS_POLICY_CANDIDATE_SPIN=1`).
pub const CANDIDATE_KEY: &str = "cors-gateway/policy-candidate";
/// The Spin variable holding a candidate policy (`CORS_POLICY_CANDIDATE_SPIN=1`).
pub const CANDIDATE_VAR: &str = "cors_policy_candidate";

/// The candidate's raw source. With `CORS_POLICY_CANDIDATE_SPIN=1`: the
/// key-value entry [`CANDIDATE_KEY`], else the variable [`CANDIDATE_VAR`] when
/// not empty, else the portable candidate sources; without it, only those
/// (no host call: the candidate is off on most requests of most deploys).
pub fn candidate_source(store: Option<&Store>) -> RawSource {
    if !source::env().spin_candidate {
        return source::portable_candidate();
    }
    if let Some(store) = store {
        let name = format!("kv:{}/{CANDIDATE_KEY}", store_label().unwrap_or("-"));
        match store.get(CANDIDATE_KEY) {
            Ok(Some(bytes)) => return Ok(Some((name, Arc::new(bytes)))),
            Ok(None) => {}
            Err(e) => return Err((name, format!("cannot read: {e:?}"))),
        }
    }
    let name = format!("variable:{CANDIDATE_VAR}");
    match variables::get(CANDIDATE_VAR) {
        Ok(v) if !v.trim().is_empty() => Ok(Some((name, Arc::new(v.into_bytes())))),
        Ok(_) | Err(variables::Error::Undefined(_)) => source::portable_candidate(),
        Err(e) => Err((name, format!("cannot read: {e:?}"))),
    }
}

/// The admin token, when one is configured (non-empty).
pub fn admin_token() -> Result<Option<String>, &'static str> {
    if store_label().is_none() {
        // The endpoint stores policies in the key-value source: off without it.
        return match variables::get(ADMIN_TOKEN_VAR) {
            Ok(t) if !t.trim().is_empty() => Err("the key-value source is off: set CORS_POLICY_KV_STORE (the store the admin endpoint writes, e.g. default) in the component's environment and grant that store"),
            _ => Ok(None),
        };
    }
    let Some(token) = variables::get(ADMIN_TOKEN_VAR)
        .ok()
        .filter(|t| !t.trim().is_empty())
    else {
        return Ok(None);
    };
    admin_token_problem(&token).map_or(Ok(Some(token)), Err)
}

/// The shortest admin token accepted: 32 bytes (256 bits of hex or base64
/// from `openssl rand`).
pub const MIN_ADMIN_TOKEN_BYTES: usize = 32;
/// The placeholder `deploy/spinkube.yaml` ships: never a real secret.
pub const PLACEHOLDER_TOKEN: &str = "change-me-to-a-long-random-token";

/// Why a configured admin token is refused (the endpoint then stays off).
pub fn admin_token_problem(token: &str) -> Option<&'static str> {
    if token == PLACEHOLDER_TOKEN {
        Some("cors_admin_token is the placeholder from deploy/spinkube.yaml; set a random secret (openssl rand -hex 32)")
    } else if token.len() < MIN_ADMIN_TOKEN_BYTES {
        Some(
            "cors_admin_token is shorter than 32 bytes; set a random secret (openssl rand -hex 32)",
        )
    } else {
        None
    }
}

/// Keeps the last good policy in the key-value store.
pub struct KvKeeper<'a>(pub Option<&'a Store>);

impl Keeper for KvKeeper<'_> {
    fn load(&self, req: &Req) -> Option<(String, Vec<u8>)> {
        let store = self.0?;
        let label = store_label().unwrap_or("-");
        let start = source::timer(req);
        let kept = (|| {
            let meta = store.get(LAST_GOOD_META_KEY).ok()??;
            let bytes = store.get(LAST_GOOD_KEY).ok()??;
            Some((String::from_utf8(meta).ok()?, bytes))
        })();
        let name = format!("kv:{label}/{LAST_GOOD_KEY}");
        source::consulted(
            req,
            &name,
            if kept.is_some() { "kept" } else { "empty" },
            start,
        );
        let (meta, bytes) = kept?;
        let origin = meta.split_once(' ').map_or("unknown", |(_, s)| s);
        Some((format!("{name} (from {origin})"), bytes))
    }

    fn remember(&self, req: &Req, loaded: &Loaded) {
        let Some(store) = self.0 else { return };
        let start = source::timer(req);
        let known = store
            .get(LAST_GOOD_META_KEY)
            .ok()
            .flatten()
            .is_some_and(|m| m.starts_with(loaded.sha256().as_bytes()));
        let name = format!("kv:{}/{LAST_GOOD_META_KEY}", store_label().unwrap_or("-"));
        source::consulted(req, &name, if known { "kept" } else { "recorded" }, start);
        if !known {
            record_last_good(req, store, loaded.sha256(), &loaded.source, loaded.raw());
        }
    }
}

/// Records a validated policy as the last good one.
pub fn record_last_good(req: &Req, store: &Store, sha256: &str, source: &str, raw: &[u8]) {
    // Document first, then the meta that names it: a reader never sees
    // a meta for a document that is not there yet.
    let meta = format!("{sha256} {source}");
    if let Err(e) = store
        .set(LAST_GOOD_KEY, raw)
        .and_then(|()| store.set(LAST_GOOD_META_KEY, meta.as_bytes()))
    {
        log!(
            req,
            "cors-gateway: WARNING cannot record the last good policy: {e:?}"
        );
    }
}
