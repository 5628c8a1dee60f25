#!/usr/bin/env bash
# Interleaved A/B of two or more components under the same load: is a change
# faster, beyond this machine's noise?
#
#   bench/ab.sh get 1000 old.wasm new.wasm      # forwarded GETs, instance reuse 1000
#   bench/ab.sh preflight - a.wasm b.wasm       # preflights, a fresh instance per request
#   ROUNDS=20 bench/ab.sh get 1000 target/wasm32-wasip2/release/bench_passthrough.wasm new.wasm
#   bench/ab.sh get 1000 'gw.wasm@CORS_POLICY_FILE=/policies/other.json' gw.wasm
#   bench/ab.sh preflight - gw.wasm 'gw.wasm@CORS_GATEWAY_LOG=json@CORS_POLICY_CANDIDATE_FILE=/policies/policy.json'
#   SERVE_FLAGS='-O pooling-allocator=y' bench/ab.sh preflight - a.wasm b.wasm
#
# Each round serves every component in turn on `wasmtime serve` (as
# bench/e2e.sh does: the 10-origin policy, written long ago, at /policies; the
# one-thread bench/upstream for GETs; UPSTREAM and TIMEOUT_MS for the
# pass-through) and loads it with `wrk` for DURATION seconds after a 1 s
# warm-up. A `file@K=V[@K2=V2...]` argument passes `--env K=V` (each pair) to
# that one server;
# SERVE_FLAGS (split on spaces) go to every server, e.g. host tuning. It
# prints each component's median req/s and host CPU per request (the `wasmtime
# serve` process's user + system time over the run) and both as ratios to the
# first component, with the spread of the per-round ratios, which is what
# tells a real difference from noise (on a 2-core VM a single run moves ±10%).
# Build the components first; the script only runs them.
set -euo pipefail
export PATH="$HOME/.cargo/bin:$PATH"
cd "$(dirname "$0")/.."

if [ $# -lt 3 ] || { [ "$1" != get ] && [ "$1" != preflight ]; }; then
    echo "usage: bench/ab.sh get|preflight REUSE(-|n) A.wasm[@K=V] B.wasm[@K=V]..." >&2
    exit 2
fi
LUA=$1 REUSE=$2
shift 2
ROUNDS=${ROUNDS:-10}
DURATION=${DURATION:-4}
CONNS=${CONNS:-8}
for tool in wrk wasmtime python3 curl; do
    command -v "$tool" >/dev/null || { echo "SETUP: $tool not found (wrk: apt-get install wrk; wasmtime: scripts/setup.sh)" >&2; exit 1; }
done
for c in "$@"; do
    [ -f "${c%%@*}" ] || { echo "no such component: ${c%%@*}" >&2; exit 1; }
done

. bench/common.sh
bench_tmpdir

cargo build -q --locked --release -p bench-upstream
start_upstream
mkdir -p "$TMP/policies"
bench_policy 10 "http://127.0.0.1:$UP_PORT" >"$TMP/policies/policy.json"
touch -d '-10 minutes' "$TMP/policies/policy.json"
write_wrk_scripts "$TMP"
ORIGIN="https://app0.example.com"

# serve COMPONENT[@K=V...]: that component on wasmtime serve.
serve() {
    local c=$1 wasm=${1%%@*} args=() kvs kv
    if [ "$wasm" != "$c" ]; then
        IFS=@ read -ra kvs <<<"${c#*@}"
        for kv in "${kvs[@]}"; do args+=(--env "$kv"); done
    fi
    [ "$REUSE" != - ] && args+=(--max-instance-reuse-count "$REUSE")
    # shellcheck disable=SC2206 # word splitting of SERVE_FLAGS is intended
    args+=(${SERVE_FLAGS:-})
    serve_wasm "$wasm" "$TMP/policies" "${args[@]}"
    URL="http://127.0.0.1:$SERVE_PORT/api/orders" CPU_PID=$SERVE_PID
}
stop() {
    kill "$SERVE_PID"
    wait "$SERVE_PID" 2>/dev/null || true
}
run_rounds "$LUA" 60 "$@"

summarize "$TMP/results" "req/s" 60 3 "$@"
