#!/usr/bin/env bash
# Tests the Pulumi program offline (Pulumi's mocks; no cloud, no pulumi CLI, no credentials).
#   infra/test.sh [pytest args...]          e.g. infra/test.sh -k password
#
# The program's pinned dependencies (requirements-test.txt) live in a virtualenv outside git, keyed by a hash of the
# requirements and the Python version: the first run installs (about 15 s), later runs reuse it and only run pytest.
# Override the Python with PROCELLA_PYTHON and the cache folder with PROCELLA_TOOLS.
set -euo pipefail

infra=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
python=${PROCELLA_PYTHON:-python3}
tools=${PROCELLA_TOOLS:-$HOME/.cache/procella-edge}

# tomllib (the wrangler.toml consistency test) and the pinned SDKs need Python 3.11 or newer.
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "infra/test.sh: needs Python 3.11+ ($python is $("$python" --version 2>&1)); set PROCELLA_PYTHON" >&2
  exit 1
fi

key=$( { cat "$infra/requirements.txt" "$infra/requirements-test.txt"; "$python" --version; } | sha256sum | cut -c1-12)
venv="$tools/infra-venv-$key"
if [ ! -f "$venv/.installed" ]; then
  mkdir -p "$tools"
  # One installer at a time (two test runs started together share the folder); the marker is written last, so an
  # interrupted install is redone.
  exec 9>"$venv.lock"
  command -v flock >/dev/null && flock 9
  if [ ! -f "$venv/.installed" ]; then
    echo "[infra] installing the program's dependencies into $venv" >&2
    "$python" -m venv "$venv"
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install --quiet -r "$infra/requirements-test.txt"
    touch "$venv/.installed"
  fi
  exec 9>&-
fi

cd "$infra/.."
# No bytecode in the work tree, no pytest cache: the tests leave the checkout as they found it.
PYTHONDONTWRITEBYTECODE=1 exec "$venv/bin/python" -m pytest infra/tests -q -p no:cacheprovider "$@"
