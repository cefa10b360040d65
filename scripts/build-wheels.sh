#!/usr/bin/env bash
# Builds the sdist and wheel of every package into OUT (default dist/), checks them with `twine check`, and
# builds the dashboard first so that the azuraforge-api wheel carries it: `pip install azuraforge-api` plus the
# apps, then `azuraforge up`, serves the UI with no Node on the machine. Uses the venv's locked build tools.
# Usage: scripts/build-wheels.sh [OUT]
#   AZURAFORGE_DASHBOARD_BUILT=1: the dashboard in the API package is current (the test command has just built
#   it), so it is not built again.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$(realpath -m "${1:-dist}")
PY=${AZURAFORGE_VENV:-$PWD/.venv}/bin/python
[ "${AZURAFORGE_DASHBOARD_BUILT:-}" = 1 ] || bash scripts/build-dashboard.sh
mkdir -p "$OUT"
for pkg in azuraforge-*/; do
  [ -f "$pkg/pyproject.toml" ] || continue
  "$PY" -m build --no-isolation --outdir "$OUT" "$pkg" >/dev/null
  echo "built ${pkg%/}"
done
"$PY" -m twine check --strict "$OUT"/*
