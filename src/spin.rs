//! The Spin build's policy sources (`--features spin`): the key-value store and
//! a Spin variable, ahead of the portable ones.
//!
//! Precedence, first configured wins:
//! 1. key-value store `default`, key [`POLICY_KEY`] (`spin cloud kv set`, the
//!    admin endpoint, a Redis-backed store on SpinKube);
//! 2. Spin variable [`POLICY_VAR`] (`spin cloud variables set`,
//!    `SPIN_VARIABLE_CORS_POLICY`), when not empty;
//! 3. the portable sources: env `CORS_POLICY`, else the policy file.
//!
//! A configured source that is unreadable or invalid does not fall through to
//! a lower one (that could silently widen access): the gateway serves the last
//! good policy, which the store keeps because Spin starts an instance per
//! request and the instance cache alone would forget it.
//!
//! The candidate policy is read from the portable sources in this build too
//! (`CORS_POLICY_CANDIDATE`, `CORS_POLICY_CANDIDATE_FILE`: see `source::candidate`).

use crate::log::log;
use crate::source::{self, Keeper, Loaded, RawSource};
use spin_sdk::key_value::{Error as KvError, Store};
use spin_sdk::variables;
use std::sync::Arc;

pub const STORE: &str = "default";
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

/// Opens the store; `None` when the component was not granted one (the
/// key-value source is then simply not configured).
pub fn open_store() -> Result<Option<Store>, String> {
    match Store::open(STORE) {
        Ok(s) => Ok(Some(s)),
        Err(KvError::NoSuchStore | KvError::AccessDenied) => Ok(None),
        Err(e) => Err(format!("cannot open key-value store {STORE:?}: {e:?}")),
    }
}

/// The raw policy from the highest-precedence configured source.
pub fn source(store: &Result<Option<Store>, String>) -> RawSource {
    let kv_name = format!("kv:{STORE}/{POLICY_KEY}");
    match store {
        Err(e) => return Err((kv_name, e.clone())),
        Ok(Some(store)) => match store.get(POLICY_KEY) {
            Ok(Some(bytes)) => return Ok(Some((kv_name, Arc::new(bytes)))),
            Ok(None) => {}
            Err(e) => return Err((kv_name, format!("cannot read: {e:?}"))),
        },
        Ok(None) => {}
    }
    let var_name = format!("variable:{POLICY_VAR}");
    match variables::get(POLICY_VAR) {
        Ok(v) if !v.trim().is_empty() => return Ok(Some((var_name, Arc::new(v.into_bytes())))),
        Ok(_) | Err(variables::Error::Undefined(_)) => {}
        Err(e) => return Err((var_name, format!("cannot read: {e:?}"))),
    }
    source::portable_source()
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
        let name = format!("kv:{STORE}/{CANDIDATE_KEY}");
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
    fn load(&self) -> Option<(String, Vec<u8>)> {
        let store = self.0?;
        let meta = store.get(LAST_GOOD_META_KEY).ok()??;
        let bytes = store.get(LAST_GOOD_KEY).ok()??;
        let meta = String::from_utf8(meta).ok()?;
        let origin = meta.split_once(' ').map_or("unknown", |(_, s)| s);
        Some((format!("kv:{STORE}/{LAST_GOOD_KEY} (from {origin})"), bytes))
    }

    fn remember(&self, loaded: &Loaded) {
        let Some(store) = self.0 else { return };
        let known = store
            .get(LAST_GOOD_META_KEY)
            .ok()
            .flatten()
            .is_some_and(|m| m.starts_with(loaded.sha256().as_bytes()));
        if !known {
            record_last_good(store, loaded.sha256(), &loaded.source, loaded.raw());
        }
    }
}

/// Records a validated policy as the last good one.
pub fn record_last_good(store: &Store, sha256: &str, source: &str, raw: &[u8]) {
    // Document first, then the meta that names it: a reader never sees
    // a meta for a document that is not there yet.
    let meta = format!("{sha256} {source}");
    if let Err(e) = store
        .set(LAST_GOOD_KEY, raw)
        .and_then(|()| store.set(LAST_GOOD_META_KEY, meta.as_bytes()))
    {
        log!("cors-gateway: WARNING cannot record the last good policy: {e:?}");
    }
}
