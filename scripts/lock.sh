#!/usr/bin/env bash
# Recompiles requirements.lock, the one set of third-party versions (with hashes) that the test command, the
# run command, both Python images and every workflow install. Run it after changing a pyproject's
# dependencies, requirements-dev.txt or deploy-tests/requirements.txt; commit both files it writes.
#   scripts/lock.sh                        keep every pin that still fits, add what is new
#   scripts/lock.sh --upgrade              move everything to the newest release that fits
#   scripts/lock.sh --upgrade-package X    move X only
# pip-tools runs on pip, so it sees this machine's torch CPU wheel (uv and poetry would not). Elsewhere, add
# PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu so that torch==2.13.0 resolves to the CPU build.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=${AZURAFORGE_LOCK_VENV:-$PWD/.venv-lock}
if [ ! -x "$TOOLS/bin/pip-compile" ]; then
  python3 -m venv "$TOOLS"
  sed -e '/--hash=/d' -e 's/ *\\$//' requirements.lock >"$TOOLS/constraints.txt"
  "$TOOLS/bin/python" -m pip install -q --constraint "$TOOLS/constraints.txt" pip pip-tools
fi
"$TOOLS/bin/python" scripts/lock_inputs.py >requirements.in
CUSTOM_COMPILE_COMMAND=scripts/lock.sh "$TOOLS/bin/pip-compile" --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
  --no-emit-find-links --output-file requirements.lock "$@" requirements.in
echo "requirements.lock updated; ./scripts/test.sh installs it and checks the venv against it"
