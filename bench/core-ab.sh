#!/usr/bin/env bash
# Before and after in one run: the core's criterion benchmarks and the
# component's .wasm sizes, for a git revision against the working tree.
#
#   bench/core-ab.sh BASE                     # decision and policy_load
#   bench/core-ab.sh BASE decision 'origins=10/'   # one bench, a criterion filter
#   MEASURE=5 bench/core-ab.sh BASE           # seconds per benchmark (default 2)
#
# BASE is checked out in a git worktree under a temporary directory and built
# there with its own target directory. Each bench runs on BASE, then on the
# working tree, then on BASE and the working tree again (criterion baselines
# `before` and `after`, one CRITERION_HOME per bench), so a drift of the machine
# shows as a difference between the two passes; the table gives each
# benchmark's median per pass and the ratio after/before of the second pass.
# Needs cargo and python3; not part of scripts/test.sh.
set -euo pipefail
export PATH="$HOME/.cargo/bin:$PATH"
cd "$(dirname "$0")/.."

[ $# -ge 1 ] || { sed -n '2,15p' "$0" >&2; exit 2; }
BASE=$1
BENCHES=${2:-"decision policy_load"}
FILTER=${3:-}
MEASURE=${MEASURE:-2}
git rev-parse --verify -q "$BASE^{commit}" >/dev/null || { echo "bench/core-ab.sh: $BASE is not a git revision" >&2; exit 2; }

. bench/common.sh
bench_tmpdir
git worktree add -q --detach "$TMP/base-src" "$BASE"
trap 'git worktree remove --force "$TMP/base-src" 2>/dev/null || true; bench_cleanup' EXIT

echo "== before: $(git log -1 --format='%h %s' "$BASE" | cut -c1-90)"
echo "== after:  the working tree at $(git log -1 --format='%h' HEAD)$(git diff --quiet HEAD || echo ' (with uncommitted changes)')"

echo "== .wasm sizes (wasm32-wasip2, release)"
size_of() { # DIR TARGETDIR FEATURES...
    local dir=$1 target=$2
    shift 2
    (cd "$dir" && cargo build -q --release --target wasm32-wasip2 -p cors-gateway --target-dir "$target" "$@")
    stat -c %s "$target/wasm32-wasip2/release/cors_gateway.wasm"
}
for build in portable spin; do
    flags=()
    [ $build = spin ] && flags=(--features spin)
    b=$(size_of "$TMP/base-src" "$TMP/base-target" "${flags[@]}")
    a=$(size_of "$PWD" "$PWD/target" "${flags[@]}")
    printf '   %-9s before %9s B   after %9s B   %+d B\n' "$build" "$b" "$a" $((a - b))
done

# run DIR TARGETDIR BENCH BASELINE-ARGS...: one criterion pass.
run() {
    local dir=$1 target=$2 bench=$3
    shift 3
    (cd "$dir" && cargo bench -q -p cors-gateway-core --bench "$bench" --target-dir "$target" -- \
        --noplot --warm-up-time 1 --measurement-time "$MEASURE" "$@" ${FILTER:+"$FILTER"}) >"$TMP/last.log" 2>&1 ||
        { cat "$TMP/last.log" >&2; exit 1; }
}
# snapshot PASS: every benchmark's median (ns) in CRITERION_HOME's `before`
# and `after` baselines, appended to $TMP/medians as `PASS SIDE NAME NS`.
snapshot() {
    python3 - "$CRITERION_HOME" "$1" >>"$TMP/medians" <<'EOF'
import json, os, sys
home, npass = sys.argv[1], sys.argv[2]
for root, dirs, files in os.walk(home):
    side = os.path.basename(root)
    if side in ("before", "after") and "estimates.json" in files:
        name = json.load(open(os.path.join(root, "benchmark.json")))["full_id"]
        ns = json.load(open(os.path.join(root, "estimates.json")))["median"]["point_estimate"]
        print(npass, side, name.replace(" ", "_"), ns)
EOF
}
: >"$TMP/medians"
for bench in $BENCHES; do
    # One home per bench: a snapshot reads every baseline under it, and an
    # earlier bench's would be read again under this bench's pass number.
    export CRITERION_HOME="$TMP/criterion/$bench"
    for pass in 1 2; do
        echo "== $bench, pass $pass: before"
        run "$TMP/base-src" "$TMP/base-target" "$bench" --save-baseline before
        echo "== $bench, pass $pass: after"
        run "$PWD" "$PWD/target" "$bench" --save-baseline after
        snapshot "$pass"
    done
done

python3 - "$TMP/medians" <<'EOF'
import math, sys
m, ratios = {}, {}
for line in open(sys.argv[1]):
    p, side, name, ns = line.split()
    m[(p, side, name)] = float(ns)
names = sorted({k[2] for k in m})
def fmt(ns):
    return f"{ns / 1000:9.2f} µs" if ns >= 1000 else f"{ns:9.1f} ns"
print(f"\n== criterion medians: before / after per pass; after/before of pass 2 (pass 1 in brackets)")
for n in names:
    g = lambda p, s: m.get((p, s, n))
    if None in (g("1", "before"), g("1", "after"), g("2", "before"), g("2", "after")):
        print(f"  {n}: only on one side (new or removed)")
        continue
    print(f"  {n[:58]:58} {fmt(g('2', 'before'))} {fmt(g('2', 'after'))}   "
          f"{g('2', 'after') / g('2', 'before'):5.2f}x [{g('1', 'after') / g('1', 'before'):.2f}x]")
    parts = n.split("/")
    grp = parts[-1] if parts[0].startswith("origins=") else parts[0]
    ratios.setdefault(grp, []).append(g("2", "after") / g("2", "before"))
# Per group, the geometric mean of pass 2's ratios: one figure against which
# a single row's swing (the machine's) can be judged.
print("\n== geometric mean of after/before (pass 2), per group")
for grp, rs in sorted(ratios.items()):
    print(f"  {grp:20} {math.exp(sum(map(math.log, rs)) / len(rs)):5.2f}x over {len(rs)} benchmarks [{min(rs):.2f}..{max(rs):.2f}]")
EOF
