#!/usr/bin/env bash
# Runs cors-gateway for real on this machine: a small demo upstream, the gateway
# in wasmtime serve with policies/demo.json, and a playground page on a second
# origin (http://127.0.0.1:8000) to open in a browser. Ctrl-C stops it.
# Ports: DEMO_GATEWAY_PORT (8080), DEMO_UPSTREAM_PORT (8081), DEMO_PAGE_PORT (8000).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
SKIP_BROWSERS=1 scripts/setup.sh
exec cargo run --quiet --release -p testkit --bin demo
