//! Real browsers are the judges. A page served from one origin
//! (`http://127.0.0.1:A`) runs the shared `fetch()` scenarios
//! (testkit/assets/scenarios.js) against the gateway on another
//! (`http://localhost:B`, the component in `wasmtime serve`) in front of a real
//! loopback upstream, in each engine: headless Chromium, headless Firefox ESR
//! and WebKit (WebKitGTK's MiniBrowser on a virtual X display), and posts back
//! what its script could see. Each engine's verdicts are then held to
//! `cors-gateway explain`'s prediction for the same request (allowed or
//! blocked, the headers readable, and each console message: Chromium's log,
//! Firefox's console over WebDriver BiDi, WebKit's console output), so the CLI's
//! browser model cannot drift from the browsers. A missing browser is a setup failure, never a skip.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testkit::page::PageServer;
use testkit::upstream::refused_url;
use testkit::{Gateway, Upstream};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Engine {
    Chromium,
    Firefox,
    WebKit,
}

impl Engine {
    /// The key `explain --format json` uses for it.
    fn key(self) -> &'static str {
        match self {
            Engine::Chromium => "chromium",
            Engine::Firefox => "firefox",
            Engine::WebKit => "webkit",
        }
    }
}

/// Where an engine's console messages arrive.
enum Console {
    /// A file the engine writes (Chromium's log, WebKit's console output).
    File(PathBuf),
    /// Firefox's `log.entryAdded` events over WebDriver BiDi.
    Bidi(Arc<Mutex<Vec<String>>>),
}

impl Console {
    fn text(&self) -> String {
        match self {
            Console::File(p) => std::fs::read_to_string(p).unwrap_or_default(),
            Console::Bidi(lines) => lines.lock().map(|l| l.join("\n")).unwrap_or_default(),
        }
    }
}

/// A running browser, killed (and its profile removed) on drop, also when a
/// test fails.
struct Browser {
    child: Child,
    /// The virtual display WebKit draws on.
    display: Option<Child>,
    console: Console,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(d) = &mut self.display {
            let _ = d.kill();
            let _ = d.wait();
        }
    }
}

fn find(names: &[&str]) -> PathBuf {
    for n in names {
        for dir in ["/usr/bin", "/usr/local/bin", "/snap/bin"] {
            let p = PathBuf::from(dir).join(n);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!("SETUP: none of {names:?} is installed; run scripts/setup.sh (installs Debian's chromium, firefox-esr, webkit2gtk-driver and xvfb)")
}

/// WebKitGTK's browser, which Debian keeps in the library's own folder (one
/// per API version) rather than on `PATH`.
fn minibrowser() -> PathBuf {
    let mut dirs = vec![PathBuf::from("/usr/lib"), PathBuf::from("/usr/libexec")];
    if let Ok(rd) = std::fs::read_dir("/usr/lib") {
        dirs.extend(rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
    }
    for d in &dirs {
        for api in ["webkit2gtk-4.1", "webkitgtk-6.0", "webkit2gtk-4.0"] {
            let p = d.join(api).join("MiniBrowser");
            if p.is_file() {
                return p;
            }
        }
    }
    panic!("SETUP: WebKitGTK's MiniBrowser is not installed; run scripts/setup.sh (installs Debian's webkit2gtk-driver, which brings it, and xvfb)")
}

/// A virtual X display on a free number (Xvfb picks it and prints it).
fn start_xvfb() -> (Child, String) {
    let mut child = Command::new(find(&["Xvfb"]))
        .args(["-displayfd", "1", "-nolisten", "tcp", "-screen", "0"])
        .arg("1280x1024x24")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("SETUP: cannot start Xvfb: {e}"));
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut line);
    }
    let n = line.trim();
    if n.parse::<u32>().is_err() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("SETUP: Xvfb started no display (printed {line:?}); run scripts/setup.sh");
    }
    (child, format!(":{n}"))
}

fn launch(engine: Engine, url: &str) -> Browser {
    let profile = tempfile::tempdir().expect("profile dir");
    let console_file = profile.path().join("console.log");
    let log = || std::fs::File::create(&console_file).expect("console log");
    let mut display = None;
    let mut bidi_port = None;
    let mut cmd = match engine {
        Engine::Chromium => {
            let mut c = Command::new(find(&["chromium", "chromium-browser"]));
            c.args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                // Chromium's log carries every console message as a
                // `CONSOLE` line, its CORS errors included.
                "--enable-logging=stderr",
                "--log-level=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(url);
            c.stdout(Stdio::null()).stderr(log());
            c
        }
        Engine::Firefox => {
            // A quiet profile: no first-run pages, updates, telemetry or
            // background connections (this machine reaches no other host).
            std::fs::write(
                profile.path().join("user.js"),
                r#"user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("browser.startup.homepage_override.mstone", "ignore");
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("toolkit.telemetry.reportingpolicy.firstRun", false);
user_pref("app.update.enabled", false);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("browser.safebrowsing.malware.enabled", false);
user_pref("browser.safebrowsing.phishing.enabled", false);
user_pref("extensions.update.enabled", false);
user_pref("network.proxy.type", 0);
"#,
            )
            .expect("user.js");
            // Firefox reports CORS errors only to its console, which
            // WebDriver BiDi exposes (log.entryAdded): it starts on about:blank
            // and the page is loaded once the suite listens.
            let port = free_port();
            bidi_port = Some(port);
            let mut c = Command::new(find(&["firefox-esr", "firefox"]));
            c.args(["--headless", "--no-remote", "--profile"])
                .arg(profile.path())
                .arg(format!("--remote-debugging-port={port}"));
            c.stdout(Stdio::null()).stderr(Stdio::null());
            c
        }
        Engine::WebKit => {
            let (xvfb, name) = start_xvfb();
            display = Some(xvfb);
            // Launched directly rather than through WebKitWebDriver: a
            // browser in automation mode does not apply the setting that
            // writes console messages out, and the suite needs those.
            let mut c = Command::new(minibrowser());
            c.arg("--enable-write-console-messages-to-stdout=true")
                .arg(url)
                .env("DISPLAY", name)
                .env("NO_AT_BRIDGE", "1")
                // A fresh profile: no HTTP cache, cookies or preflight cache
                // from an earlier run.
                .env("HOME", profile.path())
                .env("XDG_CACHE_HOME", profile.path().join("cache"))
                .env("XDG_DATA_HOME", profile.path().join("data"))
                .env("XDG_CONFIG_HOME", profile.path().join("config"));
            // WebKitGTK writes them to stderr, whatever the setting's name says.
            c.stdout(Stdio::null()).stderr(log());
            c
        }
    };
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("SETUP: cannot start {engine:?}: {e}"));
    let mut browser = Browser {
        child,
        display,
        console: Console::File(console_file),
        _profile: profile,
    };
    if let Some(port) = bidi_port {
        let lines = testkit::bidi::Bidi::connect(port, Duration::from_secs(30))
            .and_then(|b| b.load_and_record(url))
            .unwrap_or_else(|e| panic!("SETUP: cannot drive {engine:?} over WebDriver BiDi: {e}"));
        browser.console = Console::Bidi(lines);
    }
    browser
}

/// A loopback port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The demo policy with this run's origins and upstreams.
fn policy(page_origin: &str, page2_origin: &str, upstream: &Upstream) -> String {
    let demo =
        std::fs::read_to_string(testkit::gateway::workspace_root().join("policies/demo.json"))
            .expect("policies/demo.json");
    demo.replace("http://127.0.0.1:8000", page_origin)
        .replace("http://127.0.0.1:8001", page2_origin)
        .replace("http://127.0.0.1:8089", &refused_url())
        .replace("http://127.0.0.1:8081", &upstream.url())
}

/// `cors-gateway explain --format json` for the request a scenario made.
fn explain(policy: &Path, origin: &str, req: &Value) -> Value {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let mut cmd = Command::new(testkit::cli_bin());
    cmd.args(["explain", "--format", "json", "--policy"])
        .arg(policy)
        .args(["--origin", origin, "--method", &s(&req["method"])])
        .args(["--path", &s(&req["path"])]);
    for (name, value) in req["headers"].as_object().into_iter().flatten() {
        cmd.arg("--header").arg(format!("{name}: {}", s(value)));
    }
    if req["credentials"] == true {
        cmd.arg("--credentials");
    }
    let out = cmd.output().expect("run cors-gateway explain");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "explain gave no JSON ({e}) for {req}:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Response headers every page may read (Fetch's CORS-safelisted response
/// header names); `explain` lists only the others.
const SAFELISTED_RESPONSE_HEADERS: [&str; 7] = [
    "cache-control",
    "content-language",
    "content-length",
    "content-type",
    "expires",
    "last-modified",
    "pragma",
];

/// Holds one scenario's outcome in a real engine to `explain`'s prediction.
fn compare_with_explain(
    engine: Engine,
    policy_file: &Path,
    origin: &str,
    r: &Value,
    console: &str,
) -> Vec<String> {
    let id = r["id"].as_str().unwrap_or_default();
    let req = &r["req"];
    let predicted = explain(policy_file, origin, req);
    let b = &predicted["browser"];
    let mut out = Vec::new();
    // On a report-only route the page gets the upstream's answer, which
    // explain cannot know: it must say so instead of predicting a verdict.
    if predicted["report_only"] == true {
        let said = predicted["notes"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|n| {
                n.as_str()
                    .unwrap_or_default()
                    .starts_with("report-only route")
            });
        if !said {
            out.push(format!(
                "{id}: explain does not say the route is report-only: {predicted}"
            ));
        }
        return out;
    }
    if b["allowed"] != r["ok"] {
        out.push(format!(
            "{id}: explain predicts allowed={}, {engine:?} {}: {r}\nexplain: {b}",
            b["allowed"],
            if r["ok"] == true {
                "allowed it"
            } else {
                "blocked it"
            }
        ));
        return out;
    }
    if r["ok"] == true {
        let listed: Vec<&str> = b["readable_extra_headers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let any = listed.iter().any(|h| h.starts_with('*'));
        for h in r["headers"].as_array().into_iter().flatten() {
            let name = h[0].as_str().unwrap_or_default();
            if !SAFELISTED_RESPONSE_HEADERS.contains(&name) && !any && !listed.contains(&name) {
                out.push(format!(
                    "{id}: {engine:?} let the page read {name}, explain lists only {listed:?}"
                ));
            }
        }
        // The upstream sends every header a scenario reads, so readable
        // exactly when explain lists it.
        for (name, value) in r["read"].as_object().into_iter().flatten() {
            if value.is_null() == (any || listed.contains(&name.as_str())) {
                out.push(format!(
                    "{id}: {engine:?} read {name} = {value}, explain lists {listed:?}"
                ));
            }
        }
    } else {
        let url = req["url"].as_str().unwrap_or_default();
        let gateway = url
            .strip_suffix(req["path"].as_str().unwrap_or_default())
            .unwrap_or(url);
        let lines = b["consoles"][engine.key()]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if lines.is_empty() {
            out.push(format!(
                "{id}: {engine:?} blocked it, explain gives no console line for it"
            ));
        }
        for line in &lines {
            let want = line
                .as_str()
                .unwrap_or_default()
                .replace("<gateway>", gateway);
            // An upstream's status is not known to explain: match around it.
            let parts: Vec<&str> = want.split("<the upstream's status>").collect();
            let seen = console.lines().any(|l| parts.iter().all(|p| l.contains(p)));
            if !seen {
                out.push(format!(
                    "{id}: explain predicts the console line\n    {want}\n  {engine:?} printed no such line"
                ));
            }
        }
    }
    out
}

/// The CORS-related lines of an engine's console, for failure messages.
fn console_excerpt(console: &str) -> String {
    console
        .lines()
        .filter(|l| {
            l.contains("CORS")
                || l.contains("Access-Control")
                || l.contains("access control")
                || l.contains("Preflight")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs every scenario in one engine and checks each verdict, plus what only
/// the servers can see (the cookie that was sent, the preflights counted) and
/// what `explain` predicts.
fn run(engine: Engine) {
    let started = Instant::now();
    let upstream = Upstream::start();
    let page = PageServer::start("127.0.0.1:0".parse().expect("addr"));
    // A second allowed origin on the same site, for the shared-cache scenario.
    let page2 = PageServer::start("127.0.0.1:0".parse().expect("addr"));
    let policy_text = policy(&page.origin(), &page2.origin(), &upstream);
    let policy_dir = tempfile::tempdir().expect("policy dir");
    let policy_file = policy_dir.path().join("policy.json");
    std::fs::write(&policy_file, &policy_text).expect("policy file");
    let gw = Gateway::builder()
        .policy(policy_text)
        .env("CORS_GATEWAY_ACCESS_LOG", "1")
        .start();
    let gateway = format!("http://localhost:{}", gw.addr.port());
    let same_site = format!("http://127.0.0.1:{}", gw.addr.port());
    let url = format!(
        "{}/runner.html?gw={gateway}&gw_same={same_site}&page2={}",
        page.origin(),
        page2.origin()
    );
    let browser = launch(engine, &url);
    let doc = page
        .wait_result(Duration::from_secs(90))
        .unwrap_or_else(|| {
            panic!(
                "{engine:?} posted no results within 90 s\ngateway log:\n{}",
                gw.logs()
            )
        });
    let doc: Value = serde_json::from_str(&doc).expect("results JSON");
    let results = doc["results"].as_array().expect("results");
    let scenarios = scenario_expectations();
    assert_eq!(results.len(), scenarios.len(), "{doc}");

    let mut failures = Vec::new();
    for (r, (id, expect)) in results.iter().zip(&scenarios) {
        assert_eq!(r["id"], id.as_str());
        let verdict = if r["ok"] == true {
            r["status"].clone()
        } else {
            Value::from("blocked")
        };
        if &verdict != expect {
            failures.push(format!(
                "{id}: browser saw {verdict}, expected {expect}: {r}"
            ));
        }
    }
    let by_id = |id: &str| {
        results
            .iter()
            .find(|r| r["id"] == id)
            .cloned()
            .unwrap_or(Value::Null)
    };
    // Exposed headers are readable, others are not, though the upstream sent both.
    let read = &by_id("exposed-header")["read"];
    // The exposed x-request-id is the gateway's: the one it sent the upstream.
    let id = read["x-request-id"].as_str().unwrap_or("");
    let sent_upstream = upstream
        .seen()
        .iter()
        .any(|s| s.path_with_query == "/api/hello" && s.header("x-request-id") == Some(id));
    if id.is_empty() || !sent_upstream || !read["x-internal-only"].is_null() {
        failures.push(format!("exposed-header: read {read}"));
    }
    // The cookie set by one credentialed response was sent with the next.
    let cookie_sent = upstream
        .seen()
        .iter()
        .any(|s| s.path_with_query == "/api/me" && s.header("cookie") == Some("session=abc123"));
    if !cookie_sent {
        failures.push("credentials: the upstream got no cookie with /api/me".into());
    }
    // Report-only: the page read the header the API exposed, the preflight
    // reached the API, and the gateway logged the refusal it would have made.
    if by_id("report-only-get")["read"]["x-upstream-cors"] != "1" {
        failures.push(format!(
            "report-only-get: the page could not read the API's exposed header: {}",
            by_id("report-only-get")
        ));
    }
    let forwarded = upstream
        .seen()
        .iter()
        .any(|s| s.method == "OPTIONS" && s.path_with_query == "/watch/own-cors/items/1");
    let logged = gw
        .logs()
        .contains("report-only would-refuse 403 OPTIONS \"/watch/own-cors/items/1\"");
    if !forwarded || !logged {
        failures.push(format!(
            "report-only-preflight: preflight forwarded {forwarded}, would-refuse logged {logged}"
        ));
    }
    // Preflight cache: PUT, PUT (cached), wait past Max-Age 2 s, PUT: two
    // preflights, so the engine both cached the answer and let it expire.
    let preflights = gw
        .logs()
        .lines()
        .filter(|l| l.contains("access OPTIONS \"/cache/item\"") && l.contains("kind=Preflight"))
        .count();
    if preflights != 2 {
        failures.push(format!(
            "preflight-cache: the gateway saw {preflights} preflights, expected 2 (1: no expiry, 3: no caching)"
        ));
    }

    // explain, held to what this engine did. The console file can trail the
    // results a little: wait until every predicted line is there (bounded).
    let origin = page.origin();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut disagreements;
    loop {
        let console = browser.console.text();
        disagreements = results
            .iter()
            .flat_map(|r| compare_with_explain(engine, &policy_file, &origin, r, &console))
            .collect::<Vec<_>>();
        if disagreements.is_empty() || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    if !disagreements.is_empty() {
        failures.push(format!(
            "explain disagrees with {engine:?}:\n{}\n{engine:?}'s CORS console lines:\n{}",
            disagreements.join("\n"),
            console_excerpt(&browser.console.text())
        ));
    }
    let failed = scenarios
        .iter()
        .filter(|(id, _)| {
            let tag = format!("{id}:");
            failures
                .iter()
                .chain(&disagreements)
                .any(|f| f.starts_with(&tag))
        })
        .count();
    eprintln!(
        "{engine:?} ({}): {} of {} scenarios pass (verdict, servers' view and explain's prediction), {:.1} s",
        doc["userAgent"],
        scenarios.len() - failed,
        scenarios.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{engine:?} ({}) disagrees with the expected verdicts:\n{}\n\ngateway log:\n{}",
        doc["userAgent"],
        failures.join("\n"),
        gw.logs()
    );
}

/// (id, expected verdict) from scenarios.js itself, so the list is never
/// written twice.
fn scenario_expectations() -> Vec<(String, Value)> {
    let js = testkit::page::SCENARIOS_JS;
    let mut out = Vec::new();
    for chunk in js.split("{ id: \"").skip(1) {
        let id = chunk.split('"').next().unwrap_or_default().to_string();
        let expect = chunk
            .split("expect: ")
            .nth(1)
            .and_then(|e| e.split([' ', '}', ',']).next())
            .map(|e| serde_json::from_str::<Value>(e).unwrap_or(Value::Null))
            .unwrap_or(Value::Null);
        out.push((id, expect));
    }
    assert!(out.len() >= 15, "scenarios.js parse: {out:?}");
    out
}

#[test]
fn chromium_agrees_with_the_gateway() {
    run(Engine::Chromium);
}

#[test]
fn firefox_agrees_with_the_gateway() {
    run(Engine::Firefox);
}

#[test]
fn webkit_agrees_with_the_gateway() {
    run(Engine::WebKit);
}
