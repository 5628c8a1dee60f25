#!/usr/bin/env bash
# Where one preflight's host CPU goes, per request: `perf` over a `wrk` run of
# a component on `wasmtime serve --profile perfmap` (guest functions get their
# names from the perf map; build unstripped to see them, as below).
#
#   bench/profile.sh                          # the gateway, 10-origin policy file, fresh instances
#   REUSE=1000 bench/profile.sh               # with instance reuse
#   ENV=1 bench/profile.sh                    # policy from CORS_POLICY instead of the file
#   ORIGINS=10000 COMPILED=1 bench/profile.sh # the 10,000-origin policy, compiled (cors-gateway compile)
#   FORWARD=1 REUSE=1000 bench/profile.sh     # forwarded GETs to bench/upstream instead of preflights
#   FORWARD=1 REUSE=1000 bench/profile.sh target/wasm32-wasip2/release/bench_passthrough.wasm
#   bench/profile.sh target/wasm32-wasip2/release/bench_hello_sdk.wasm   # the floor, same flags
#   KEEP=perf.txt bench/profile.sh            # also keep `perf script`'s output, for your own analysis
#
# Prints µs of host CPU per request by shared object ("guest" = the component's
# compiled code), the hottest symbols, the time in page faults by the code
# that faulted, and inclusive guest time for a few functions of interest.
# Compare two components or two builds by running it twice; the machine's
# noise is ±10%, so look for differences larger than that, or repeat.
# Needs perf (Debian: linux-perf), wrk, wasmtime (scripts/setup.sh), python3.
set -euo pipefail
export PATH="$HOME/.cargo/bin:$PATH"
cd "$(dirname "$0")/.."

DURATION=${DURATION:-4}
CONNS=${CONNS:-8}
REUSE=${REUSE:-}
for tool in perf wrk wasmtime python3 curl; do
    command -v "$tool" >/dev/null || { echo "SETUP: $tool not found (perf: apt-get install linux-perf; wasmtime: scripts/setup.sh)" >&2; exit 1; }
done

WASM=${1:-}
if [ -z "$WASM" ]; then
    echo "== building the gateway unstripped (release profile, symbols kept for the perf map)"
    CARGO_PROFILE_RELEASE_STRIP=false cargo build -q --locked --release --target wasm32-wasip2 \
        -p cors-gateway --target-dir target/profile
    WASM=target/profile/wasm32-wasip2/release/cors_gateway.wasm
fi

. bench/common.sh
bench_tmpdir
# The policy of bench/e2e.sh (ORIGINS of them, 10 by default), written long
# ago as one in service is.
mkdir -p "$TMP/policies"
args=()
UP_PORT=9 LUA=preflight
if [ -n "${FORWARD:-}" ]; then
    # Forwarded GETs: the upstream of bench/e2e.sh; the pass-through reads
    # UPSTREAM and TIMEOUT_MS (the policy's default timeout), as in e2e.
    cargo build -q --locked --release -p bench-upstream
    start_upstream
    LUA="get"
fi
ORIGINS=${ORIGINS:-10}
ORIGIN="https://app$((ORIGINS / 2 / 10 * 10)).example.com" # an exact entry in the middle, as in e2e
bench_policy "$ORIGINS" "http://127.0.0.1:$UP_PORT" >"$TMP/policies/policy.json"
if [ -n "${COMPILED:-}" ]; then
    cargo build -q --locked --release -p cors-gateway-cli
    target/release/cors-gateway compile "$TMP/policies/policy.json" -o "$TMP/policies/policy.bin" >/dev/null
    args+=(--env CORS_POLICY_FILE=/policies/policy.bin)
fi
touch -d '-10 minutes' "$TMP/policies/"*
write_wrk_scripts "$TMP"

[ -n "$REUSE" ] && args+=(--max-instance-reuse-count "$REUSE")
[ -n "${ENV:-}" ] && args+=(--env "CORS_POLICY=$(cat "$TMP/policies/policy.json")")
serve_wasm "$WASM" "$TMP/policies" --profile perfmap "${args[@]}"
PIDS+=("$SERVE_PID")
URL="http://127.0.0.1:$SERVE_PORT/api/orders"
wrk -t1 -c"$CONNS" -d1s -s "$TMP/$LUA.lua" -H "Origin: $ORIGIN" "$URL" >/dev/null

perf record -q -F 2000 -g -o "$TMP/perf.data" -p "$SERVE_PID" -- sleep "$DURATION" >/dev/null 2>&1 &
PERF=$!
out=$(wrk -t1 -c"$CONNS" -d"${DURATION}s" -s "$TMP/$LUA.lua" -H "Origin: $ORIGIN" "$URL")
wait "$PERF"
grep -q "Non-2xx" <<<"$out" && { echo "!! the component answered errors during the run" >&2; exit 1; }
REQUESTS=$(awk '/requests in/ {print $1}' <<<"$out")
echo "== $WASM ($ORIGINS origins${COMPILED:+ compiled}, ${REUSE:+reuse $REUSE, }${ENV:+policy from CORS_POLICY, }$REQUESTS requests in ${DURATION} s)"
perf script -i "$TMP/perf.data" 2>/dev/null >"$TMP/perf.txt"
[ -n "${KEEP:-}" ] && cp "$TMP/perf.txt" "$KEEP"
python3 - "$TMP/perf.txt" "$REQUESTS" 2000 <<'EOF'
import collections, re, sys
path, requests, hz = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
us = lambda samples: samples * 1e6 / hz / requests  # µs of CPU per request
bare = lambda sym: re.sub(r"(::h[0-9a-f]{16})?\+0x[0-9a-f]+$", "", sym)[:100]  # no hash, no offset
by_dso, by_sym, faults, incl = (collections.Counter() for _ in range(4))
interest = ["Policy::from_json", "compiled::load", "policy_file::read", "portable_source",
            "decision::decide", "RequestView::from_headers", "p2::send", "forward::forward",
            "send_upstream_response", "stream_request_body", "from_list", "entries", "Instant", "stamp"]
total = 0
frame = re.compile(r"^\s*[0-9a-f]+ (.*) \((.*)\)$")
for block in open(path, errors="replace").read().split("\n\n"):
    frames = [m.groups() for m in map(frame.match, block.split("\n")[1:]) if m]
    if not frames:
        continue
    total += 1
    sym, dso = frames[0]
    dso = "guest" if dso.startswith("/tmp/perf-") else dso.rsplit("/", 1)[-1]
    by_dso[dso] += 1
    by_sym[(dso, bare(sym))] += 1
    names = [f[0] for f in frames]
    fault = next((i for i, n in enumerate(names) if n.startswith("asm_exc_page_fault")), None)
    if fault is not None and fault + 1 < len(frames):
        faults[bare(names[fault + 1])] += 1
    for key in interest:
        if any(key in n for n in names):
            incl[key] += 1
print(f"host CPU per request: {us(total):.1f} µs")
print("by shared object:")
for dso, n in by_dso.most_common(8):
    print(f"  {us(n):7.1f} µs  {dso}")
print("hottest symbols:")
for (dso, sym), n in by_sym.most_common(25):
    print(f"  {us(n):7.1f} µs  {dso if dso.startswith('[') else f'[{dso}]'} {sym}")
print("hottest guest functions (self time):")
for (dso, sym), n in [x for x in by_sym.most_common() if x[0][0] == "guest"][:int(__import__("os").environ.get("GUEST_TOP", "15"))]:
    print(f"  {us(n):7.1f} µs  {sym}")
print(f"page faults: {us(sum(faults.values())):.1f} µs, by the code that faulted (a write to a page")
print("  read before, or to the module's data image, copies it and flushes the other cores' TLBs):")
for sym, n in faults.most_common(8):
    print(f"  {us(n):7.1f} µs  {sym}")
print("guest functions, inclusive:")
for key in interest:
    if incl[key]:
        print(f"  {us(incl[key]):7.1f} µs  {key}")
EOF
