//! Builds the component and serves it with the real `wasmtime serve`.

use crate::client::{self, Response};
use std::collections::HashMap;
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The wasmtime release the project is tested against (installed by scripts/setup.sh).
pub const WASMTIME_VERSION: &str = "48.0.8";

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// Builds the component (release, `wasm32-wasip2`) with `features` once per
/// test process and returns the `.wasm`. Building every time (a no-op when
/// fresh) means tests never run against a stale artifact. A separate target
/// directory keeps this clear of the outer `cargo test`'s lock.
pub fn wasm(features: &[&str]) -> PathBuf {
    build_wasm(features, None)
}

/// [`wasm`] with a policy embedded at build time (`CORS_GATEWAY_POLICY`, a
/// path relative to the workspace root), in a target directory of its own.
pub fn wasm_embedding(features: &[&str], policy: &str) -> PathBuf {
    build_wasm(features, Some(policy))
}

/// `CORS_GATEWAY_TEST_BUILD=p3` runs the portable build's suites against the
/// WASI 0.3 build (feature `p3`) instead; unset or `p2`, the WASI 0.2 one.
/// Anything else is a setup failure, never a silent fallback.
fn portable_features() -> &'static [&'static str] {
    match std::env::var("CORS_GATEWAY_TEST_BUILD").as_deref() {
        Err(_) | Ok("") | Ok("p2") => &[],
        Ok("p3") => &["p3"],
        Ok(other) => panic!("SETUP: CORS_GATEWAY_TEST_BUILD={other:?}: expected p2 or p3"),
    }
}

/// The Spin build's features for this run: `spin`, or with
/// `CORS_GATEWAY_TEST_BUILD=p3` the WASI 0.3 Spin build (`spin,p3`), whose
/// instance the test host reuses as Spin 4 does.
pub fn spin_features() -> &'static [&'static str] {
    if testing_p3() {
        &["spin", "p3"]
    } else {
        &["spin"]
    }
}

/// Whether this run tests the WASI 0.3 build (`CORS_GATEWAY_TEST_BUILD=p3`),
/// for the few expectations where its hosts differ. `wasmtime serve`
/// (48.0.8) gives a 0.3 guest neither the request's authority nor its `Host`
/// (a forbidden header there), and frames a 0.3 request that has no length
/// as chunked even when it has no body.
pub fn testing_p3() -> bool {
    !portable_features().is_empty()
}

fn build_wasm(features: &[&str], embed: Option<&str>) -> PathBuf {
    let features = if features.is_empty() {
        portable_features()
    } else {
        features
    };
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let features_key = features.join(",");
    let key = format!("{features_key}|{}", embed.unwrap_or(""));
    let map = BUILT.get_or_init(Default::default);
    let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = map.get(&key) {
        return p.clone();
    }
    let root = workspace_root();
    let mut dir = if features_key.is_empty() {
        "it-portable".to_string()
    } else {
        format!("it-{}", features_key.replace(',', "-"))
    };
    if embed.is_some() {
        dir.push_str("-embedded");
    }
    let target_dir = root.join("target").join(dir);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root).args([
        "build",
        "--release",
        "--target",
        "wasm32-wasip2",
        "-p",
        "cors-gateway",
        "--target-dir",
    ]);
    cmd.arg(&target_dir);
    if !features.is_empty() {
        cmd.args(["--features", &features_key]);
    }
    match embed {
        Some(policy) => cmd.env("CORS_GATEWAY_POLICY", policy),
        None => cmd.env_remove("CORS_GATEWAY_POLICY"),
    };
    let out = cmd
        .output()
        .expect("SETUP: cannot run cargo to build the component");
    assert!(
        out.status.success(),
        "SETUP: building the component failed (is the wasm32-wasip2 target installed? run scripts/setup.sh):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = target_dir.join("wasm32-wasip2/release/cors_gateway.wasm");
    assert!(path.exists(), "SETUP: {} was not produced", path.display());
    map.insert(key, path.clone());
    path
}

/// Builds the `cors-gateway` command-line tool once per test process and
/// returns the binary, for tests that hold `explain` to a real peer (the
/// browser suite). Its own target directory keeps clear of the outer
/// `cargo test`'s lock, as for the component.
pub fn cli_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let root = workspace_root();
        let target_dir = root.join("target").join("it-cli");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(cargo)
            .current_dir(&root)
            .args(["build", "-p", "cors-gateway-cli", "--target-dir"])
            .arg(&target_dir)
            .output()
            .expect("SETUP: cannot run cargo to build the CLI");
        assert!(
            out.status.success(),
            "SETUP: building the CLI failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bin = target_dir.join("debug/cors-gateway");
        assert!(bin.exists(), "SETUP: {} was not produced", bin.display());
        bin
    })
    .clone()
}

/// The `wasmtime` binary: `$WASMTIME`, else on `PATH`, else `~/.cargo/bin`.
/// Missing is a setup failure, never a skipped test.
pub fn wasmtime_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let candidates = std::env::var_os("WASMTIME")
            .map(PathBuf::from)
            .into_iter()
            .chain(std::env::var_os("PATH").into_iter().flat_map(|p| {
                std::env::split_paths(&p)
                    .map(|d| d.join("wasmtime"))
                    .collect::<Vec<_>>()
            }))
            .chain(std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin/wasmtime")));
        for c in candidates {
            if c.is_file() {
                return c;
            }
        }
        panic!(
            "SETUP: wasmtime {WASMTIME_VERSION} not found (looked at $WASMTIME, PATH, ~/.cargo/bin). \
             Run scripts/setup.sh, or: cargo install wasmtime-cli@{WASMTIME_VERSION} --locked"
        )
    })
    .clone()
}

#[derive(Default)]
pub struct GatewayBuilder {
    features: Vec<String>,
    policy: Option<String>,
    env: Vec<(String, String)>,
    reuse: Option<u32>,
    wasmtime_flags: Vec<String>,
    addr: Option<SocketAddr>,
    mount: Option<PathBuf>,
    inherit_stderr: bool,
}

impl GatewayBuilder {
    /// The policy file content, written to `<tmp>/policy.json`, mounted at `/policies`.
    pub fn policy(mut self, json: impl Into<String>) -> Self {
        self.policy = Some(json.into());
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    /// `--max-instance-reuse-count N`.
    pub fn reuse(mut self, n: u32) -> Self {
        self.reuse = Some(n);
        self
    }

    /// More `wasmtime serve` flags (e.g. the pooling allocator's).
    pub fn wasmtime_flags(mut self, flags: &[&str]) -> Self {
        self.wasmtime_flags = flags.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Listen on this address instead of a free loopback port.
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = Some(addr);
        self
    }

    /// Mount this folder at `/policies` instead of a temporary one (the demo
    /// mounts the repository's `policies/`, so edits there are live).
    pub fn mount(mut self, dir: impl Into<PathBuf>) -> Self {
        self.mount = Some(dir.into());
        self
    }

    /// Let wasmtime's and the component's stderr through instead of capturing it.
    pub fn inherit_stderr(mut self) -> Self {
        self.inherit_stderr = true;
        self
    }

    pub fn features(mut self, f: &[&str]) -> Self {
        self.features = f.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn start(self) -> Gateway {
        let features: Vec<&str> = self.features.iter().map(String::as_str).collect();
        let wasm = wasm(&features);
        let dir = tempfile::tempdir().expect("temp dir");
        if let Some(p) = &self.policy {
            std::fs::write(dir.path().join("policy.json"), p).expect("write policy");
        }
        let addr: SocketAddr = self.addr.unwrap_or_else(|| {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr")
        });
        let mut cmd = Command::new(wasmtime_bin());
        cmd.args(["serve", "-Scli", "--addr", &addr.to_string()]);
        let mounted = self
            .mount
            .clone()
            .unwrap_or_else(|| dir.path().to_path_buf());
        cmd.arg("--dir")
            .arg(format!("{}::/policies", mounted.display()));
        for (k, v) in &self.env {
            cmd.arg("--env").arg(format!("{k}={v}"));
        }
        if let Some(n) = self.reuse {
            cmd.arg("--max-instance-reuse-count").arg(n.to_string());
        }
        cmd.args(&self.wasmtime_flags);
        cmd.arg(&wasm);
        cmd.stdout(Stdio::null()).stderr(if self.inherit_stderr {
            Stdio::inherit()
        } else {
            Stdio::piped()
        });
        let mut child = cmd.spawn().expect("SETUP: cannot start wasmtime serve");
        let logs: Arc<Mutex<String>> = Arc::default();
        if let Some(mut err) = child.stderr.take() {
            let logs = logs.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut l) = logs.lock() {
                        l.push_str(&String::from_utf8_lossy(&buf[..n]));
                    }
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if TcpStream::connect(addr).is_ok() {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "wasmtime serve exited ({status}) before listening:\n{}",
                    logs.lock().map(|l| l.clone()).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "wasmtime serve did not listen within 60 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Gateway {
            child,
            addr,
            dir,
            logs,
        }
    }
}

/// A running `wasmtime serve` with the component; killed on drop.
pub struct Gateway {
    child: Child,
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
    logs: Arc<Mutex<String>>,
}

impl Gateway {
    pub fn builder() -> GatewayBuilder {
        GatewayBuilder::default()
    }

    pub fn policy_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Replaces the policy file atomically (write + rename), as an operator's
    /// deploy tool would, so no request can see a half-written file.
    pub fn write_policy(&self, json: &str) {
        let tmp = self.dir.path().join(".policy.json.tmp");
        std::fs::write(&tmp, json).expect("write policy");
        std::fs::rename(&tmp, self.dir.path().join("policy.json")).expect("rename policy");
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Response {
        client::send(self.addr, method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\ngateway log:\n{}", self.logs()))
    }

    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        self.request("GET", path, headers, Vec::new())
    }

    /// What the component and wasmtime wrote to stderr so far.
    pub fn logs(&self) -> String {
        self.logs.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The log once it holds `n` JSON `request` lines (`CORS_GATEWAY_LOG=json`;
    /// each is written after its response has gone, so the last ones may trail
    /// the client), waiting up to 10 s; with them, in the order written.
    pub fn json_requests(&self, n: usize) -> (String, Vec<serde_json::Value>) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let logs = self.logs();
            let lines = json_request_lines(&logs);
            if lines.len() >= n || std::time::Instant::now() > deadline {
                return (logs, lines);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The JSON `request` lines of a log. `wasmtime serve` labels each write
/// (`stderr [N] :: `), and two instances' labels can interleave, so each
/// object is taken from the line's first `{`.
pub fn json_request_lines(logs: &str) -> Vec<serde_json::Value> {
    logs.lines()
        .filter_map(|l| l.find('{').map(|i| &l[i..]))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["event"] == "request")
        .collect()
}
