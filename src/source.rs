//! Where the policy comes from, and the per-instance cache that makes a reused
//! instance parse a policy once while never serving a stale one.
//!
//! Every request gets the raw source (an environment variable, or a file: see
//! [`crate::policy_file`] for how a reused instance notices a file edit without
//! reading the file again) and compares it with the bytes the cached policy was
//! compiled from. Equal bytes reuse the compiled policy; different bytes are
//! validated completely and replace it only when valid. An invalid or missing
//! source keeps the last good policy of this instance (last-known-good).

use crate::log::{log, Req};
use cors_gateway_core::{compiled, Policy};
use sha2::{Digest, Sha256};
use std::cell::{OnceCell, RefCell};
use std::rc::Rc;
use std::sync::{Arc, OnceLock};

pub const DEFAULT_POLICY_FILE: &str = "/policies/policy.json";

/// A compiled policy and what it was compiled from.
pub struct Loaded {
    pub policy: Policy,
    /// Where it came from, e.g. `file:/policies/policy.json` or `env:CORS_POLICY`.
    pub source: String,
    /// Computed on first use (health, logs, the Spin keeper): hashing a large
    /// policy on every fresh instance would cost more than validating it.
    sha256: OnceCell<String>,
    /// Shared with the policy when it is compiled: its tables are read in place.
    raw: Arc<Vec<u8>>,
}

/// The policy a request is served with.
pub struct Current {
    pub loaded: Rc<Loaded>,
    /// Set when the source is currently unreadable or invalid and `loaded` is
    /// the last good version: the reason.
    pub stale_reason: Option<String>,
}

/// Why no policy can be served at all.
pub struct Unavailable {
    pub source: String,
    pub reason: String,
}

/// The last valid candidate, or the bytes of the last refused one.
type CandidateCache = Option<Result<Rc<Loaded>, Arc<Vec<u8>>>>;

thread_local! {
    static CACHE: RefCell<Option<Rc<Loaded>>> = const { RefCell::new(None) };
    /// The candidate policy: the last valid one, or the bytes last refused
    /// (so an invalid candidate is logged once per version, not per request).
    static CANDIDATE: RefCell<CandidateCache> = const { RefCell::new(None) };
}

/// The candidate policy (decided beside the live one, never enforced).
pub enum Candidate {
    /// None is configured.
    None,
    Valid(Rc<Loaded>),
    /// Configured but unreadable or invalid: ignored.
    Invalid {
        source: String,
        reason: String,
    },
}

/// The portable candidate sources: `CORS_POLICY_CANDIDATE` (the JSON itself),
/// else the file named by `CORS_POLICY_CANDIDATE_FILE`. `Ok(None)`: none is
/// configured. The file is read whole on every request while it is set (the
/// stamp cache watches the live file only).
pub fn portable_candidate() -> RawSource {
    let env = env();
    match (&env.candidate, &env.candidate_file) {
        (Some(json), _) => Ok(Some((
            "env:CORS_POLICY_CANDIDATE".to_string(),
            Arc::clone(json),
        ))),
        (None, Some(file)) => match std::fs::read(file) {
            Ok(b) => Ok(Some((format!("file:{file}"), Arc::new(b)))),
            Err(e) => Err((format!("file:{file}"), format!("cannot read {file}: {e}"))),
        },
        (None, None) => Ok(None),
    }
}

/// The candidate policy read from `raw` (the portable sources, or the Spin
/// build's ahead of them), parsed once per version.
pub fn candidate(req: &Req, raw: RawSource) -> Candidate {
    let (source, bytes) = match raw {
        Ok(Some(found)) => found,
        Ok(None) => return Candidate::None,
        Err((source, reason)) => return Candidate::Invalid { source, reason },
    };
    let cached = CANDIDATE.with(|c| c.borrow().clone());
    match &cached {
        Some(Ok(c)) if *c.raw == *bytes && c.source == source => {
            return Candidate::Valid(c.clone())
        }
        _ => {}
    }
    match parse(&bytes) {
        Ok(policy) => {
            let loaded = Loaded::new(policy, source, bytes);
            CANDIDATE.with(|c| *c.borrow_mut() = Some(Ok(loaded.clone())));
            Candidate::Valid(loaded)
        }
        Err(reason) => {
            let seen = matches!(&cached, Some(Err(b)) if **b == *bytes);
            if !seen {
                log!(req, "cors-gateway: ERROR candidate policy from {source} is invalid and ignored: {reason}");
                CANDIDATE.with(|c| *c.borrow_mut() = Some(Err(bytes)));
            }
            Candidate::Invalid { source, reason }
        }
    }
}

/// Reads one candidate source. `Ok(None)`: this source is not configured.
pub type RawSource = Result<Option<(String, Arc<Vec<u8>>)>, (String, String)>;

/// The portable sources: `CORS_POLICY` (the JSON itself), else the file named
/// by `CORS_POLICY_FILE`, else the policy embedded at build time (see
/// [`embedded`]), else the file `/policies/policy.json`.
pub fn portable_source(req: &Req) -> RawSource {
    let env = env();
    if let Some(json) = &env.policy {
        consulted(req, "env:CORS_POLICY", "found", None);
        return Ok(Some(("env:CORS_POLICY".to_string(), Arc::clone(json))));
    }
    if !env.file_explicit {
        if let Some((source, bytes)) = embedded() {
            consulted(req, source, "found", None);
            return Ok(Some((source.to_string(), Arc::clone(bytes))));
        }
    }
    let start = timer(req);
    let read = crate::policy_file::read(&env.file);
    consulted(
        req,
        &env.file_source,
        if read.is_ok() { "found" } else { "error" },
        start,
    );
    match read {
        Ok(bytes) => Ok(Some((env.file_source.clone(), bytes))),
        Err(e) => Err((
            env.file_source.clone(),
            format!("cannot read {}: {e}", env.file),
        )),
    }
}

/// The policy built into the component (`CORS_GATEWAY_POLICY=policies/policy.json
/// cargo build ...`, see build.rs): `("embedded:<path>", bytes)`. It stands in
/// for the default file, which on Spin is fixed when the app starts anyway
/// (unless `spin up --direct-mounts`), so a fresh instance opens no file.
/// Setting `CORS_POLICY_FILE` reads that file instead.
pub fn embedded() -> Option<(&'static str, &'static Arc<Vec<u8>>)> {
    const BYTES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/embedded-policy"));
    const NAME: &str = include_str!(concat!(env!("OUT_DIR"), "/embedded-policy-name"));
    if NAME.is_empty() {
        return None;
    }
    // One copy per instance, shared: a reused instance's cache then
    // recognises it by pointer instead of comparing the bytes.
    static SHARED: OnceLock<(String, Arc<Vec<u8>>)> = OnceLock::new();
    let (source, bytes) =
        SHARED.get_or_init(|| (format!("embedded:{NAME}"), Arc::new(BYTES.to_vec())));
    Some((source.as_str(), bytes))
}

/// One policy source the gateway consulted for this request, and what it cost.
pub struct Consulted {
    pub source: String,
    /// `found`, `empty` (configured place, nothing there), `error`, `kept`
    /// (the last-known-good record), `parsed` (validation of the document).
    pub outcome: &'static str,
    /// Wall time of the host calls (and, for `parsed`, of the validation).
    pub micros: u64,
}

// Recording is the Spin build's (where every request is a fresh instance and
// each source's host calls show); the portable build keeps its size, and its
// `req` parameters go unused.

/// Records the sources this request consults, with their cost; read them
/// with [`take_consulted`].
#[cfg_attr(not(feature = "spin"), allow(unused_variables))]
pub fn record_consulted(req: &Req) {
    #[cfg(feature = "spin")]
    req.consulted.replace(Some(Vec::new()));
}

/// The sources consulted since [`record_consulted`], in order.
#[cfg_attr(not(feature = "spin"), allow(unused_variables))]
pub fn take_consulted(req: &Req) -> Vec<Consulted> {
    #[cfg(feature = "spin")]
    return req.consulted.take().unwrap_or_default();
    #[cfg(not(feature = "spin"))]
    Vec::new()
}

/// The start of a timed consultation: `None` (no clock read) unless recording.
#[cfg_attr(not(feature = "spin"), allow(unused_variables))]
pub fn timer(req: &Req) -> Option<u64> {
    #[cfg(feature = "spin")]
    return req.consulted.borrow().is_some().then(crate::monotonic_ns);
    #[cfg(not(feature = "spin"))]
    None
}

/// Notes one consultation begun at `start` (from [`timer`]; `None`: free).
#[cfg_attr(not(feature = "spin"), allow(unused_variables))]
pub fn consulted(req: &Req, source: &str, outcome: &'static str, start: Option<u64>) {
    #[cfg(feature = "spin")]
    if let Some(list) = req.consulted.borrow_mut().as_mut() {
        let micros = start.map_or(0, |t| crate::monotonic_ns().saturating_sub(t) / 1000);
        list.push(Consulted {
            source: source.to_string(),
            outcome,
            micros,
        });
    }
}

/// What the environment configures. An instance's environment is fixed when
/// it starts (WASI), so an instance reads it once instead of copying the
/// policy out of `CORS_POLICY` and comparing it on every request.
pub struct Env {
    policy: Option<Arc<Vec<u8>>>,
    file: String,
    file_source: String,
    /// `CORS_POLICY_FILE` is set: the file is read even when a policy is embedded.
    file_explicit: bool,
    /// `CORS_POLICY_KV_STORE`: the key-value store that holds the policy (Spin
    /// build). Unset, the store is never opened.
    #[cfg_attr(not(feature = "spin"), allow(dead_code))]
    pub kv_store: Option<String>,
    /// `CORS_POLICY_VARIABLE`: the Spin variable that holds the policy (Spin
    /// build; usually `cors_policy`). Unset, no variable is read: each Spin
    /// host call costs a fresh instance about a fifth of a request.
    #[cfg(feature = "spin")]
    pub variable: Option<String>,
    pub access_log: bool,
    /// `CORS_GATEWAY_LOG=json`: every log line is one JSON object.
    pub json_log: bool,
    candidate: Option<Arc<Vec<u8>>>,
    candidate_file: Option<String>,
    /// `CORS_POLICY_CANDIDATE_SPIN=1` (Spin build): the candidate is also looked
    /// for in the key-value store and a Spin variable. Off, they cost nothing.
    pub spin_candidate: bool,
}

/// This instance's [`Env`], read from the environment on first use.
pub fn env() -> &'static Env {
    // Not yet set is all zero bits: .bss (see policy_file::WATCHED).
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let explicit = std::env::var("CORS_POLICY_FILE").ok();
        let file_explicit = explicit.is_some();
        let file = explicit.unwrap_or_else(|| DEFAULT_POLICY_FILE.into());
        Env {
            policy: std::env::var_os("CORS_POLICY").map(|v| Arc::new(v.into_encoded_bytes())),
            file_source: format!("file:{file}"),
            file,
            file_explicit,
            kv_store: std::env::var("CORS_POLICY_KV_STORE")
                .ok()
                .filter(|s| !s.trim().is_empty()),
            #[cfg(feature = "spin")]
            variable: std::env::var("CORS_POLICY_VARIABLE")
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
            access_log: std::env::var_os("CORS_GATEWAY_ACCESS_LOG").is_some_and(|v| v == "1"),
            json_log: std::env::var_os("CORS_GATEWAY_LOG").is_some_and(|v| v == "json"),
            candidate: std::env::var_os("CORS_POLICY_CANDIDATE")
                .map(|v| Arc::new(v.into_encoded_bytes())),
            candidate_file: std::env::var("CORS_POLICY_CANDIDATE_FILE").ok(),
            spin_candidate: std::env::var_os("CORS_POLICY_CANDIDATE_SPIN")
                .is_some_and(|v| v == "1"),
        }
    })
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(digest: &[u8]) -> String {
    let mut out = String::with_capacity(64);
    for &b in digest {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    out
}

/// A place outside the instance that keeps the last good policy, for hosts
/// that start a fresh instance per request (Spin): the per-instance cache alone
/// would forget it.
pub trait Keeper {
    /// The last good policy recorded: `(where it was first loaded from, bytes)`.
    fn load(&self, req: &Req) -> Option<(String, Vec<u8>)>;
    /// Records a policy that just validated (called once per instance and version).
    fn remember(&self, req: &Req, loaded: &Loaded);
}

/// Portable hosts keep nothing outside the instance.
pub struct NoKeeper;

impl Keeper for NoKeeper {
    fn load(&self, _: &Req) -> Option<(String, Vec<u8>)> {
        None
    }
    fn remember(&self, _: &Req, _: &Loaded) {}
}

impl Loaded {
    fn new(policy: Policy, source: String, raw: Arc<Vec<u8>>) -> Rc<Loaded> {
        Rc::new(Loaded {
            policy,
            source,
            sha256: OnceCell::new(),
            raw,
        })
    }

    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// SHA-256 of the policy JSON: for a compiled policy, of the JSON it was
    /// compiled from (recorded in it), so it matches `sha256sum policy.json`.
    pub fn sha256(&self) -> &str {
        self.sha256
            .get_or_init(|| match &self.policy.compiled_from {
                Some(digest) => hex(digest),
                None => sha256_hex(&self.raw),
            })
    }
}

/// Parses a raw policy: JSON, validated completely, or the compiled form
/// (`cors-gateway compile`), told apart by its magic number.
pub fn parse(bytes: &Arc<Vec<u8>>) -> Result<Policy, String> {
    if compiled::is_compiled(bytes) {
        return compiled::load(Arc::clone(bytes)).map_err(|e| e.to_string());
    }
    std::str::from_utf8(bytes)
        .map_err(|e| format!("not UTF-8: {e}"))
        .and_then(|text| Policy::from_json(text).map_err(|e| e.to_string()))
}

/// The policy to serve this request with, given the raw source just read.
pub fn current(req: &Req, raw: RawSource) -> Result<Current, Unavailable> {
    current_with(req, raw, &NoKeeper)
}

/// [`current`], with a keeper of the last good policy outside the instance.
pub fn current_with(
    req: &Req,
    raw: RawSource,
    keeper: &dyn Keeper,
) -> Result<Current, Unavailable> {
    let cached = CACHE.with(|c| c.borrow().clone());
    let failure = match raw {
        Ok(Some((source, bytes))) => {
            if let Some(c) = cached
                .as_ref()
                .filter(|c| (Arc::ptr_eq(&c.raw, &bytes) || c.raw == bytes) && c.source == source)
            {
                return Ok(Current {
                    loaded: c.clone(),
                    stale_reason: None,
                });
            }
            let start = timer(req);
            let parsed = parse(&bytes);
            consulted(
                req,
                &source,
                if parsed.is_ok() { "parsed" } else { "invalid" },
                start,
            );
            match parsed {
                Ok(policy) => {
                    let loaded = Loaded::new(policy, source, bytes);
                    CACHE.with(|c| *c.borrow_mut() = Some(loaded.clone()));
                    keeper.remember(req, &loaded);
                    return Ok(Current {
                        loaded,
                        stale_reason: None,
                    });
                }
                Err(reason) => (source, format!("invalid policy: {reason}")),
            }
        }
        Ok(None) => (
            "none".to_string(),
            "no policy source is configured".to_string(),
        ),
        Err(e) => e,
    };
    let (source, reason) = failure;
    // This instance has none: ask the keeper (fresh instance per request).
    let cached = cached.or_else(|| {
        let (kept_source, bytes) = keeper.load(req)?;
        let bytes: Arc<Vec<u8>> = bytes.into();
        let policy = parse(&bytes).ok()?;
        Some(Loaded::new(policy, kept_source, bytes))
    });
    match cached {
        Some(loaded) => {
            log!(
                req,
                "cors-gateway: ERROR policy from {source} rejected, serving last-known-good {} ({}): {reason}",
                loaded.sha256(), loaded.source
            );
            Ok(Current {
                loaded,
                stale_reason: Some(format!("{source}: {reason}")),
            })
        }
        None => {
            log!(
                req,
                "cors-gateway: ERROR no usable policy from {source}: {reason}"
            );
            Err(Unavailable { source, reason })
        }
    }
}
