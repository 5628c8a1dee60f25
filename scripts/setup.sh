#!/usr/bin/env bash
# Installs what building and testing cors-gateway needs. Idempotent: each step
# is skipped when its tool is already there. Needs: rustup/cargo; apt-get for
# the browsers (root, or sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

WASMTIME_VERSION=48.0.8
say() { printf '\033[1m== %s\033[0m\n' "$*"; }

if ! command -v cargo >/dev/null; then
  echo "SETUP FAILED: cargo not found; install Rust from https://rustup.rs first" >&2
  exit 1
fi

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
  say "adding the wasm32-wasip2 target"
  rustup target add wasm32-wasip2
fi

export PATH="$HOME/.cargo/bin:$PATH"
# The fuzz targets (scripts/fuzz.sh) build on nightly with cargo-fuzz.
if ! rustup toolchain list | grep -q '^nightly'; then
  say "installing the nightly toolchain (for cargo fuzz)"
  rustup toolchain install nightly --profile minimal
fi
command -v cargo-fuzz >/dev/null || { say "installing cargo-fuzz"; cargo install cargo-fuzz --locked; }
if ! wasmtime --version 2>/dev/null | grep -q "^wasmtime $WASMTIME_VERSION"; then
  say "installing wasmtime-cli $WASMTIME_VERSION (builds from source, ~15 min on 2 cores)"
  cargo install "wasmtime-cli@$WASMTIME_VERSION" --locked
fi

# A clean build and test run writes ~3.6 GB (target/ and fuzz/target/, measured
# 2026-11-24); a full disk shows up much later as a linker crash, so say it now.
need_mb=$([ -d target ] && echo 1024 || echo 4096)
free_mb=$(df -Pm . | awk 'NR == 2 {print $4}')
if [ "${free_mb:-0}" -lt "$need_mb" ]; then
  echo "SETUP FAILED: $(pwd) has ${free_mb} MB free; building and testing needs about ${need_mb} MB" >&2
  exit 1
fi

# nginx: the reference reverse proxy tests/nginx_diff.rs compares forwarding with.
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  say "installing nginx from Debian's packages"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx
fi

# Browsers for the end-to-end suite (tests/browser), from Debian's packages.
if [ "${SKIP_BROWSERS:-0}" != 1 ]; then
  missing=()
  command -v chromium >/dev/null || missing+=(chromium)
  command -v firefox-esr >/dev/null || command -v firefox >/dev/null || missing+=(firefox-esr)
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]} from Debian's packages"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  fi
fi
# Real servers the CLI's import tests serve their Apache and nginx examples with.
servers=()
[ -x /usr/sbin/apache2 ] || servers+=(apache2)
[ -x /usr/sbin/nginx ] || servers+=(nginx)
if [ ${#servers[@]} -gt 0 ]; then
  say "installing ${servers[*]} from Debian's packages"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${servers[@]}"
fi
say "setup complete: $(wasmtime --version), rustc $(rustc --version | cut -d' ' -f2)"
