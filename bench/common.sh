# shellcheck shell=bash
# Shared by the benchmark scripts (sourced, not run): the benchmark
# environment, the benchmark policy, the wrk scripts, free ports, waiting for a
# server, and the interleaved rounds. Source it before starting any server.
# The variables it sets (SERVE_PID, RPS, ERRORS, CPU, ...) are read by those scripts.
# shellcheck disable=SC2034

# A shell with RUST_BACKTRACE=1 makes wasmtime capture a backtrace for an
# error it creates on every request (~10 µs each, floors included): measure
# the host as it runs in production.
unset RUST_BACKTRACE RUST_LIB_BACKTRACE

# bench_tmpdir: TMP, a fresh directory, and PIDS, the servers started in the
# background; the servers are stopped and TMP removed when the script exits.
bench_tmpdir() {
    TMP=$(mktemp -d)
    PIDS=()
    trap bench_cleanup EXIT
}
bench_cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$TMP"
}

# start_upstream: the built bench/upstream on a free port, UP_PORT.
start_upstream() {
    UP_PORT=$(free_port)
    target/release/bench-upstream "$UP_PORT" >/dev/null &
    PIDS+=($!)
    wait_http "$UP_PORT"
}

# The route timeout the gateway applies (the policy's default,
# DEFAULT_TIMEOUT_MS); the pass-through sets the same on its outbound call.
TIMEOUT_MS=30000

# serve_wasm WASM POLICYDIR [wasmtime serve options...]: `wasmtime serve` as
# every benchmark runs it (POLICYDIR at /policies; UPSTREAM and TIMEOUT_MS for
# the pass-through), on a free port, in the background; sets SERVE_PORT and
# SERVE_PID once it answers.
serve_wasm() {
    local wasm=$1 dir=$2
    shift 2
    SERVE_PORT=$(free_port)
    wasmtime serve -Scli --addr "127.0.0.1:$SERVE_PORT" --dir "$dir::/policies" \
        --env "UPSTREAM=127.0.0.1:$UP_PORT" --env "TIMEOUT_MS=$TIMEOUT_MS" "$@" "$wasm" \
        2>"$TMP/serve.log" &
    SERVE_PID=$!
    wait_http "$SERVE_PORT"
}

# measure URL LUA ORIGIN [PID]: one `wrk` run (one thread, CONNS connections,
# DURATION s, the request of $TMP/LUA.lua). Sets RPS; ERRORS, wrk's lines
# about non-2xx answers or socket errors (empty when none); and CPU, the µs of
# CPU process PID (the wasmtime serve process) spent per request, user +
# system from /proc over the run: the host's whole cost of one request,
# whatever CPU wrk took ("-" without PID).
measure() {
    local out t0 t1 n
    [ -n "${4:-}" ] && t0=$(awk '{print $14 + $15}' "/proc/$4/stat")
    out=$(wrk -t1 -c"$CONNS" -d"${DURATION}s" -s "$TMP/$2.lua" -H "Origin: $3" "$1")
    ERRORS=$(grep "Non-2xx\|Socket errors" <<<"$out" || true)
    RPS=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    CPU=-
    if [ -n "${4:-}" ]; then
        t1=$(awk '{print $14 + $15}' "/proc/$4/stat")
        n=$(awk '/requests in/ {print $1}' <<<"$out")
        CPU=$(python3 -c "print(round(($t1 - $t0) / $(getconf CLK_TCK) * 1e6 / $n, 1))")
    fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_http() { # port
    for _ in $(seq 1 300); do
        curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0
        sleep 0.1
    done
    echo "server on port $1 did not start" >&2
    return 1
}

# bench_policy N UPSTREAM_URL: the policy of N origins (9 in 10 exact, 1 in 10
# subdomain patterns, as core/benches/common does) with one route, /api/.
bench_policy() {
    python3 - "$1" "$2" <<'EOF'
import json, sys
n, upstream = int(sys.argv[1]), sys.argv[2]
origins = [f"https://*.tenant{i}.example.net" if i % 10 == 9 else f"https://app{i}.example.com" for i in range(n)]
print(json.dumps({"version": 1,
    "cors": {"allow_origins": origins, "allow_methods": ["GET", "POST", "PUT", "DELETE"],
             "allow_headers": ["content-type", "authorization", "x-trace-id"],
             "expose_headers": ["x-request-id"], "allow_credentials": True, "max_age_secs": 600},
    "routes": [{"name": "api", "path_prefix": "/api/", "upstream": upstream}]}))
EOF
}

# write_wrk_scripts DIR: DIR/preflight.lua (the preflight every benchmark
# sends) and DIR/get.lua.
write_wrk_scripts() {
    cat >"$1/preflight.lua" <<'EOF'
wrk.method = "OPTIONS"
wrk.headers["Access-Control-Request-Method"] = "POST"
wrk.headers["Access-Control-Request-Headers"] = "content-type,x-trace-id"
EOF
    cat >"$1/get.lua" <<'EOF'
wrk.method = "GET"
EOF
}

# preflight_setup: what the preflight-only benchmarks share: the wrk scripts,
# the 10-origin policy in $TMP/policies/policy.json (upstream port 9, never
# called), ten minutes old (a reused instance trusts an old file's stamp), its
# text in POLICY_JSON, and ORIGIN, an exact entry of it.
preflight_setup() {
    write_wrk_scripts "$TMP"
    mkdir -p "$TMP/policies"
    UP_PORT=9
    bench_policy 10 "http://127.0.0.1:$UP_PORT" >"$TMP/policies/policy.json"
    touch -d '-10 minutes' "$TMP/policies/policy.json"
    POLICY_JSON=$(cat "$TMP/policies/policy.json")
    ORIGIN="https://app0.example.com"
}

# spin_up DIR VAR [spin up options...]: `spin up` of DIR/spin.toml on a free
# port in the background, once it answers: PORT, PID, LOG (DIR/spin.log), and
# CPU_PID, the process whose CPU is the host's (`spin up` runs the app in a
# child, `spin trigger http`). VAR gives the variable cors_policy the value
# $POLICY_JSON: 1 through Spin's environment provider
# (SPIN_VARIABLE_CORS_POLICY), cli through its static provider (`spin up
# --variable`); empty leaves it at its default. Needs SPIN.
spin_up() {
    local dir=$1 var=$2
    shift 2
    PORT=$(free_port) LOG=$dir/spin.log
    if [ "$var" = 1 ]; then
        SPIN_VARIABLE_CORS_POLICY=$POLICY_JSON "$SPIN" up --from "$dir/spin.toml" \
            --listen "127.0.0.1:$PORT" "$@" >"$LOG" 2>&1 &
    elif [ "$var" = cli ]; then
        "$SPIN" up --from "$dir/spin.toml" --listen "127.0.0.1:$PORT" \
            --variable "cors_policy=$POLICY_JSON" "$@" >"$LOG" 2>&1 &
    else
        "$SPIN" up --from "$dir/spin.toml" --listen "127.0.0.1:$PORT" "$@" >"$LOG" 2>&1 &
    fi
    PID=$!
    wait_http "$PORT" || { cat "$LOG" >&2; exit 1; }
    CPU_PID=$(pgrep -P "$PID" | head -n 1 || true)
    CPU_PID=${CPU_PID:-$PID}
}

# check_configs NAME...: before measuring, one preflight to each configuration:
# the caller's `serve NAME` starts it (setting URL and LOG), `stop` stops it,
# `expect_code NAME` prints the status it must answer, and `check_info NAME`
# (optional) prints what to show beside it. A wrong status ends the benchmark
# with the configuration's log.
check_configs() {
    local name code want info
    echo "== checking each configuration"
    for name in "$@"; do
        serve "$name"
        code=$(curl -s -o /dev/null -w '%{http_code}' -X OPTIONS "$URL" \
            -H "Origin: $ORIGIN" -H 'Access-Control-Request-Method: POST' \
            -H 'Access-Control-Request-Headers: content-type,x-trace-id')
        info=
        declare -F check_info >/dev/null && info=$(check_info "$name" || true)
        printf '   %-28s preflight %s  %s\n' "$name" "$code" "$info"
        stop
        want=$(expect_code "$name")
        if [ "$code" != "$want" ]; then
            echo "!! $name does not answer the preflight $want; its log:" >&2
            cat "$LOG" >&2 || true
            exit 1
        fi
    done
}

# run_rounds LUA WIDTH NAME...: ROUNDS interleaved rounds of the request
# $TMP/LUA.lua on each configuration: `serve NAME` (setting URL, and CPU_PID,
# the process whose CPU is the host's), a 1 s warm-up, one `measure`, `stop`.
# `after_run NAME` (optional) prints a note for the line. Errors during a run
# end the benchmark (a broken component is not a fast one). Writes
# $TMP/results (`round index req/s cpu`) for `summarize`.
run_rounds() {
    local lua=$1 width=$2 round i name after
    shift 2
    : >"$TMP/results"
    for round in $(seq 1 "$ROUNDS"); do
        echo "== round $round/$ROUNDS (${DURATION}s each, $CONNS connections; load average $(cut -d' ' -f1-3 /proc/loadavg))"
        i=0
        for name in "$@"; do
            serve "$name"
            wrk -t1 -c"$CONNS" -d1s -s "$TMP/$lua.lua" -H "Origin: $ORIGIN" "$URL" >/dev/null
            measure "$URL" "$lua" "$ORIGIN" "$CPU_PID"
            after=
            declare -F after_run >/dev/null && after=$(after_run "$name" || true)
            stop
            if [ -n "$ERRORS" ]; then
                echo "!! $name: errors during the run (a broken component is not a fast one):" >&2
                echo "$ERRORS" >&2
                exit 1
            fi
            echo "$round $i $RPS $CPU" >>"$TMP/results"
            printf '   %-*.*s %10s req/s %8s µs CPU/req  %s\n' "$width" "$width" "$name" "$RPS" "$CPU" "$after"
            i=$((i + 1))
        done
    done
}

# summarize RESULTS TITLE WIDTH DIGITS NAME...: the medians of RESULTS (lines
# `round index req/s cpu`) per component, and each one's per-round ratio to the
# first component: median [min..max], DIGITS decimals, names cut at WIDTH.
summarize() {
    python3 - "$@" <<'EOF'
import statistics, sys
path, title, width, digits = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
names = sys.argv[5:]
rps, cpu = {}, {}
for line in open(path):
    r, i, v, c = line.split()
    rps.setdefault(int(i), {})[int(r)] = float(v)
    cpu.setdefault(int(i), {})[int(r)] = float(c)
print(f"\n== {title}, medians over {len(rps[0])} rounds; ratio to the first per round: median [min..max]")
for i, name in enumerate(names):
    ratios = sorted(rps[i][r] / rps[0][r] for r in rps[0])
    name = name if len(name) <= width else name[:width - 3] + "..."
    print(f"  {name:{width}} {statistics.median(rps[i].values()):9.0f} req/s {statistics.median(cpu[i].values()):7.1f} µs CPU/req"
          f"   {statistics.median(ratios):5.{digits}f}x [{ratios[0]:.{digits}f}..{ratios[-1]:.{digits}f}]")
EOF
}
