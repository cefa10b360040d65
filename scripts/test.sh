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

step() { printf '\n==== %s (at %d s) ====\n' "$*" "$SECONDS"; }

step "system packages"
bash scripts/install-system-deps.sh

step "virtualenv $VENV (from requirements.lock)"
bash scripts/install-locked.sh "$VENV" --all
export PATH="$VENV/bin:$PATH"

# The dashboard's build and checks need only Node: they run beside the Python steps (log: $OUT/dashboard.log).
# The build also lands in the API package, where the release test's wheels and the browser tests take it.
dashboard=""
if [ -f azuraforge-dashboard/package.json ]; then
  (bash scripts/build-dashboard.sh && cd azuraforge-dashboard && npm run lint && npm test) >"$OUT/dashboard.log" 2>&1 &
  dashboard=$!
  trap wait EXIT # a step failing early leaves nothing running behind it
fi

step "ruff"
ruff check "${PACKAGES[@]}" deploy-tests scripts
ruff format --check "${PACKAGES[@]}" deploy-tests scripts

step "mypy"
# One process for every package's source, the scripts and deploy-tests' modules (their module names are unique);
# one per tests folder (each has its own conftest and test_* names). All share one cache.
MYPY=(mypy --config-file "$ROOT/mypy.ini" --cache-dir "$OUT/mypy-cache")
MYPY_TESTS=("${MYPY[@]}" --allow-untyped-defs --allow-incomplete-defs --allow-untyped-calls)
srcs=()
for pkg in "${PACKAGES[@]}"; do srcs+=("$pkg/src"); done
"${MYPY[@]}" "${srcs[@]}" scripts/*.py deploy-tests/deploycheck deploy-tests/benchmarks
for pkg in "${PACKAGES[@]}"; do
  if [ -d "$pkg/tests" ]; then
    echo "-- $pkg/tests"
    "${MYPY_TESTS[@]}" "$pkg/tests"
  fi
done
echo "-- deploy-tests/tests"
(cd deploy-tests && "${MYPY_TESTS[@]}" tests)

step "pytest"
# Two lanes on two cores: the API's suite (the longest) beside the other packages, deploy-tests and the browser
# tests (each after the dashboard build); every test server takes a free port and its own data folder.
rm -f "$OUT"/junit-*.xml
failed=0
suite() { # folder: its tests, with a junit report; exit code 5 (no tests collected) is not a failure
  local status=0
  (cd "$1" && python -m pytest -q -p no:cacheprovider --junitxml="$OUT/junit-$(basename "$1").xml") || status=$?
  [ "$status" -eq 0 ] || [ "$status" -eq 5 ]
}
timed() { # label, command...: runs it, and says how long it took
  local label=$1 began=$SECONDS status=0
  shift
  "$@" || status=$?
  echo "-- $label: $((SECONDS - began)) s$([ "$status" -eq 0 ] || echo ", FAILED")"
  return "$status"
}
timed azuraforge-api suite azuraforge-api >"$OUT/azuraforge-api.log" 2>&1 &
api=$!
for pkg in "${PACKAGES[@]}"; do
  [ "$pkg" = azuraforge-api ] && continue
  echo "-- $pkg"
  timed "$pkg" suite "$pkg" || failed=1
done

dashboard_built=0
if [ -n "$dashboard" ]; then
  step "dashboard (npm ci, build into the API package, lint, unit tests; ran beside ruff, mypy and pytest)"
  wait "$dashboard" && dashboard_built=1 || failed=1
  cat "$OUT/dashboard.log"
fi

echo "-- deploy-tests (compose, Dockerfiles, nginx and workflows, checked without a Docker engine)"
AZURAFORGE_DASHBOARD_BUILT=$dashboard_built timed deploy-tests suite deploy-tests || failed=1

if [ "$dashboard_built" -eq 1 ]; then
  step "dashboard end to end (headless Chromium against azuraforge up)"
  (cd azuraforge-dashboard && timed e2e npm run e2e) || failed=1
fi

step "azuraforge-api tests (ran beside the rest)"
wait "$api" || failed=1
cat "$OUT/azuraforge-api.log"

step "summary"
python scripts/junit_summary.py "$OUT"/junit-*.xml || failed=1
exit "$failed"
