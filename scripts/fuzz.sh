#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 60 s each) on the nightly
# toolchain: scripts/fuzz.sh [SECONDS] [TARGET...]
# New inputs go to a temporary corpus; the seed corpus in fuzz/corpus is only read.
# A crash leaves its input in fuzz/artifacts/TARGET/ and fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
secs="${1:-60}"; shift || true
targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=(policy_load origin_match request_headers compiled_load route_confusion)

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "SETUP FAILED: cargo fuzz needs the nightly toolchain (rustup toolchain install nightly)" >&2
  exit 1
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
for t in "${targets[@]}"; do
  mkdir -p "$work/$t"
  echo "== fuzz $t for ${secs}s"
  status=0
  cargo +nightly fuzz run "$t" "$work/$t" "fuzz/corpus/$t" -- \
    -max_total_time="$secs" -max_len=8192 -print_final_stats=1 > "$work/$t.log" 2>&1 || status=$?
  # Only the summary of libFuzzer's output; the whole log on failure.
  grep -E '^(stat::number_of_executed_units|stat::new_units_added|Done [0-9]+ runs)' "$work/$t.log" || true
  if [ "$status" != 0 ]; then
    tail -n 60 "$work/$t.log" >&2
    echo "FUZZ FAILURE in $t (exit $status): the input is in fuzz/artifacts/$t/" >&2
    exit 1
  fi
done
echo "fuzz: all targets ran ${secs}s without a crash"
