#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian machine (system packages, a virtualenv holding exactly
# requirements.lock plus every package of the repository), then runs ruff, mypy and every package's tests.
# Exit code 0 only if all pass.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${AZURAFORGE_VENV:-$ROOT/.venv}
OUT=$ROOT/test-output
mkdir -p "$OUT"

# Python packages in dependency order; each is installable on its own.
mapfile -t PACKAGES < <(ls -d azuraforge-core azuraforge-learner azuraforge-common azuraforge-worker \
  azuraforge-api azuraforge-app-* 2>/dev/null | awk '!seen[$0]++' | while read -r d; do
  [ -f "$d/pyproject.toml" ] && echo "$d"; done)

step() { printf '\n==== %s ====\n' "$*"; }

step "system packages"
bash scripts/install-system-deps.sh

step "virtualenv $VENV (from requirements.lock)"
bash scripts/install-locked.sh "$VENV" --all
export PATH="$VENV/bin:$PATH"

step "ruff"
ruff check "${PACKAGES[@]}" deploy-tests scripts
ruff format --check "${PACKAGES[@]}" deploy-tests scripts

step "mypy"
for pkg in "${PACKAGES[@]}"; do
  echo "-- $pkg"
  mypy --config-file mypy.ini "$pkg/src"
  if [ -d "$pkg/tests" ]; then
    mypy --config-file mypy.ini --allow-untyped-defs --allow-incomplete-defs --allow-untyped-calls "$pkg/tests"
  fi
done

echo "-- scripts"
mypy --config-file mypy.ini scripts/*.py

echo "-- deploy-tests"
(cd deploy-tests && mypy --config-file ../mypy.ini deploycheck benchmarks \
  && mypy --config-file ../mypy.ini --allow-untyped-defs --allow-incomplete-defs --allow-untyped-calls tests)

step "pytest"
rm -f "$OUT"/junit-*.xml
failed=0
for pkg in "${PACKAGES[@]}"; do
  echo "-- $pkg"
  status=0
  (cd "$pkg" && python -m pytest -q -p no:cacheprovider --junitxml="$OUT/junit-$(basename "$pkg").xml") || status=$?
  # Exit code 5 means the package collected no tests: that is not a failure of the suite.
  if [ "$status" -ne 0 ] && [ "$status" -ne 5 ]; then failed=1; fi
done

echo "-- deploy-tests (compose, Dockerfiles, nginx and workflows, checked without a Docker engine)"
(cd deploy-tests && python -m pytest -q -p no:cacheprovider --junitxml="$OUT/junit-deploy-tests.xml") || failed=1

if [ -f azuraforge-dashboard/package.json ]; then
  step "dashboard"
  (cd azuraforge-dashboard && npm ci --no-audit --no-fund && npm run lint && npm test && npm run build) || failed=1
  step "dashboard end to end (headless Chromium against azuraforge up)"
  (cd azuraforge-dashboard && npm run e2e) || failed=1
fi

step "summary"
python scripts/junit_summary.py "$OUT"/junit-*.xml || failed=1
exit "$failed"
