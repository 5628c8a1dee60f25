#!/usr/bin/env bash
# Preflights per second on a real `spin up`, every policy source against
# Spin's SDK hello-world, interleaved (Spin gives WASI 0.2 components a fresh
# instance per request, so this is what each source costs a request).
#
#   bench/spin.sh                      # DURATION=5 s per run, ROUNDS=3, CONNS=8
#   SPIN=/path/to/spin bench/spin.sh   # a spin that is not on PATH
#   BASE=v0.1.0 bench/spin.sh          # also a git revision's builds, same run
#   ONLY='variable' bench/spin.sh      # only the configurations whose name matches (grep -E)
#
# Needs the Spin CLI (`spin`, on PATH or SPIN=...), wrk, python3 and curl; it is
# not part of scripts/test.sh. Configurations (each a spin.toml of its own
# in a temporary directory, the 10-origin policy of bench/common.sh):
#   hello-sdk              bench/hello-sdk, the baseline (ratios are to it)
#   portable/env           portable build, the policy in CORS_POLICY (`environment`)
#   portable/file          portable build, the policy file mounted (`files`)
#   spin/shipped           Spin build configured as this repository's spin.toml
#                          is: the policy embedded at build time, both live
#                          sources off
#   spin/kv                the policy in the key-value store (CORS_POLICY_KV_STORE=default),
#                          Spin's default store (SQLite)
#   spin/kv-redis          the same store backed by a local Redis (runtime config
#                          type = "redis"); only where redis-server is installed
#   spin/variable          the policy in the variable cors_policy
#                          (CORS_POLICY_VARIABLE=cors_policy), store declared but not named
#   spin/variable-cli      the same, the value given with `spin up --variable`
#                          (Spin's static provider) instead of SPIN_VARIABLE_CORS_POLICY
#                          (its environment provider, which the others use)
#   spin/variable-kv       the same with the key-value source on (the store empty)
#   spin/variable-nokv     the variable, no store declared
#   spin-p3/...            the WASI 0.3 Spin build (--features spin,p3), whose
#                          instances Spin 4 reuses: shipped, kv, kv-redis,
#                          variable and variable-cli as above
# With BASE, base/... are the same configurations for that revision's build
# (a git worktree under the temporary directory), configured as that
# revision's spin.toml was: base/spin/shipped is then whatever it shipped.
set -euo pipefail
export PATH="$HOME/.cargo/bin:$PATH"
cd "$(dirname "$0")/.."

SPIN=${SPIN:-$(command -v spin || true)}
if [ -z "$SPIN" ] || [ ! -x "$SPIN" ]; then
    echo "bench/spin.sh: the Spin CLI was not found: put spin on PATH or set SPIN=/path/to/spin." >&2
    echo "  (Nothing was measured. This benchmark runs only against a real Spin; CI uses spin-test-host.)" >&2
    exit 2
fi
for tool in wrk python3 curl; do
    command -v "$tool" >/dev/null || { echo "SETUP: $tool not found (apt-get install $tool)" >&2; exit 1; }
done
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-8}
echo "== $("$SPIN" --version)"

. bench/common.sh
bench_tmpdir
preflight_setup

# build DIR OUT: the portable and Spin builds of the tree at DIR, the Spin
# build with the benchmark policy embedded (as spin.toml's build command
# embeds policies/policy.json) when that tree supports it.
build() {
    local dir=$1 out=$2
    mkdir -p "$out"
    (cd "$dir" && cargo build -q --release --target wasm32-wasip2 -p cors-gateway --target-dir "$out/t-portable")
    (cd "$dir" && CORS_GATEWAY_POLICY="$TMP/policies/policy.json" \
        cargo build -q --release --target wasm32-wasip2 -p cors-gateway --features spin --target-dir "$out/t-spin")
    cp "$out/t-portable/wasm32-wasip2/release/cors_gateway.wasm" "$out/portable.wasm"
    cp "$out/t-spin/wasm32-wasip2/release/cors_gateway.wasm" "$out/spin.wasm"
    # The WASI 0.3 Spin build, where the tree has one (it fails to build where not).
    if (cd "$dir" && CORS_GATEWAY_POLICY="$TMP/policies/policy.json" \
        cargo build -q --release --target wasm32-wasip2 -p cors-gateway --features spin,p3 --target-dir "$out/t-spin-p3" 2>/dev/null); then
        cp "$out/t-spin-p3/wasm32-wasip2/release/cors_gateway.wasm" "$out/spin-p3.wasm"
    fi
    # Does this tree embed a policy (build.rs)? Its spin.toml says how it ships.
    if [ -f "$dir/build.rs" ] && grep -q CORS_GATEWAY_POLICY "$dir/build.rs"; then
        echo embedded >"$out/ships"
    else
        echo file >"$out/ships"
    fi
}
echo "== building"
cargo build -q --locked --release --target wasm32-wasip2 -p bench-hello-sdk
HELLO=$PWD/target/wasm32-wasip2/release/bench_hello_sdk.wasm
build "$PWD" "$TMP/new"
if [ -n "${BASE:-}" ]; then
    git worktree add -q --detach "$TMP/base-src" "$BASE"
    trap 'git worktree remove --force "$TMP/base-src" 2>/dev/null || true; bench_cleanup' EXIT
    build "$TMP/base-src" "$TMP/base"
fi
for f in "$TMP"/new/*.wasm "$TMP"/base/*.wasm; do [ -f "$f" ] && echo "   $(stat -c %s "$f") B  ${f#"$TMP"/}"; done

NAMES=()
# config NAME WASM STORES(yes|no) FILES(yes|no) ENV...: writes $TMP/apps/NAME/spin.toml.
# ENV entries are K=V for `environment`; VAR=1 sets the variable's value
# through Spin's environment provider, VAR=cli with `spin up --variable`,
# REDIS=1 backs the default store with $REDIS_URL, KV=1 stores the policy in
# the default store (spin up --key-value).
config() {
    local name=$1 wasm=$2 stores=$3 files=$4
    shift 4
    [ -n "${ONLY:-}" ] && ! grep -qE "$ONLY" <<<"$name" && return 0
    local dir="$TMP/apps/${name//\//_}" envs=() kv="" var="" redis=""
    mkdir -p "$dir"
    [ "$files" = yes ] && cp -rp "$TMP/policies" "$dir/policies"
    for e in "$@"; do
        case $e in
            VAR=1) var=1 ;;
            VAR=cli) var=cli ;;
            REDIS=1) redis=1 ;;
            KV=1) kv=1 ;;
            *) envs+=("$e") ;;
        esac
    done
    {
        echo 'spin_manifest_version = 2'
        echo '[application]'
        echo "name = \"bench-${name//\//-}\""
        echo '[variables]'
        echo 'cors_policy = { default = "" }'
        echo 'cors_admin_token = { default = "", secret = true }'
        echo '[[trigger.http]]'
        echo 'route = "/..."'
        echo 'component = "c"'
        echo '[component.c]'
        echo "source = \"$wasm\""
        echo "allowed_outbound_hosts = [\"http://127.0.0.1:$UP_PORT\"]"
        # Spin maps only files inside the application directory.
        [ "$files" = yes ] && echo 'files = [{ source = "policies", destination = "/policies" }]'
        [ "$stores" = yes ] && echo 'key_value_stores = ["default"]'
        if [ ${#envs[@]} -gt 0 ]; then
            echo 'environment = {'
            local first=1
            for e in "${envs[@]}"; do
                [ $first = 1 ] || echo ','
                first=0
                python3 -c 'import json,sys; k,v=sys.argv[1].split("=",1); print(k, "=", json.dumps(v))' "$e"
            done
            echo '}'
        fi
        echo '[component.c.variables]'
        echo 'cors_policy = "{{ cors_policy }}"'
        echo 'cors_admin_token = "{{ cors_admin_token }}"'
    } >"$dir/spin.toml"
    # TOML inline tables are one line: join the environment entries.
    python3 - "$dir/spin.toml" <<'EOF'
import re, sys
p = sys.argv[1]; s = open(p).read()
s = re.sub(r"environment = \{\n(.*?)\n\}", lambda m: "environment = { " + m.group(1).replace("\n,\n", ", ") + " }", s, flags=re.S)
open(p, "w").write(s)
EOF
    : >"$dir/runtime-config.toml"
    [ -n "$redis" ] && printf '[key_value_store.default]\ntype = "redis"\nurl = "%s"\n' "$REDIS_URL" >"$dir/runtime-config.toml"
    echo "$var" >"$dir/var"
    echo "$kv" >"$dir/kv"
    NAMES+=("$name")
}

# configs PREFIX DIR: the gateway's configurations for the builds in DIR.
configs() {
    local p=$1 d=$2
    config "${p}portable/env" "$d/portable.wasm" no no "CORS_POLICY=$POLICY_JSON"
    config "${p}portable/file" "$d/portable.wasm" no yes
    if [ "$(cat "$d/ships")" = embedded ]; then
        # spin.toml as shipped: the policy built in, no files, no store named.
        config "${p}spin/shipped" "$d/spin.wasm" no no
        config "${p}spin/kv" "$d/spin.wasm" yes no CORS_POLICY_KV_STORE=default KV=1
        [ -n "$REDIS_URL" ] && config "${p}spin/kv-redis" "$d/spin.wasm" yes no CORS_POLICY_KV_STORE=default KV=1 REDIS=1
        config "${p}spin/variable" "$d/spin.wasm" yes no CORS_POLICY_VARIABLE=cors_policy VAR=1
        config "${p}spin/variable-cli" "$d/spin.wasm" yes no CORS_POLICY_VARIABLE=cors_policy VAR=cli
        config "${p}spin/variable-kv" "$d/spin.wasm" yes no CORS_POLICY_KV_STORE=default CORS_POLICY_VARIABLE=cors_policy VAR=1
    else
        # A tree without a built-in policy: its spin.toml declared the store
        # (read on every request) and mounted the file.
        config "${p}spin/shipped" "$d/spin.wasm" yes yes
        config "${p}spin/kv" "$d/spin.wasm" yes yes KV=1
        config "${p}spin/variable" "$d/spin.wasm" yes yes VAR=1
    fi
    config "${p}spin/variable-nokv" "$d/spin.wasm" no yes CORS_POLICY_VARIABLE=cors_policy VAR=1
    if [ -f "$d/spin-p3.wasm" ]; then
        config "${p}spin-p3/shipped" "$d/spin-p3.wasm" no no
        config "${p}spin-p3/kv" "$d/spin-p3.wasm" yes no CORS_POLICY_KV_STORE=default KV=1
        [ -n "$REDIS_URL" ] && config "${p}spin-p3/kv-redis" "$d/spin-p3.wasm" yes no CORS_POLICY_KV_STORE=default KV=1 REDIS=1
        config "${p}spin-p3/variable" "$d/spin-p3.wasm" yes no CORS_POLICY_VARIABLE=cors_policy VAR=1
        config "${p}spin-p3/variable-cli" "$d/spin-p3.wasm" yes no CORS_POLICY_VARIABLE=cors_policy VAR=cli
    fi
}
# A local Redis for spin/kv-redis, one database per run.
REDIS_URL=""
if command -v redis-server >/dev/null; then
    REDIS_PORT=$(free_port)
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >"$TMP/redis.log" 2>&1 &
    PIDS+=($!) # bench_cleanup stops it
    REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
else
    echo "== spin/kv-redis is not measured: redis-server not found (apt-get install redis-server)"
fi
config hello-sdk "$HELLO" no no
configs "" "$TMP/new"
[ -n "${BASE:-}" ] && configs "base/" "$TMP/base"

# serve NAME: `spin up` of that configuration (see spin_up), and its URL.
serve() {
    local dir="$TMP/apps/${1//\//_}" args=()
    [ "$(cat "$dir/kv")" = 1 ] && args+=(--key-value "cors-gateway/policy=$POLICY_JSON")
    [ -s "$dir/runtime-config.toml" ] && args+=(--runtime-config-file "$dir/runtime-config.toml")
    spin_up "$dir" "$(cat "$dir/var")" "${args[@]}"
    URL="http://127.0.0.1:$PORT/api/orders"
}
stop() {
    kill "$PID"
    wait "$PID" 2>/dev/null || true
}
# The check before measuring: every gateway configuration answers the
# preflight 204 from the policy source it is meant to use (health says which).
expect_code() { if [ "$1" = hello-sdk ]; then echo 200; else echo 204; fi; }
check_info() {
    [ "$1" = hello-sdk ] && return 0
    curl -s "${URL%/api/orders}/.well-known/cors-gateway/health" |
        python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["policy"]["source"] if j.get("policy") else j.get("error"), " ".join("%s=%s/%sus" % (s["source"], s["outcome"], s["us"]) for s in j.get("sources", [])))' 2>/dev/null || echo "?"
}
check_configs "${NAMES[@]}"
run_rounds preflight 28 "${NAMES[@]}"

summarize "$TMP/results" "preflights/s on spin up" 28 2 "${NAMES[@]}"
