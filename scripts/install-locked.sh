#!/usr/bin/env bash
# Makes VENV hold exactly requirements.lock (every third-party package at its locked version, hash-checked)
# plus this repository's packages installed editable on top, with nothing resolved from the registry's newest.
# Usage: scripts/install-locked.sh VENV [--all]
#   --all   the whole lock: test extras, torch (CPU build), dev tools, release tools (the test command);
#           without it, what the platform needs to run (the run command).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=$1
MODE=${2:-}
LOCK=requirements.lock
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
PY="$VENV/bin/python"

# pip itself first, at the locked version: older pips cannot read hashes in a constraints file.
awk '/^pip==/{found=1} found{print} found&&!/\\$/{exit}' "$LOCK" >"$VENV/pip.lock"
"$PY" -m pip install -q --disable-pip-version-check --require-hashes --no-deps -r "$VENV/pip.lock"

mapfile -t PACKAGES < <(ls -d azuraforge-core azuraforge-learner azuraforge-common azuraforge-worker \
  azuraforge-api azuraforge-app-* | awk '!seen[$0]++' | while read -r d; do
  [ -f "$d/pyproject.toml" ] && echo "$d"; done)

if [ "$MODE" = "--all" ]; then
  # Every locked package with its hash; then ours, built with the locked setuptools (no isolated build env
  # that would fetch the newest one) and without resolving anything more.
  "$PY" -m pip install -q --require-hashes --no-deps -r "$LOCK"
  editable=()
  for pkg in "${PACKAGES[@]}"; do editable+=(-e "./$pkg"); done
  "$PY" -m pip install -q --no-deps --no-build-isolation "${editable[@]}"
  # What an older lock left behind goes, so that the venv is exactly the lock.
  "$PY" - "$LOCK" <<'PY' | xargs -r "$PY" -m pip uninstall -q -y
import re, sys
from importlib.metadata import distributions
canonical = lambda name: re.sub(r"[-_.]+", "-", name).lower()
locked = {canonical(m[1]) for m in re.finditer(r"^([A-Za-z0-9._-]+)==", open(sys.argv[1]).read(), re.M)}
for dist in distributions():
    name = canonical(dist.metadata["Name"])
    if name not in locked and not name.startswith("azuraforge-"):
        print(name)
PY
  "$PY" -m pip check
else
  # The platform's own dependencies only, at the locked versions. pip cannot hash-check a set that also
  # holds folders, so this path uses the lock's pins without its hashes (the test command checks both).
  sed -e '/--hash=/d' -e 's/ *\\$//' "$LOCK" >"$VENV/constraints.txt"
  "$PY" -m pip install -q --constraint "$VENV/constraints.txt" setuptools wheel
  editable=()
  for pkg in "${PACKAGES[@]}"; do editable+=(-e "./$pkg"); done
  "$PY" -m pip install -q --constraint "$VENV/constraints.txt" --no-build-isolation "${editable[@]}"
fi
