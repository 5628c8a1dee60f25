//! A minimal Spin-like host, for testing the gateway's Spin build where the
//! Spin CLI cannot be installed.
//!
//! It runs the component on the `wasmtime` crates the way Spin does: a fresh
//! instance per request, WASI and `wasi:http` (outbound requests really go
//! out), and Spin's `fermyon:spin/key-value@2.0.0` and `variables@2.0.0`
//! interfaces (vendored in `wit/`) backed by in-memory state that a test
//! changes between requests.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use wasmtime::component::{Component, HasSelf, Linker, Resource, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "fermyon:spin/test-host",
        with: { "fermyon:spin/key-value.store": super::OpenStore },
    });
}

use bindings::fermyon::spin::{key_value, variables};

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
    /// The guest's stderr is a closed stream: every write fails.
    pub stderr_closed: bool,
    /// Every Spin host call the guest made, in order (`kv.open default`,
    /// `kv.get cors-gateway/policy`, `variables.get cors_policy`, ...): what a
    /// request costs the host beyond WASI.
    pub calls: Vec<String>,
}

/// Hooks that refuse the test's forbidden headers besides wasmtime's own.
#[derive(Default)]
struct Hooks {
    forbidden: Vec<hyper::header::HeaderName>,
}

impl wasmtime_wasi_http::WasiHttpHooks for Hooks {
    fn is_forbidden_header(&mut self, name: &hyper::header::HeaderName) -> bool {
        self.forbidden.contains(name)
            || wasmtime_wasi_http::DEFAULT_FORBIDDEN_HEADERS.contains(name)
    }
}

/// A store opened by the guest.
pub struct OpenStore {
    label: String,
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

impl State {
    fn with_store<R>(
        &mut self,
        op: String,
        handle: &Resource<OpenStore>,
        f: impl FnOnce(&mut HashMap<String, Vec<u8>>) -> R,
    ) -> Result<R, key_value::Error> {
        let label = self
            .table
            .get(handle)
            .map_err(|e| key_value::Error::Other(e.to_string()))?
            .label
            .clone();
        let mut spin = lock(&self.spin);
        spin.calls.push(format!("kv.{op}"));
        if let Some(reason) = &spin.kv_failure {
            return Err(key_value::Error::Other(reason.clone()));
        }
        spin.stores
            .get_mut(&label)
            .map(f)
            .ok_or(key_value::Error::NoSuchStore)
    }
}

impl key_value::Host for State {}

impl key_value::HostStore for State {
    fn open(&mut self, label: String) -> Result<Resource<OpenStore>, key_value::Error> {
        let mut spin = lock(&self.spin);
        spin.calls.push(format!("kv.open {label}"));
        if !spin.stores.contains_key(&label) {
            // Spin answers this for a store the component was not granted.
            return Err(key_value::Error::AccessDenied);
        }
        drop(spin);
        self.table
            .push(OpenStore { label })
            .map_err(|e| key_value::Error::Other(e.to_string()))
    }

    fn get(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
    ) -> Result<Option<Vec<u8>>, key_value::Error> {
        self.with_store(format!("get {key}"), &store, |s| s.get(&key).cloned())
    }

    fn set(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), key_value::Error> {
        self.with_store(format!("set {key}"), &store, |s| {
            s.insert(key, value);
        })
    }

    fn delete(&mut self, store: Resource<OpenStore>, key: String) -> Result<(), key_value::Error> {
        self.with_store(format!("delete {key}"), &store, |s| {
            s.remove(&key);
        })
    }

    fn exists(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
    ) -> Result<bool, key_value::Error> {
        self.with_store(format!("exists {key}"), &store, |s| s.contains_key(&key))
    }

    fn get_keys(&mut self, store: Resource<OpenStore>) -> Result<Vec<String>, key_value::Error> {
        self.with_store("get-keys".into(), &store, |s| s.keys().cloned().collect())
    }

    fn drop(&mut self, store: Resource<OpenStore>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}

impl variables::Host for State {
    fn get(&mut self, name: String) -> Result<String, variables::Error> {
        let mut spin = lock(&self.spin);
        spin.calls.push(format!("variables.get {name}"));
        spin.variables
            .get(&name)
            .cloned()
            .ok_or(variables::Error::Undefined(name))
    }
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
pub struct SpinHost {
    pre: ProxyPre<State>,
    rt: tokio::runtime::Runtime,
    pub spin: Arc<Mutex<SpinState>>,
    env: Vec<(String, String)>,
    mount: Option<PathBuf>,
    stderr: MemoryOutputPipe,
}

impl SpinHost {
    /// Compiles `wasm` (a Spin build of the gateway) and links it.
    /// The compiled component is shared by every host of the process
    /// (compiling it takes seconds; the state of each host is its own).
    pub fn new(wasm: &Path) -> anyhow::Result<SpinHost> {
        static COMPILED: OnceLock<Mutex<HashMap<PathBuf, ProxyPre<State>>>> = OnceLock::new();
        let mut compiled = COMPILED
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let pre = match compiled.get(wasm) {
            Some(pre) => pre.clone(),
            None => {
                let pre = Self::compile(wasm)?;
                compiled.insert(wasm.to_path_buf(), pre.clone());
                pre
            }
        };
        drop(compiled);
        Self::with_pre(pre)
    }

    fn compile(wasm: &Path) -> anyhow::Result<ProxyPre<State>> {
        let engine = Engine::new(&Config::new())?;
        let component = Component::from_file(&engine, wasm)?;
        let mut linker: Linker<State> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        key_value::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)?;
        variables::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)?;
        Ok(ProxyPre::new(linker.instantiate_pre(&component)?)?)
    }

    fn with_pre(pre: ProxyPre<State>) -> anyhow::Result<SpinHost> {
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
            pre,
            rt,
            spin: Arc::new(Mutex::new(spin)),
            env: Vec::new(),
            mount: None,
            stderr: MemoryOutputPipe::new(16 << 20),
        })
    }

    /// Sets a guest environment variable for the following requests.
    pub fn env(&mut self, k: &str, v: &str) {
        self.env.push((k.into(), v.into()));
    }

    /// Mounts a host folder at `/policies` (spin.toml's `files`).
    pub fn mount_policies(&mut self, dir: &Path) {
        self.mount = Some(dir.to_path_buf());
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

    /// Everything the guest wrote to stderr so far.
    pub fn logs(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents()).into_owned()
    }

    /// Sends one request through `wasi:http/incoming-handler` of a fresh instance.
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

        let mut wasi = WasiCtxBuilder::new();
        let (forbidden, stderr_closed) = {
            let s = self.state();
            let names = s
                .forbidden_headers
                .iter()
                .filter_map(|n| hyper::header::HeaderName::from_bytes(n.as_bytes()).ok())
                .collect::<Vec<_>>();
            (names, s.stderr_closed)
        };
        if stderr_closed {
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
        let mut store = Store::new(
            self.pre.engine(),
            State {
                wasi: wasi.build(),
                http: WasiHttpCtx::new(),
                table: ResourceTable::new(),
                spin: self.spin.clone(),
                hooks: Hooks { forbidden },
            },
        );
        let pre = self.pre.clone();
        self.rt.block_on(async move {
            let (sender, receiver) = tokio::sync::oneshot::channel();
            let req = store
                .data_mut()
                .http()
                .new_incoming_request(Scheme::Http, req)?;
            let out = store.data_mut().http().new_response_outparam(sender)?;
            let task = tokio::spawn(async move {
                let proxy = pre.instantiate_async(&mut store).await?;
                proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut store, req, out)
                    .await
            });
            let response = match receiver.await {
                Ok(Ok(resp)) => resp,
                Ok(Err(code)) => anyhow::bail!("guest answered with error code {code:?}"),
                Err(_) => {
                    let why = match task.await {
                        Ok(Ok(())) => "returned without a response".to_string(),
                        Ok(Err(e)) => format!("trapped: {e:?}"),
                        Err(e) => format!("task failed: {e}"),
                    };
                    anyhow::bail!("guest never set a response: {why}")
                }
            };
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| anyhow::anyhow!("response body: {e:?}"))?
                .to_bytes()
                .to_vec();
            // The guest may still be logging after the body ended.
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => anyhow::bail!("guest trapped after responding: {e:?}"),
                Err(e) => anyhow::bail!("guest task failed: {e}"),
            }
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
        })
    }
}

/// The names of the interfaces a component imports.
pub fn import_names(wasm: &Path) -> anyhow::Result<Vec<String>> {
    let engine = Engine::new(&Config::new())?;
    let component = Component::from_file(&engine, wasm)?;
    Ok(component
        .component_type()
        .imports(&engine)
        .map(|(name, _)| name.to_string())
        .collect())
}
