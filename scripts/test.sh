#!/usr/bin/env bash
# Runs every test: native unit tests of the core, then end-to-end tests of the worker under `wrangler dev`
# driven by the real pulumi CLI and plain HTTP. Installs what it needs first (scripts/tools.sh).
#   scripts/test.sh [pytest args...]
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

"$ROOT/scripts/tools.sh" browser
python3 -c 'import pytest, cryptography, playwright, hypothesis' 2>/dev/null \
  || python3 -m pip install --quiet pytest cryptography "playwright==1.55.0" "hypothesis==6.170.17"

echo "== native unit tests (cargo test)"
cargo test --lib --quiet

echo "== infra/ (the Pulumi program, under Pulumi's mocks)"
infra/test.sh

echo "== building the browser pages (esbuild) and the worker (worker-build, no wasm-opt)"
npm run --silent build:ui | tail -1
# Built once here so each e2e server starts from a warm build; wrangler dev rebuilds in about a second.
# The test build has the fault switch (the `faults` feature, src/engine/faults.rs); a deployed build never does.
export PROCELLA_BUILD_FLAGS="--no-opt --features faults"
# shellcheck disable=SC2086
worker-build --release $PROCELLA_BUILD_FLAGS >/dev/null 2>&1 || worker-build --release $PROCELLA_BUILD_FLAGS

echo "== end-to-end tests (wrangler dev + pulumi $PULUMI_VERSION and $PULUMI_OLDEST_VERSION; the fake Descope, the fake OIDC issuer and their self-tests)"
python3 -m pytest tests/e2e tests/fake_descope tests/fake_oidc -q -p no:cacheprovider "$@"
