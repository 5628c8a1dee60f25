#!/usr/bin/env bash
# End-to-end load on `wasmtime serve`, loopback only, bounded runs.
#
#   bench/e2e.sh            # DURATION=5 s per run, ROUNDS=3, CONNS=8, NGINX=1
#   DURATION=10 ROUNDS=5 bench/e2e.sh
#   ONLY='preflight/(hello-sdk|gateway-10)/' bench/e2e.sh   # only runs whose name matches (grep -E)
#
# Builds the gateway (portable and spin), the floors (the SDK's hello-world,
# bench/hello-sdk; the same after reading the policy file with the gateway's
# host calls, bench/hello-file; and a bare-bindings component that answers 204
# without reading anything, bench/hello), the bare pass-through and a
# one-thread upstream; then, for each round, runs every
# configuration for DURATION seconds with `wrk` (one thread, CONNS
# connections), interleaved so that machine noise hits all of them alike, and
# prints the median requests/s of each and the ratios the targets are about:
#   - preflight: gateway vs the SDK's hello-world (the floor), target >= 0.9x;
#     and vs the bare floor, stricter, no target; the hello-world that reads
#     the policy file vs the hello-world (what the host charges for the file
#     alone), and the gateway vs it (what the gateway's own work costs)
#   - forwarded request: gateway vs pass-through (same outbound call, with the
#     same timeouts), target >= 0.9x; vs direct
#   - policy of 10 vs 10,000 origins (per-request policy cost without reuse),
#     as JSON and compiled (`cors-gateway compile`)
#   - the 10-origin policy from CORS_POLICY instead of a file (what checking
#     the file on every request costs)
# each with wasmtime's default for WASIp2 (a fresh instance per request) and
# with --max-instance-reuse-count 1000, and, next to every wasmtime figure, the
# host CPU time the server process spent per request. nginx (Debian package, installed if
# missing; NGINX=0 skips it) answers the same preflight and proxies the same
# request as a reference point, not a target.
set -euo pipefail
export PATH="$HOME/.cargo/bin:$PATH"
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-8}
NGINX=${NGINX:-1}
REUSE=1000

need() { command -v "$1" >/dev/null || { echo "SETUP: $1 not found ($2)" >&2; exit 1; }; }
need wrk "apt-get install wrk"
need wasmtime "run scripts/setup.sh"
need python3 "apt-get install python3"
need curl "apt-get install curl"
if [ "$NGINX" = 1 ] && ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
    echo "== installing nginx (reference point; NGINX=0 skips it)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light >/dev/null ||
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx >/dev/null ||
        { echo "SETUP: cannot install nginx (NGINX=0 skips it)" >&2; exit 1; }
fi
NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)

echo "== building (release, wasm32-wasip2)"
cargo build -q --locked --release --target wasm32-wasip2 -p cors-gateway -p bench-hello -p bench-hello-sdk -p bench-hello-file -p bench-passthrough
cargo build -q --locked --release --target wasm32-wasip2 -p cors-gateway --features spin --target-dir target/spin
cargo build -q --locked --release -p bench-upstream -p cors-gateway-cli
W=target/wasm32-wasip2/release
GATEWAY=$W/cors_gateway.wasm HELLO=$W/bench_hello.wasm HELLO_SDK=$W/bench_hello_sdk.wasm HELLO_FILE=$W/bench_hello_file.wasm PASS=$W/bench_passthrough.wasm
SPIN=target/spin/wasm32-wasip2/release/cors_gateway.wasm

. bench/common.sh
bench_tmpdir

start_upstream

# Policies of 10 and 10,000 origins (bench/common.sh); the request origin is
# in the middle.
for n in 10 10000; do
    mkdir -p "$TMP/p$n"
    bench_policy "$n" "http://127.0.0.1:$UP_PORT" >"$TMP/p$n/policy.json"
done
# A policy in service was last edited a while ago: a reused instance then
# trusts the file's stamp at once instead of re-reading the file on every
# request (src/policy_file.rs; within a minute of an edit it re-reads until the
# stamp has settled, which costs what reading did before).
# The 10,000-origin policy compiled (`cors-gateway compile`), as a host
# without instance reuse should run a policy that large.
mkdir -p "$TMP/p10000c"
target/release/cors-gateway compile "$TMP/p10000/policy.json" -o "$TMP/p10000c/policy.bin" >/dev/null
touch -d '-10 minutes' "$TMP/p10/policy.json" "$TMP/p10000/policy.json" "$TMP/p10000c/policy.bin"
# The 10-origin policy from the environment (CORS_POLICY) instead of a file:
# the difference is what checking the file on every request costs.
mkdir -p "$TMP/p10env"
cp "$TMP/p10/policy.json" "$TMP/p10env/policy.env"
ORIGIN="https://app0.example.com" # exact entry 0 of both policies
ORIGIN_10K="https://app5000.example.com"

write_wrk_scripts "$TMP"

# nginx: the same preflight answer with add_header/return 204, the same proxy.
if [ "$NGINX" = 1 ]; then
    NG_PORT=$(free_port)
    mkdir -p "$TMP/nginx"
    chmod 755 "$TMP"
    cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $TMP/nginx/body; proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fcgi; uwsgi_temp_path $TMP/nginx/uwsgi; scgi_temp_path $TMP/nginx/scgi;
    upstream up { server 127.0.0.1:$UP_PORT; keepalive 16; }
    server {
        listen 127.0.0.1:$NG_PORT;
        location /api/ {
            if (\$request_method = OPTIONS) {
                add_header Access-Control-Allow-Origin \$http_origin always;
                add_header Access-Control-Allow-Credentials true always;
                add_header Access-Control-Allow-Methods "GET, POST, PUT, DELETE" always;
                add_header Access-Control-Allow-Headers "content-type, authorization, x-trace-id" always;
                add_header Access-Control-Max-Age 600 always;
                add_header Vary "Origin, Access-Control-Request-Method, Access-Control-Request-Headers" always;
                return 204;
            }
            add_header Access-Control-Allow-Origin \$http_origin always;
            add_header Access-Control-Allow-Credentials true always;
            add_header Access-Control-Expose-Headers x-request-id always;
            add_header Vary Origin always;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://up;
        }
        location / { return 204; }
    }
}
EOF
    # As root, nginx drops its worker to an unprivileged user; as a user it
    # simply runs as that user.
    [ "$(id -u)" = 0 ] && sed -i "1i user nobody nogroup;" "$TMP/nginx/nginx.conf"
    "$NGINX_BIN" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" 2>"$TMP/nginx/stderr" &
    PIDS+=($!)
    wait_http "$NG_PORT"
fi

# run NAME URL LUA ORIGIN [PID]: one bounded wrk run (bench/common.sh's
# measure); appends "NAME rps cpu round" to results, cpu being the host CPU per
# request of PID, the wasmtime serve process.
run() {
    [ -n "${ONLY:-}" ] && ! grep -qE "$ONLY" <<<"$1" && return 0
    measure "$2" "$3" "$4" "${5:-}"
    if [ -n "$ERRORS" ]; then
        echo "!! $1: errors during the run:" >&2
        echo "$ERRORS" >&2
    fi
    echo "$1 $RPS $CPU $round" >>"$TMP/results"
    printf '   %-38s %10s req/s %8s µs host CPU/request\n' "$1" "$RPS" "$CPU"
}

# serve NAME WASM POLICYDIR REUSE(-|n) URLPATH LUA ORIGIN
# (a POLICYDIR holding policy.bin is served from that compiled file; one
# holding policy.env passes its content as CORS_POLICY instead)
serve() {
    local url args=()
    [ -n "${ONLY:-}" ] && ! grep -qE "$ONLY" <<<"$1" && return 0
    [ "$4" != - ] && args=(--max-instance-reuse-count "$4")
    [ -f "$3/policy.bin" ] && args+=(--env CORS_POLICY_FILE=/policies/policy.bin)
    [ -f "$3/policy.env" ] && args+=(--env "CORS_POLICY=$(cat "$3/policy.env")")
    serve_wasm "$2" "$3" "${args[@]}"
    url="http://127.0.0.1:$SERVE_PORT$5"
    # Short warm-up (JIT is ahead of time, but the first connections are not).
    wrk -t1 -c"$CONNS" -d1s -s "$TMP/$6.lua" -H "Origin: $7" "$url" >/dev/null
    run "$1" "$url" "$6" "$7" "$SERVE_PID"
    kill "$SERVE_PID"
    wait "$SERVE_PID" 2>/dev/null || true
}

: >"$TMP/results"
for round in $(seq 1 "$ROUNDS"); do
    echo "== round $round/$ROUNDS (${DURATION}s each, $CONNS connections)"
    for reuse in - "$REUSE"; do
        tag=$([ "$reuse" = - ] && echo fresh || echo reuse)
        serve "preflight/hello-sdk/$tag" "$HELLO_SDK" "$TMP/p10" "$reuse" /api/orders preflight "$ORIGIN"
        serve "preflight/hello-bare/$tag" "$HELLO" "$TMP/p10" "$reuse" /api/orders preflight "$ORIGIN"
        serve "preflight/hello-file/$tag" "$HELLO_FILE" "$TMP/p10" "$reuse" /api/orders preflight "$ORIGIN"
        serve "preflight/gateway-10/$tag" "$GATEWAY" "$TMP/p10" "$reuse" /api/orders preflight "$ORIGIN"
        serve "preflight/gateway-10-env/$tag" "$GATEWAY" "$TMP/p10env" "$reuse" /api/orders preflight "$ORIGIN"
        serve "preflight/gateway-10k/$tag" "$GATEWAY" "$TMP/p10000" "$reuse" /api/orders preflight "$ORIGIN_10K"
        serve "preflight/gateway-10k-compiled/$tag" "$GATEWAY" "$TMP/p10000c" "$reuse" /api/orders preflight "$ORIGIN_10K"
        serve "forward/passthrough/$tag" "$PASS" "$TMP/p10" "$reuse" /api/orders get "$ORIGIN"
        serve "forward/gateway-10/$tag" "$GATEWAY" "$TMP/p10" "$reuse" /api/orders get "$ORIGIN"
        serve "forward/gateway-10-env/$tag" "$GATEWAY" "$TMP/p10env" "$reuse" /api/orders get "$ORIGIN"
    done
    run "forward/direct-upstream" "http://127.0.0.1:$UP_PORT/api/orders" get "$ORIGIN"
    if [ "$NGINX" = 1 ]; then
        run "preflight/nginx" "http://127.0.0.1:$NG_PORT/api/orders" preflight "$ORIGIN"
        run "forward/nginx" "http://127.0.0.1:$NG_PORT/api/orders" get "$ORIGIN"
    fi
done

echo
echo "== results: median requests/s over $ROUNDS rounds"
python3 - "$TMP/results" <<'EOF'
import statistics, sys
by_round, cpus = {}, {}
for line in open(sys.argv[1]):
    name, rps, cpu, rnd = line.split()
    by_round.setdefault(name, {})[rnd] = float(rps)
    if cpu != "-":
        cpus.setdefault(name, []).append(float(cpu))
med = {k: statistics.median(v.values()) for k, v in by_round.items()}
for k, runs in by_round.items():
    c = f"{statistics.median(cpus[k]):7.1f} µs host CPU/request" if k in cpus else ""
    print(f"  {k:38} {med[k]:10.0f}   (runs: {', '.join(f'{x:.0f}' for x in runs.values())}) {c}")
def ratio(a, b, target=None):
    if a in med and b in med:
        r = med[a] / med[b]
        # Per-round ratios: both ran minutes apart at most, so a host that
        # slows down during the run shows here as a wide range.
        per = sorted(by_round[a][k] / by_round[b][k] for k in by_round[a] if k in by_round[b])
        spread = f"[{per[0]:.2f}..{per[-1]:.2f}]" if len(per) > 1 else ""
        t = f"   target >= {target}x: {'met' if r >= target else 'NOT met'}" if target else ""
        print(f"  {a:38} / {b:34} = {r:5.2f}x {spread:12}{t}")
print("\n== ratios of the medians, [the range of the per-round ratios]")
for tag in ("fresh", "reuse"):
    ratio(f"preflight/gateway-10/{tag}", f"preflight/hello-sdk/{tag}", 0.9)
    ratio(f"preflight/gateway-10/{tag}", f"preflight/hello-bare/{tag}")
    ratio(f"preflight/gateway-10-env/{tag}", f"preflight/hello-sdk/{tag}")
    ratio(f"preflight/hello-sdk/{tag}", f"preflight/hello-bare/{tag}")
    ratio(f"preflight/hello-file/{tag}", f"preflight/hello-sdk/{tag}")
    ratio(f"preflight/gateway-10/{tag}", f"preflight/hello-file/{tag}")
    ratio(f"preflight/gateway-10k/{tag}", f"preflight/hello-sdk/{tag}")
    ratio(f"preflight/gateway-10k/{tag}", f"preflight/gateway-10/{tag}")
    ratio(f"preflight/gateway-10k-compiled/{tag}", f"preflight/gateway-10/{tag}", 0.5)
    ratio(f"forward/gateway-10/{tag}", f"forward/passthrough/{tag}", 0.9)
    ratio(f"forward/gateway-10-env/{tag}", f"forward/passthrough/{tag}")
    ratio(f"forward/gateway-10/{tag}", "forward/direct-upstream")
ratio("preflight/gateway-10/reuse", "preflight/nginx")
ratio("forward/gateway-10/reuse", "forward/nginx")
EOF

echo
echo "== .wasm sizes"
for f in "$GATEWAY" "$SPIN" "$HELLO_SDK" "$HELLO" "$PASS"; do
    printf '  %-52s %8d bytes (%d KiB)\n' "$f" "$(stat -c %s "$f")" "$(($(stat -c %s "$f") / 1024))"
done
size=$(stat -c %s "$GATEWAY")
echo "  portable gateway target < 400 KiB: $([ "$size" -lt $((400 * 1024)) ] && echo met || echo NOT met)"
echo "== machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM; wasmtime $(wasmtime --version | cut -d' ' -f2)"
