//! A real browser is the judge. A page served from one origin
//! (`http://127.0.0.1:A`) runs the shared `fetch()` scenarios
//! (testkit/assets/scenarios.js) against the gateway on another
//! (`http://localhost:B`, the component in `wasmtime serve`) in front of a real
//! loopback upstream, in headless Chromium and Firefox ESR, and posts back what
//! its script could see. A missing browser is a setup failure, never a skip.

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use testkit::page::PageServer;
use testkit::upstream::refused_url;
use testkit::{Gateway, Upstream};

/// A running browser, killed (and its profile removed) on drop, also when a
/// test fails.
struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
    panic!("SETUP: none of {names:?} is installed; run scripts/setup.sh (installs Debian's chromium and firefox-esr)")
}

fn launch(kind: &str, url: &str) -> Browser {
    let profile = tempfile::tempdir().expect("profile dir");
    let mut cmd = match kind {
        "chromium" => {
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
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(url);
            c
        }
        _ => {
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
            let mut c = Command::new(find(&["firefox-esr", "firefox"]));
            c.args(["--headless", "--no-remote", "--profile"])
                .arg(profile.path())
                .arg(url);
            c
        }
    };
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("SETUP: cannot start {kind}: {e}"));
    Browser {
        child,
        _profile: profile,
    }
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

/// Runs every scenario in one browser and checks each verdict, plus what only
/// the servers can see: the cookie that was sent and the preflights counted.
fn run(kind: &str) {
    let upstream = Upstream::start();
    let page = PageServer::start("127.0.0.1:0".parse().expect("addr"));
    // A second allowed origin on the same site, for the shared-cache scenario.
    let page2 = PageServer::start("127.0.0.1:0".parse().expect("addr"));
    let gw = Gateway::builder()
        .policy(policy(&page.origin(), &page2.origin(), &upstream))
        .env("CORS_GATEWAY_ACCESS_LOG", "1")
        .start();
    let gateway = format!("http://localhost:{}", gw.addr.port());
    let same_site = format!("http://127.0.0.1:{}", gw.addr.port());
    let url = format!(
        "{}/runner.html?gw={gateway}&gw_same={same_site}&page2={}",
        page.origin(),
        page2.origin()
    );
    let _browser = launch(kind, &url);
    let doc = page
        .wait_result(Duration::from_secs(90))
        .unwrap_or_else(|| {
            panic!(
                "{kind} posted no results within 90 s\ngateway log:\n{}",
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
    if read["x-request-id"] != "req-123" || !read["x-internal-only"].is_null() {
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
    // Preflight cache: PUT, PUT (cached), wait past Max-Age 2 s, PUT: two preflights.
    let preflights = gw
        .logs()
        .lines()
        .filter(|l| l.contains("access OPTIONS \"/cache/item\"") && l.contains("kind=Preflight"))
        .count();
    if preflights != 2 {
        failures.push(format!(
            "preflight-cache: the gateway saw {preflights} preflights, expected 2"
        ));
    }
    assert!(
        failures.is_empty(),
        "{kind} ({}) disagrees with the expected verdicts:\n{}\n\ngateway log:\n{}",
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
    run("chromium");
}

#[test]
fn firefox_agrees_with_the_gateway() {
    run("firefox");
}
