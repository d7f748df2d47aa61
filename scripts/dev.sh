#!/usr/bin/env bash
# Runs the backend locally: wrangler dev with local D1, R2 and Durable Objects, dev auth, migrations applied.
#   scripts/dev.sh [port]        (default 8787; set PROCELLA_BUILD_FLAGS=--no-opt for a faster build)
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
port=${1:-8787}
[ -f .dev.vars ] || { cp .dev.vars.example .dev.vars; echo "created .dev.vars from .dev.vars.example"; }
npm run --silent build:ui   # wrangler reads build/ui (the static assets) as soon as it starts
wrangler d1 migrations apply DB --local
token=$(grep '^PROCELLA_DEV_AUTH_TOKEN=' .dev.vars | cut -d= -f2-)
cat <<MSG

  Procella Edge is starting on http://127.0.0.1:$port
  Log in with the pulumi CLI:
    export PULUMI_ACCESS_TOKEN=$token
    pulumi login http://127.0.0.1:$port
  or in a browser (the CLI offers it when it knows where the pages are):
    PULUMI_CONSOLE_DOMAIN=127.0.0.1:$port pulumi login http://127.0.0.1:$port
  Dashboard: http://127.0.0.1:$port/   (the CLI built for the tests is at $(command -v pulumi))

MSG
exec wrangler dev --local --ip 127.0.0.1 --port "$port"
