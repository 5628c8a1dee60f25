//! A minimal Spin-like host, for testing the gateway's builds where the Spin
//! CLI cannot be installed.
//!
//! It runs a component on the `wasmtime` crates the way Spin does, in the
//! world the component exports:
//! - WASI 0.2 (`wasi:http/incoming-handler@0.2.0`, [`p2`]): a fresh instance
//!   per request;
//! - WASI 0.3 (`wasi:http/handler@0.3.0`, [`p3`]): one instance reused across
//!   requests, as Spin 4 and `wasmtime serve` do.
//!
//! Either way the component gets WASI 0.2 and 0.3, `wasi:http` 0.2 and 0.3
//! (outbound requests really go out), and Spin's
//! `fermyon:spin/key-value@2.0.0` and `variables@2.0.0` ([`spin`]) backed by
//! in-memory state that a test changes between requests.

mod p2;
mod p3;
mod spin;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p3::bindings::ServicePre;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

pub use spin::OpenStore;

/// The state a test changes between requests.
#[derive(Default)]
pub struct SpinState {
    /// Store label -> key -> value. Only labels present here can be opened
    /// (like `key_value_stores` in spin.toml).
    pub stores: HashMap<String, HashMap<String, Vec<u8>>>,
    /// Component variables; absent = undefined (not declared in spin.toml).
    pub variables: HashMap<String, String>,
    /// When set, every key-value operation fails with `other(..)`: a store
    /// that became unreadable (e.g. Redis down).
    pub kv_failure: Option<String>,
    /// Header names the host refuses in every `wasi:http` field set (as a
    /// host with a stricter forbidden-header list would).
    pub forbidden_headers: Vec<String>,
    /// The guest's stderr is a closed stream: every write fails. Read when an
    /// instance starts (every request for a 0.2 component).
    pub stderr_closed: bool,
    /// Every Spin host call the guest made, in order (`kv.open default`,
    /// `kv.get cors-gateway/policy`, `variables.get cors_policy`, ...): what a
    /// request costs the host beyond WASI.
    pub calls: Vec<String>,
}

/// Hooks that refuse the test's forbidden headers besides wasmtime's own.
/// They read [`SpinState::forbidden_headers`] at each use, so that a change
/// applies to the next request of a reused instance too.
struct Hooks {
    spin: Arc<Mutex<SpinState>>,
}

impl wasmtime_wasi_http::WasiHttpHooks for Hooks {
    fn is_forbidden_header(&mut self, name: &hyper::header::HeaderName) -> bool {
        wasmtime_wasi_http::DEFAULT_FORBIDDEN_HEADERS.contains(name)
            || lock(&self.spin)
                .forbidden_headers
                .iter()
                .any(|n| n.eq_ignore_ascii_case(name.as_str()))
    }
}

struct State {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    spin: Arc<Mutex<SpinState>>,
    hooks: Hooks,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

fn lock(m: &Mutex<SpinState>) -> MutexGuard<'_, SpinState> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A response as the client saw it.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json_value::Value {
        serde_json_value::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }
}

// The tests read JSON bodies; re-exported so they need no extra dependency.
pub use serde_json as serde_json_value;

/// The host: a compiled component, its Spin state, env and mounted folder.
///
/// `SpinHost` is `Sync`: requests sent from several threads at once to a 0.3
/// component share its current instance and run concurrently in it (each is a
/// task of its own); to a 0.2 component each gets a fresh instance.
pub struct SpinHost {
    guest: Guest,
    rt: tokio::runtime::Runtime,
    pub spin: Arc<Mutex<SpinState>>,
    env: Vec<(String, String)>,
    mount: Option<PathBuf>,
    stderr: MemoryOutputPipe,
    instances: AtomicUsize,
}

/// A linked component, by the world it exports.
#[derive(Clone)]
enum Linked {
    P2(ProxyPre<State>),
    P3(ServicePre<State>),
}

enum Guest {
    P2(ProxyPre<State>),
    P3(p3::Reused),
}

impl SpinHost {
    /// Compiles `wasm` (a build of the gateway) and links it, as a WASI 0.2
    /// or 0.3 component by the `wasi:http` handler it exports.
    /// The compiled component is shared by every host of the process
    /// (compiling it takes seconds; the state of each host is its own, and so
    /// are its instances).
    pub fn new(wasm: &Path) -> anyhow::Result<SpinHost> {
        static COMPILED: OnceLock<Mutex<HashMap<PathBuf, Linked>>> = OnceLock::new();
        let mut compiled = COMPILED
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let linked = match compiled.get(wasm) {
            Some(linked) => linked.clone(),
            None => {
                let linked = Self::compile(wasm)?;
                compiled.insert(wasm.to_path_buf(), linked.clone());
                linked
            }
        };
        drop(compiled);
        Self::with_guest(match linked {
            Linked::P2(pre) => Guest::P2(pre),
            Linked::P3(pre) => Guest::P3(p3::Reused::new(pre)),
        })
    }

    fn compile(wasm: &Path) -> anyhow::Result<Linked> {
        let mut config = Config::new();
        // The 0.3 ABI: async exports, streams and futures.
        config.wasm_component_model_async(true);
        let engine = Engine::new(&config)?;
        let component = Component::from_file(&engine, wasm)?;
        let mut linker: Linker<State> = Linker::new(&engine);
        // A 0.3 component still imports 0.2 interfaces for what its bindings
        // do not name (files, stderr): both versions are linked.
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi::p3::add_to_linker(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p3::add_to_linker(&mut linker)?;
        spin::add_to_linker(&mut linker)?;
        let p3 = component
            .component_type()
            .exports(&engine)
            .any(|(name, _)| name.starts_with("wasi:http/handler@0.3"));
        let pre = linker.instantiate_pre(&component)?;
        Ok(if p3 {
            Linked::P3(ServicePre::new(pre)?)
        } else {
            Linked::P2(ProxyPre::new(pre)?)
        })
    }

    fn with_guest(guest: Guest) -> anyhow::Result<SpinHost> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let mut spin = SpinState::default();
        // Like spin.toml's `key_value_stores = ["default"]`.
        spin.stores.insert("default".into(), HashMap::new());
        // Like its `[component.cors-gateway.variables]`: declared, empty by default.
        for name in ["cors_policy", "cors_policy_candidate", "cors_admin_token"] {
            spin.variables.insert(name.into(), String::new());
        }
        Ok(SpinHost {
            guest,
            rt,
            spin: Arc::new(Mutex::new(spin)),
            env: Vec::new(),
            mount: None,
            stderr: MemoryOutputPipe::new(16 << 20),
            instances: AtomicUsize::new(0),
        })
    }

    /// Sets a guest environment variable (replacing an earlier value). Like
    /// on a real host, an instance's environment is fixed when it starts: it
    /// applies to the next new instance (for a 0.3 component, see
    /// [`SpinHost::new_instance`]; a 0.2 one gets one per request).
    pub fn env(&mut self, k: &str, v: &str) {
        self.env.retain(|(name, _)| name != k);
        self.env.push((k.into(), v.into()));
    }

    /// Mounts a host folder at `/policies` (spin.toml's `files`), from the
    /// next new instance on, as [`SpinHost::env`]. The files themselves can
    /// change at any time.
    pub fn mount_policies(&mut self, dir: &Path) {
        self.mount = Some(dir.to_path_buf());
    }

    /// How many instances were started so far: one per request for a 0.2
    /// component, one per [`SpinHost::new_instance`] (and trap) for a 0.3 one.
    pub fn instances(&self) -> usize {
        self.instances.load(Ordering::SeqCst)
    }

    /// Retires the current instance of a 0.3 component, as Spin and
    /// `wasmtime serve` retire instances: the next request starts a new one
    /// (with the current [`SpinHost::env`] and mount). Requests still in
    /// flight finish on the old one. No effect for a 0.2 component, whose
    /// every request starts a new instance anyway.
    pub fn new_instance(&self) {
        if let Guest::P3(reused) = &self.guest {
            reused.retire();
        }
    }

    pub fn state(&self) -> MutexGuard<'_, SpinState> {
        lock(&self.spin)
    }

    pub fn kv_get(&self, key: &str) -> Option<Vec<u8>> {
        self.state().stores.get("default")?.get(key).cloned()
    }

    pub fn kv_set(&self, key: &str, value: &[u8]) {
        self.state()
            .stores
            .entry("default".into())
            .or_default()
            .insert(key.into(), value.to_vec());
    }

    pub fn set_variable(&self, name: &str, value: &str) {
        self.state().variables.insert(name.into(), value.into());
    }

    /// The Spin host calls of one request (see [`SpinState::calls`]).
    pub fn calls_of(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<(Response, Vec<String>)> {
        self.state().calls.clear();
        let r = self.request(method, path, headers, b"")?;
        Ok((r, std::mem::take(&mut self.state().calls)))
    }

    /// Everything the guest wrote to stderr so far (every instance).
    pub fn logs(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents()).into_owned()
    }

    /// Sends one request through the component's `wasi:http` handler: of a
    /// fresh instance (0.2), or of the current one (0.3).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> anyhow::Result<Response> {
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(format!("http://gateway.test{path}"));
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        let req = req.body(Full::new(Bytes::copy_from_slice(body)))?;
        match &self.guest {
            Guest::P2(pre) => p2::request(self, pre, req),
            Guest::P3(reused) => reused.request(self, req),
        }
    }

    /// The store of a new instance: the environment, mount and stderr as
    /// they are now. Counted in [`SpinHost::instances`].
    fn new_store(&self, engine: &Engine) -> anyhow::Result<Store<State>> {
        let mut wasi = WasiCtxBuilder::new();
        if self.state().stderr_closed {
            wasi.stderr(wasmtime_wasi::p2::pipe::ClosedOutputStream);
        } else {
            wasi.stderr(self.stderr.clone());
        }
        for (k, v) in &self.env {
            wasi.env(k, v);
        }
        if let Some(dir) = &self.mount {
            wasi.preopened_dir(dir, "/policies", FsPerms::ReadOnly)?;
        }
        self.instances.fetch_add(1, Ordering::SeqCst);
        Ok(Store::new(
            engine,
            State {
                wasi: wasi.build(),
                http: WasiHttpCtx::new(),
                table: ResourceTable::new(),
                spin: self.spin.clone(),
                hooks: Hooks {
                    spin: self.spin.clone(),
                },
            },
        ))
    }
}

/// The response as the client sees it, its body read to the end.
async fn into_response<B>(response: hyper::Response<B>) -> anyhow::Result<Response>
where
    B: hyper::body::Body,
    B::Error: std::fmt::Debug,
{
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| anyhow::anyhow!("response body: {e:?}"))?
        .to_bytes()
        .to_vec();
    Ok(Response {
        status: parts.status.as_u16(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    })
}

/// The names of the interfaces a component imports.
pub fn import_names(wasm: &Path) -> anyhow::Result<Vec<String>> {
    let mut config = Config::new();
    // A 0.3 component does not load without it.
    config.wasm_component_model_async(true);
    let engine = Engine::new(&config)?;
    let component = Component::from_file(&engine, wasm)?;
    Ok(component
        .component_type()
        .imports(&engine)
        .map(|(name, _)| name.to_string())
        .collect())
}
