#!/usr/bin/env bash
# Runs the benchmarks (not part of scripts/test.sh): prints one table of figures, each against a reference
# measured in the same run. Installs what it needs first (scripts/tools.sh).
#   scripts/bench.sh [sections...] [--sizes 10,100,1000] [--repeats N] [--out tests/bench/RESULTS.md]
# Sections: overhead descope oidc limits load fuzz live up journal large size native (all by default); `scripts/bench.sh journal` runs one.
# wrangler dev rebuilds the worker when src/ changes: do not edit src/ while it runs (the table warns if it did).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
"$ROOT/scripts/tools.sh" browser   # Chromium, for the live view's delay
python3 -c 'import pytest, cryptography, hypothesis, playwright' 2>/dev/null \
  || python3 -m pip install --quiet pytest cryptography "hypothesis==6.170.17" "playwright==1.55.0"
npm run --silent build:ui   # wrangler reads build/ui (the static assets) as soon as it starts
exec python3 tests/bench/bench.py "$@"
