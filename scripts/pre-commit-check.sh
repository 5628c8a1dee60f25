#!/usr/bin/env bash
# The pre-commit hook `cors-gateway-check` (.pre-commit-hooks.yaml): builds the
# CLI from the hook's own checkout (the `rev` a repository pins), then runs
# `cors-gateway check` on every policy file pre-commit passes.
#   pre-commit-check.sh [--strict] FILE...
# A policy with errors fails the hook. Warnings are printed but pass, since a
# warning can be a deliberate choice (a listed "null" origin, a long max_age);
# with --strict (`args: [--strict]` in .pre-commit-config.yaml) they fail too.
set -euo pipefail
export PATH="$HOME/.cargo/bin:$PATH"
root=$(cd "$(dirname "$0")/.." && pwd)

strict=0
if [ "${1:-}" = --strict ]; then strict=1; shift; fi

command -v cargo >/dev/null || { echo "cors-gateway-check: cargo not found; install Rust from https://rustup.rs" >&2; exit 1; }
target="${CARGO_TARGET_DIR:-$root/target}"
cargo build --quiet --locked -p cors-gateway-cli --manifest-path "$root/Cargo.toml" --target-dir "$target"
cli="$target/debug/cors-gateway"

status=0
for f in "$@"; do
  code=0
  "$cli" check "$f" || code=$?
  case "$code" in
    0) ;;
    1) [ "$strict" = 0 ] || status=1 ;;
    *) status=1 ;;
  esac
done
exit "$status"
