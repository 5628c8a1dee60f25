#!/usr/bin/env bash
# Is a WASI 0.3 build worth a second artifact? Preflights per second of the
# WASI 0.2 gateway against the P3 probe (bench/gateway-p3: the same answers,
# the policy parsed once per instance, which hosts reuse for P3 components),
# each next to its own hello-world floor, interleaved, on `wasmtime serve`
# and on a real `spin up`.
#
#   bench/p3.sh                        # DURATION=5 s per run, ROUNDS=3, CONNS=8
#   SPIN=/path/to/spin bench/p3.sh     # a spin that is not on PATH
#   ONLY='^spin/' bench/p3.sh          # only the configurations whose name matches (grep -E)
#   HOSTS=wasmtime bench/p3.sh         # one host only (wasmtime, spin; default both)
#
# Each host runs only where its tool exists (wasmtime: scripts/setup.sh; spin:
# on PATH or SPIN=...); the script says which it skipped. Needs cargo (with the
# wasm32-wasip2 target), wrk, python3 and curl. Configurations (the 10-origin
# policy of bench/common.sh, in CORS_POLICY unless said otherwise):
#   */gateway-p2         the portable build (cors-gateway), a fresh instance per request
#   */cors-gateway-p3    the gateway's WASI 0.3 build (--features p3), host defaults
#   */gateway-p3         bench/gateway-p3, host defaults (reuse 128, 16 concurrent, idle 1 s)
#   */gateway-p3-fresh   the same with --max-instance-reuse-count 1: P3 without reuse
#   */hello-sdk          bench/hello-sdk, the 0.2 floor (spin-sdk 5)
#   */hello-p3           bench/hello-p3, the 0.3 floor (spin-sdk 7)
#   */bare-p2            bench/hello, the bare 0.2 floor (a fixed 204, nothing read)
#   */bare-p3            the probe with PROBE_BARE=1, the bare 0.3 floor (the same)
#   wasmtime/gateway-p2-reuse  the portable build with --max-instance-reuse-count 128
#                        (wasmtime serve can reuse 0.2 instances; Spin cannot)
#   spin/gateway-p2-var  the gateway's Spin build (--features spin), the policy in the
#                        Spin variable cors_policy (one variables.get per request)
#   spin/gateway-p3-var  the probe's Spin build (--features spin) with the policy in
#                        the Spin variable cors_policy (CORS_POLICY_FROM_VARIABLE=1:
#                        read at most once a second per instance)
# Before measuring, the probe and the gateway must answer every row of the
# decision table that the gateway answers itself alike (tests/cases/decisions.json,
# on each host), each configuration must answer the preflight (204; the
# floors 200), and each P3 one is sent 400 preflights (8 at a time) whose
# x-probe-instance headers say how many instances served them and how many
# times the policy was parsed (and the variable read). Ratios printed: the
# median over rounds of the per-round ratio, [min..max].
set -euo pipefail
export PATH="$HOME/.cargo/bin:$PATH"
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-8}
HOSTS=${HOSTS:-wasmtime spin}
for tool in cargo wrk python3 curl; do
    command -v "$tool" >/dev/null || { echo "SETUP: $tool not found (wrk: apt-get install wrk; cargo: rustup)" >&2; exit 1; }
done
SPIN=${SPIN:-$(command -v spin || true)}
run_wasmtime=0 run_spin=0
if [[ " $HOSTS " == *" wasmtime "* ]]; then
    if command -v wasmtime >/dev/null; then
        run_wasmtime=1
        echo "== $(wasmtime --version)"
    else
        echo "bench/p3.sh: wasmtime not found (scripts/setup.sh installs it): the wasmtime serve figures are skipped." >&2
    fi
fi
if [[ " $HOSTS " == *" spin "* ]]; then
    if [ -n "$SPIN" ] && [ -x "$SPIN" ]; then
        run_spin=1
        echo "== $("$SPIN" --version)"
    else
        echo "bench/p3.sh: the Spin CLI was not found (put spin on PATH or set SPIN=/path/to/spin): the spin up figures are skipped." >&2
    fi
fi
if [ $run_wasmtime = 0 ] && [ $run_spin = 0 ]; then
    echo "bench/p3.sh: neither wasmtime nor spin is available: nothing was measured." >&2
    exit 2
fi
echo "== machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

. bench/common.sh
bench_tmpdir
preflight_setup
URL_PATH=/api/orders

# One cargo invocation per component: built together, cargo would unify the
# P3 crates' (host-side) features into the gateway's build and change its bytes.
echo "== building (release, wasm32-wasip2; one cargo invocation each)"
W=$PWD/target/wasm32-wasip2/release
for p in cors-gateway bench-hello bench-hello-sdk bench-gateway-p3 bench-hello-p3; do
    cargo build -q --locked --release --target wasm32-wasip2 -p "$p"
done
# The Spin builds (they import spin:*): the probe with its variable source,
# the gateway with its Spin sources (no policy embedded: the variable is read).
cargo build -q --locked --release --target wasm32-wasip2 -p bench-gateway-p3 --features spin --target-dir target/spin
CORS_GATEWAY_POLICY='' cargo build -q --locked --release --target wasm32-wasip2 -p cors-gateway --features spin --target-dir target/spin
# The gateway's own WASI 0.3 build (feature p3): the artifact, beside the probe.
cargo build -q --locked --release --target wasm32-wasip2 -p cors-gateway --features p3 --target-dir target/p3
GWP3=$PWD/target/p3/wasm32-wasip2/release/cors_gateway.wasm
GW2=$W/cors_gateway.wasm GW3=$W/bench_gateway_p3.wasm HELLO2=$W/bench_hello_sdk.wasm HELLO3=$W/bench_hello_p3.wasm
BARE2=$W/bench_hello.wasm
GW3S=$PWD/target/spin/wasm32-wasip2/release/bench_gateway_p3.wasm
GW2S=$PWD/target/spin/wasm32-wasip2/release/cors_gateway.wasm
for f in "$GW2" "$GW2S" "$GWP3" "$GW3" "$GW3S" "$HELLO2" "$HELLO3" "$BARE2"; do printf '   %8s B  %s\n' "$(stat -c %s "$f")" "${f#"$PWD"/}"; done

# Configurations: NAME -> host, wasm, the status the preflight must get, and
# the arguments of `start`.
NAMES=()
declare -A CONF
config() {
    local name=$1
    shift
    [ -n "${ONLY:-}" ] && ! grep -qE "$ONLY" <<<"$name" && return 0
    NAMES+=("$name")
    CONF[$name]=$(printf '%s\x1f' "$@")
}
if [ $run_wasmtime = 1 ]; then
    config wasmtime/gateway-p2 wasmtime "$GW2" 204 --env "CORS_POLICY=$POLICY_JSON"
    config wasmtime/gateway-p2-reuse wasmtime "$GW2" 204 --env "CORS_POLICY=$POLICY_JSON" --max-instance-reuse-count 128
    config wasmtime/gateway-p3 wasmtime "$GW3" 204 --env "CORS_POLICY=$POLICY_JSON"
    config wasmtime/cors-gateway-p3 wasmtime "$GWP3" 204 --env "CORS_POLICY=$POLICY_JSON"
    config wasmtime/gateway-p3-fresh wasmtime "$GW3" 204 --env "CORS_POLICY=$POLICY_JSON" --max-instance-reuse-count 1
    config wasmtime/hello-sdk wasmtime "$HELLO2" 200
    config wasmtime/hello-p3 wasmtime "$HELLO3" 200
    config wasmtime/bare-p2 wasmtime "$BARE2" 204
    config wasmtime/bare-p3 wasmtime "$GW3" 204 --env PROBE_BARE=1
fi
if [ $run_spin = 1 ]; then
    config spin/gateway-p2 spin "$GW2" 204 "env:CORS_POLICY=$POLICY_JSON"
    config spin/gateway-p2-var spin "$GW2S" 204 env:CORS_POLICY_VARIABLE=cors_policy var
    config spin/gateway-p3 spin "$GW3" 204 "env:CORS_POLICY=$POLICY_JSON"
    config spin/cors-gateway-p3 spin "$GWP3" 204 "env:CORS_POLICY=$POLICY_JSON"
    config spin/gateway-p3-var spin "$GW3S" 204 env:CORS_POLICY_FROM_VARIABLE=1 var
    config spin/gateway-p3-fresh spin "$GW3" 204 "env:CORS_POLICY=$POLICY_JSON" --max-instance-reuse-count 1
    config spin/hello-sdk spin "$HELLO2" 200
    config spin/hello-p3 spin "$HELLO3" 200
    config spin/bare-p2 spin "$BARE2" 204
    config spin/bare-p3 spin "$GW3" 204 env:PROBE_BARE=1
fi
[ ${#NAMES[@]} -gt 0 ] || { echo "bench/p3.sh: ONLY=$ONLY matches no configuration" >&2; exit 2; }

# spin_toml DIR WASM ENV...: DIR/spin.toml, one component on /... (as
# bench/spin.sh writes them), ENV entries K=V for `environment`.
spin_toml() {
    python3 - "$@" <<'EOF'
import json, sys
d, wasm, envs = sys.argv[1], sys.argv[2], sys.argv[3:]
env = ", ".join(f"{k} = {json.dumps(v)}" for k, v in (e.split("=", 1) for e in envs))
open(f"{d}/spin.toml", "w").write(f"""spin_manifest_version = 2
[application]
name = "bench-p3"
[variables]
cors_policy = {{ default = "" }}
cors_admin_token = {{ default = "", secret = true }}
[[trigger.http]]
route = "/..."
component = "c"
[component.c]
source = {json.dumps(wasm)}
{"environment = { " + env + " }" if env else ""}
[component.c.variables]
cors_policy = "{{{{ cors_policy }}}}"
cors_admin_token = "{{{{ cors_admin_token }}}}"
""")
EOF
}

# start HOST WASM ARGS...: that component on HOST (wasmtime, spin) in the
# background, once it answers: PORT, PID, LOG, and CPU_PID, the process whose
# CPU time is the host's. ARGS: wasmtime serve options;
# for spin, env:K=V for `environment`, var (the variable cors_policy holds the
# benchmark policy) and `spin up` (trigger) options.
APPS=0
start() {
    local host=$1 wasm=$2 envs=() opts=() var=0 dir a
    shift 2
    if [ "$host" = wasmtime ]; then
        serve_wasm "$wasm" "$TMP/policies" "$@"
        PORT=$SERVE_PORT PID=$SERVE_PID LOG=$TMP/serve.log CPU_PID=$SERVE_PID
        return
    fi
    for a in "$@"; do
        case $a in
            env:*) envs+=("${a#env:}") ;;
            var) var=1 ;;
            *) opts+=("$a") ;;
        esac
    done
    APPS=$((APPS + 1))
    dir="$TMP/apps/$APPS"
    mkdir -p "$dir"
    spin_toml "$dir" "$wasm" "${envs[@]}"
    spin_up "$dir" "$var" "${opts[@]}"
}
# serve NAME: start that configuration.
serve() {
    local f
    IFS=$'\x1f' read -r -a f <<<"${CONF[$1]}"
    start "${f[0]}" "${f[1]}" "${f[@]:3}"
    URL="http://127.0.0.1:$PORT$URL_PATH"
}
stop() {
    kill "$PID"
    wait "$PID" 2>/dev/null || true
}

# Does the probe answer as the gateway? Every row of the decision table
# (tests/cases/decisions.json) that the gateway answers itself (not
# forwarded) is sent to both, on each host: status, every header but
# x-request-id, x-probe-instance and date, and the body must be equal. On
# wasmtime serve a P3 guest is given no authority and no Host header (hyper's
# URI has none for an origin-form request, and Host is a forbidden header),
# so there the rows that send a Host are reported, not failed.
python3 - tests/cases/decisions.json >"$TMP/table-policies" <<'EOF'
import json, sys
t = json.load(open(sys.argv[1]))
for name, doc in t["policies"].items():
    print(name, json.dumps(doc).replace("{{UPSTREAM}}", "http://127.0.0.1:9"))
EOF
table_check() {
    local host=$1 pname pjson p2 pid2 arg
    echo "== the probe against the gateway on $host: the decision table's rows the gateway answers itself"
    while read -r pname pjson; do
        if [ "$host" = spin ]; then arg=("env:CORS_POLICY=$pjson"); else arg=(--env "CORS_POLICY=$pjson"); fi
        start "$host" "$GW2" "${arg[@]}"
        p2=$PORT pid2=$PID
        start "$host" "$GW3" "${arg[@]}"
        python3 - tests/cases/decisions.json "$pname" "$p2" "$PORT" "$host" <<'EOF' || { kill "$pid2" "$PID"; exit 1; }
import http.client, json, sys
t = json.load(open(sys.argv[1]))
pname, p2, p3, host = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
def ask(port, c):
    h = http.client.HTTPConnection("127.0.0.1", port)
    names = [n.lower() for n, _ in c["headers"]]
    h.putrequest(c["method"], c["path"], skip_host="host" in names, skip_accept_encoding=True)
    for n, v in c["headers"]:
        h.putheader(n, v)
    h.endheaders()
    r = h.getresponse()
    body = r.read()
    heads = [(n.lower(), v) for n, v in r.getheaders() if n.lower() not in ("x-request-id", "x-probe-instance", "date")]
    return r.status, heads, body
rows = [c for c in t["cases"] if c["policy"] == pname and c["status"] != "forward" and not c.get("transparent")]
bad = known = 0
for c in rows:
    a, b = ask(p2, c), ask(p3, c)
    if a != b:
        if host == "wasmtime" and any(n.lower() == "host" for n, _ in c["headers"]):
            known += 1
            print(f"   (host) {c['name']}: gateway {a[0]}, probe {b[0]} (wasmtime serve gives a P3 guest no Host)")
        else:
            bad += 1
            print(f"   !! {c['name']}:\n      gateway {a}\n      probe   {b}")
print(f"   policy {pname}: {len(rows)} rows, {len(rows) - bad - known} answered alike"
      + (f", {known} differ by the host's Host handling" if known else ""))
sys.exit(1 if bad else 0)
EOF
        kill "$pid2" "$PID"
        wait "$pid2" "$PID" 2>/dev/null || true
    done <"$TMP/table-policies"
}
if [ $run_wasmtime = 1 ]; then table_check wasmtime; fi
if [ $run_spin = 1 ]; then table_check spin; fi

# reuse PORT N: N preflights, 8 at a time; from their x-probe-instance
# headers, how many instances served them and what each did.
reuse() {
    python3 - "$1" "$2" "$ORIGIN" "$URL_PATH" <<'EOF'
import http.client, re, statistics, sys, threading
port, n, origin, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
seen, lock, codes = {}, threading.Lock(), {}
def worker(k):
    c = http.client.HTTPConnection("127.0.0.1", port)
    for _ in range(k):
        c.request("OPTIONS", path, headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                                            "Access-Control-Request-Headers": "content-type,x-trace-id"})
        r = c.getresponse(); r.read()
        m = re.match(r"(\S+) served=(\d+) parses=(\d+) reads=(\d+)", r.getheader("x-probe-instance", ""))
        with lock:
            codes[r.status] = codes.get(r.status, 0) + 1
            if m:
                i, s, p, rd = m.group(1), *map(int, m.groups()[1:])
                o = seen.get(i, (0, 0, 0))
                seen[i] = (max(o[0], s), max(o[1], p), max(o[2], rd))
ts = [threading.Thread(target=worker, args=(n // 8,)) for _ in range(8)]
[t.start() for t in ts]; [t.join() for t in ts]
served = [v[0] for v in seen.values()] or [0]
print(f"{n // 8 * 8} preflights ({' '.join(f'{k}x{v}' for k, v in sorted(codes.items()))}): "
      f"{len(seen)} instances, requests per instance median {statistics.median(served):.0f} max {max(served)}, "
      f"policy parses {sum(v[1] for v in seen.values())}, variable reads {sum(v[2] for v in seen.values())}")
EOF
}

# The check before measuring: each configuration's preflight status, and for
# the probe how its instances were reused; after each measured run, the
# probe's next instance.
expect_code() {
    local f
    IFS=$'\x1f' read -r -a f <<<"${CONF[$1]}"
    echo "${f[2]}"
}
check_info() { [[ "$1" != */gateway-p3* ]] || reuse "$PORT" 400; }
after_run() {
    [[ "$1" != */gateway-p3* ]] || curl -s -D - -o /dev/null -X OPTIONS "$URL" -H "Origin: $ORIGIN" \
        -H 'Access-Control-Request-Method: POST' | tr -d '\r' | sed -n 's/^x-probe-instance: /next instance: /p'
}
check_configs "${NAMES[@]}"
run_rounds preflight 26 "${NAMES[@]}"

summarize "$TMP/results" "preflights/s, ratio to ${NAMES[0]}" 26 2 "${NAMES[@]}"
# The ratios the question is about, per host, each pair measured in the same rounds.
python3 - "$TMP/results" "${NAMES[@]}" <<'EOF'
import statistics, sys
names = sys.argv[2:]
rps = {}
for line in open(sys.argv[1]):
    r, i, v, _ = line.split()
    rps.setdefault(names[int(i)], {})[int(r)] = float(v)
pairs = [("cors-gateway-p3", "gateway-p2"), ("cors-gateway-p3", "hello-p3"), ("cors-gateway-p3", "gateway-p3"),
         ("gateway-p3", "gateway-p2"), ("gateway-p3-var", "gateway-p2-var"), ("gateway-p2-var", "gateway-p2"), ("gateway-p3-fresh", "gateway-p2"),
         ("gateway-p2-reuse", "gateway-p2"), ("gateway-p3", "gateway-p2-reuse"), ("hello-p3", "hello-sdk"),
         ("gateway-p2", "hello-sdk"), ("gateway-p3", "hello-p3"), ("gateway-p3-var", "hello-p3"),
         ("gateway-p3", "hello-sdk"), ("bare-p3", "bare-p2"), ("gateway-p2", "bare-p2"),
         ("gateway-p3", "bare-p3")]
print("\n== ratios, per round: median [min..max]")
for host in ("wasmtime", "spin"):
    for a, b in pairs:
        a, b = f"{host}/{a}", f"{host}/{b}"
        if a in rps and b in rps:
            q = sorted(rps[a][r] / rps[b][r] for r in rps[a])
            print(f"  {a:26} / {b:22} {statistics.median(q):5.2f}x [{q[0]:.2f}..{q[-1]:.2f}]")
EOF
echo "== load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
