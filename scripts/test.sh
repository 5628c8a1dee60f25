#!/usr/bin/env bash
# The whole test suite, as CI runs it: setup, formatting and lints, then every
# test (core unit tests, CLI, the component in a real wasmtime serve, the
# browsers). Run from anywhere inside the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

scripts/setup.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== shellcheck (every shell script), actionlint (the workflows and docs/ci.md's CI snippet), Markdown links"
scripts/lint.sh
echo "== cargo clippy (native, all targets)"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo clippy (component, wasm32-wasip2: portable, Spin, WASI 0.3 and WASI 0.3 Spin builds)"
cargo clippy -p cors-gateway --target wasm32-wasip2 --locked -- -D warnings
cargo clippy -p cors-gateway --target wasm32-wasip2 --features spin --locked -- -D warnings
cargo clippy -p cors-gateway --target wasm32-wasip2 --features p3 --locked -- -D warnings
cargo clippy -p cors-gateway --target wasm32-wasip2 --features spin,p3 --locked -- -D warnings
cargo clippy -p cors-gateway --all-targets --features p3 --locked -- -D warnings
cargo clippy -p cors-gateway --all-targets --features spin,p3 --locked -- -D warnings

echo "== building the four components"
cargo build -p cors-gateway --release --target wasm32-wasip2 --locked
cargo build -p cors-gateway --release --target wasm32-wasip2 --features spin --locked --target-dir target/spin
cargo build -p cors-gateway --release --target wasm32-wasip2 --features p3 --locked --target-dir target/p3
cargo build -p cors-gateway --release --target wasm32-wasip2 --features spin,p3 --locked --target-dir target/spin-p3
ls -l target/wasm32-wasip2/release/cors_gateway.wasm target/spin/wasm32-wasip2/release/cors_gateway.wasm \
  target/p3/wasm32-wasip2/release/cors_gateway.wasm target/spin-p3/wasm32-wasip2/release/cors_gateway.wasm

echo "== fuzz smoke: each target for ${FUZZ_SECONDS:-20}s (scripts/fuzz.sh SECONDS for longer runs)"
scripts/fuzz.sh "${FUZZ_SECONDS:-20}"

echo "== cargo test (workspace)"
cargo test --workspace --locked

echo "== the component suites again, against the WASI 0.3 builds (the Spin suites on a reused instance)"
CORS_GATEWAY_TEST_BUILD=p3 cargo test -p cors-gateway --locked --test forwarding --test gateway \
  --test decision_table_wasm --test boundary --test hostile --test rollout --test load_consistency \
  --test nginx_diff
CORS_GATEWAY_TEST_BUILD=p3 cargo test -p spin-test-host --locked --test spin_build --test boundary
