//! The demo behind `scripts/demo.sh`: a small upstream API on 127.0.0.1:8081,
//! the gateway in `wasmtime serve` on localhost:8080 with the repository's
//! `policies/demo.json` (edit it while the demo runs), and a playground page on
//! http://127.0.0.1:8000, another origin, that fires cross-origin requests.
//!
//! `DEMO_POLICY` names another file under `policies/` (the rollout walkthrough
//! uses `rollout/live.json`), `DEMO_CANDIDATE` a candidate policy there, and
//! `CORS_GATEWAY_LOG=json` is passed on to the gateway.

use std::net::SocketAddr;
use testkit::gateway::workspace_root;
use testkit::page::PageServer;
use testkit::{Gateway, Upstream};

fn port(var: &str, default: u16) -> u16 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let upstream_addr: SocketAddr = ([127, 0, 0, 1], port("DEMO_UPSTREAM_PORT", 8081)).into();
    let gateway_addr: SocketAddr = ([127, 0, 0, 1], port("DEMO_GATEWAY_PORT", 8080)).into();
    let page_addr: SocketAddr = ([127, 0, 0, 1], port("DEMO_PAGE_PORT", 8000)).into();

    let _upstream = Upstream::start_on(upstream_addr);
    println!("demo upstream    http://{upstream_addr}  (answers with a JSON echo of each request)");
    println!("building the component and starting wasmtime serve …");
    let policy = std::env::var("DEMO_POLICY").unwrap_or_else(|_| "demo.json".into());
    let mut builder = Gateway::builder()
        .addr(gateway_addr)
        .mount(workspace_root().join("policies"))
        .env("CORS_POLICY_FILE", &format!("/policies/{policy}"))
        .env("CORS_GATEWAY_ACCESS_LOG", "1")
        .inherit_stderr();
    if let Ok(candidate) = std::env::var("DEMO_CANDIDATE") {
        builder = builder.env(
            "CORS_POLICY_CANDIDATE_FILE",
            &format!("/policies/{candidate}"),
        );
    }
    if let Ok(format) = std::env::var("CORS_GATEWAY_LOG") {
        builder = builder.env("CORS_GATEWAY_LOG", &format);
    }
    let gateway = builder.start();

    let _page = PageServer::start(page_addr);
    // A second allowed origin, for the shared-cache scenario's iframe.
    let page2_addr: SocketAddr = ([127, 0, 0, 1], port("DEMO_PAGE2_PORT", 8001)).into();
    let _page2 = PageServer::start(page2_addr);

    let gw = format!("http://localhost:{}", gateway.addr.port());
    println!(
        "\ncors-gateway      {gw}  (policy: policies/{policy}, edits apply on the next request)\n\
         playground        http://{page_addr}  <- open this in your browser\n\n\
         try it from a terminal too:\n  \
         curl -i {gw}/api/hello -H 'Origin: http://{page_addr}'\n  \
         curl -i -X OPTIONS {gw}/api/orders -H 'Origin: http://{page_addr}' \\\n       \
         -H 'Access-Control-Request-Method: PUT' -H 'Access-Control-Request-Headers: content-type'\n  \
         curl -i {gw}/api/hello -H 'Origin: https://evil.example'\n  \
         curl -s {gw}/.well-known/cors-gateway/health\n\n\
         The gateway's log follows. Ctrl-C stops everything.\n"
    );
    loop {
        std::thread::park();
    }
}
