# Sourced by the dev, test and bench scripts: puts the cached tools first in PATH and keeps wrangler offline.
# Installs what is missing first (scripts/tools.sh).
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/versions.sh
source "$ROOT/scripts/versions.sh"
TOOLS=${PROCELLA_TOOLS:-$HOME/.cache/procella-edge}
"$ROOT/scripts/tools.sh" "${PROCELLA_TOOLS_SET:-all}"
WBG_VERSION=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/,""); print; exit}' "$ROOT/Cargo.lock")
export PATH="$TOOLS/node/bin:$TOOLS/cargo/bin:$TOOLS/pulumi-$PULUMI_VERSION/bin:$TOOLS/test-plugins-current/bin:$ROOT/node_modules/.bin:$PATH"
# worker-build must find these locally: it would otherwise download them from GitHub, which is unreachable.
export WASM_BINDGEN_BIN="$TOOLS/wasm-bindgen-$WBG_VERSION/bin/wasm-bindgen"
export WASM_OPT_BIN="$ROOT/node_modules/binaryen/bin/wasm-opt"
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false
export XDG_CONFIG_HOME="$TOOLS/xdg-config" XDG_CACHE_HOME="$TOOLS/xdg-cache"
# The oldest supported CLI, for the tests that run on both.
export PULUMI_OLDEST_BIN="$TOOLS/pulumi-$PULUMI_OLDEST_VERSION/bin/pulumi"
export PULUMI_VERSION PULUMI_OLDEST_VERSION
