#!/usr/bin/env bash
# Installs AzuraForge into a virtualenv and runs it. Until the platform lands this is a demo training run
# of the core engine; later it starts the whole platform.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${AZURAFORGE_VENV:-$PWD/.venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e ./azuraforge-core
exec "$VENV/bin/python" scripts/demo_core.py "$@"
