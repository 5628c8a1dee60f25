#!/usr/bin/env bash
# Builds the release artifacts of the commit checked out, from a clean tree:
#   scripts/release.sh VERSION [OUT_DIR]        (OUT_DIR defaults to dist/VERSION)
# It writes into OUT_DIR, which must be empty or absent:
#   cors-gateway-VERSION.wasm                        the portable component (wasmtime serve, any wasi:http 0.2 host)
#   cors-gateway-spin-VERSION.wasm                   the Spin build (--features spin)
#   cors-gateway-p3-VERSION.wasm                     the WASI 0.3 build (--features p3; wasmtime serve, Spin 4)
#   cors-gateway-spin-p3-VERSION.wasm                the WASI 0.3 Spin build (--features spin,p3; Spin 4)
#   cors-gateway-VERSION-x86_64-unknown-linux-musl   the CLI, statically linked
#   spin-fragment.toml                               spin.toml lines that pin the Spin build by URL and digest
#   SHA256SUMS                                       of all the above
# The build runs in a fresh clone of HEAD in a temporary folder, with the build
# paths (that clone, cargo's and rustup's homes) remapped to fixed names and
# SOURCE_DATE_EPOCH set to the commit's time: with the same toolchain, two runs
# on the same commit write the same bytes (tests/release.rs holds it).
# RELEASE_BASE_URL: where the artifacts are downloaded from (the fragment's url);
#   default: the GitHub release vVERSION of $GITHUB_REPOSITORY.
# RELEASE_ALLOW_DIRTY=1: run despite uncommitted changes (the release is still
#   HEAD's commit, without them; the tests use it).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

die() { echo "release: $*" >&2; exit 1; }
say() { printf '\033[1m== %s\033[0m\n' "$*"; }

{ [ $# -ge 1 ] && [ $# -le 2 ]; } || die "usage: scripts/release.sh VERSION [OUT_DIR]"
version="${1#v}"
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] ||
  die "VERSION must look like 1.2.3 or 1.2.3-rc.1 (a leading v is dropped), not '$1'"
out="${2:-dist/$version}"

# The version a binary reports (cors-gateway --version, the health endpoint's
# component) is Cargo's: it must be the release's.
package_version() { awk -F'"' '/^\[package\]/ { p = 1 } p && /^version *=/ { print $2; exit }' "$1"; }
for manifest in Cargo.toml cli/Cargo.toml; do
  v=$(package_version "$manifest")
  [ "$v" = "$version" ] || die "$manifest says version $v; set it to $version and commit first"
done

if [ -n "$(git status --porcelain)" ]; then
  [ "${RELEASE_ALLOW_DIRTY:-0}" = 1 ] || die "the work tree has uncommitted changes (git status); commit or stash them"
  echo "release: uncommitted changes are not part of this build (RELEASE_ALLOW_DIRTY=1)" >&2
fi
commit=$(git rev-parse HEAD)

for t in wasm32-wasip2 x86_64-unknown-linux-musl; do
  rustup target list --installed | grep -qx "$t" || die "the Rust target $t is missing (scripts/setup.sh adds it)"
done

mkdir -p "$out"
[ -z "$(ls -A "$out")" ] || die "$out is not empty"
out=$(cd "$out" && pwd)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
src="$work/cors-gateway"
git clone --quiet --no-checkout . "$src"
git -C "$src" checkout --quiet --detach "$commit"

# Reproducibility: no build path reaches a binary (panic locations name source
# files), and nothing that reads the clock sees today.
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct "$commit")
export SOURCE_DATE_EPOCH
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
rustup_home="${RUSTUP_HOME:-$HOME/.rustup}"
flags=(
  "--remap-path-prefix=$src=/build/cors-gateway"
  "--remap-path-prefix=$cargo_home=/cargo"
  "--remap-path-prefix=$rustup_home=/rustup"
)
# CARGO_ENCODED_RUSTFLAGS overrides RUSTFLAGS and build.rustflags, so a
# developer's own flags cannot change the artifacts. Its separator is 0x1f.
CARGO_ENCODED_RUSTFLAGS=$(IFS=$'\x1f'; echo "${flags[*]}")
export CARGO_ENCODED_RUSTFLAGS
unset CARGO_TARGET_DIR CARGO_BUILD_TARGET_DIR

say "cors-gateway $version from $commit ($(rustc --version))"
cd "$src"
cargo fetch --locked --quiet

say "portable component"
cargo build --locked --release --quiet -p cors-gateway --target wasm32-wasip2
cp target/wasm32-wasip2/release/cors_gateway.wasm "$out/cors-gateway-$version.wasm"

say "Spin component"
cargo build --locked --release --quiet -p cors-gateway --target wasm32-wasip2 --features spin
cp target/wasm32-wasip2/release/cors_gateway.wasm "$out/cors-gateway-spin-$version.wasm"

say "WASI 0.3 component"
cargo build --locked --release --quiet -p cors-gateway --target wasm32-wasip2 --features p3
cp target/wasm32-wasip2/release/cors_gateway.wasm "$out/cors-gateway-p3-$version.wasm"

say "WASI 0.3 Spin component"
cargo build --locked --release --quiet -p cors-gateway --target wasm32-wasip2 --features spin,p3
cp target/wasm32-wasip2/release/cors_gateway.wasm "$out/cors-gateway-spin-p3-$version.wasm"

say "CLI, x86_64-unknown-linux-musl"
cargo build --locked --release --quiet -p cors-gateway-cli --target x86_64-unknown-linux-musl
cli="$out/cors-gateway-$version-x86_64-unknown-linux-musl"
cp target/x86_64-unknown-linux-musl/release/cors-gateway "$cli"
# Static: no program interpreter, so it runs on any x86-64 Linux.
if readelf --program-headers --wide "$cli" | grep -q INTERP; then
  die "$cli is dynamically linked"
fi
[ "$("$cli" --version)" = "cors-gateway $version" ] || die "$cli --version does not say $version"

base_url="${RELEASE_BASE_URL:-https://github.com/${GITHUB_REPOSITORY:-OWNER/cors-gateway}/releases/download/v$version}"
digest=$(sha256sum "$out/cors-gateway-spin-$version.wasm" | cut -d' ' -f1)
cat > "$out/spin-fragment.toml" <<EOF
# cors-gateway $version (Spin build), pinned: Spin downloads the component once
# and refuses it if its SHA-256 differs. Put these sections in your spin.toml in
# place of a locally built component's; keep policies/ beside it.
[variables]
cors_policy = { default = "" }
cors_policy_candidate = { default = "" }
cors_admin_token = { default = "", secret = true }

[[trigger.http]]
route = "/..."
component = "cors-gateway"

[component.cors-gateway]
source = { url = "$base_url/cors-gateway-spin-$version.wasm", digest = "sha256:$digest" }
# The released component has no policy built in: it reads policies/policy.json.
files = [{ source = "policies", destination = "/policies" }]
# Every route's upstream, as scheme://host[:port]: Spin refuses outbound
# requests to hosts not listed here.
allowed_outbound_hosts = []
# The live policy sources are off as shipped: each costs a Spin host call on
# every request (docs/performance.md). The policy in the Spin variable
# cors_policy (\`spin aka deploy --variable\`, SPIN_VARIABLE_CORS_POLICY):
# uncomment. Off, no variable is read and health warns of one that is set.
# environment = { CORS_POLICY_VARIABLE = "cors_policy" }
#
# The policy in the key-value store \`default\` (the admin endpoint, Redis on
# SpinKube): uncomment both. Off, the gateway never opens the store. With the
# variable too, one \`environment\` holds both names.
# key_value_stores = ["default"]
# environment = { CORS_POLICY_KV_STORE = "default" }

[component.cors-gateway.variables]
cors_policy = "{{ cors_policy }}"
cors_policy_candidate = "{{ cors_policy_candidate }}"
cors_admin_token = "{{ cors_admin_token }}"
EOF

cd "$out"
sha256sum cors-gateway-"$version".wasm cors-gateway-spin-"$version".wasm cors-gateway-p3-"$version".wasm \
  cors-gateway-spin-p3-"$version".wasm \
  "cors-gateway-$version-x86_64-unknown-linux-musl" spin-fragment.toml > SHA256SUMS
say "release $version in $out"
cat SHA256SUMS
