#!/usr/bin/env bash
# Installs AzuraForge (every package, the dashboard, Redis) and starts the whole platform with
# `azuraforge up`: Redis, the API serving the dashboard, and a Celery worker. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${AZURAFORGE_VENV:-$PWD/.venv}
if ! command -v redis-server >/dev/null; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends redis-server
fi
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e ./azuraforge-core -e ./azuraforge-learner -e ./azuraforge-common \
  -e ./azuraforge-worker -e ./azuraforge-api -e ./azuraforge-app-stock-predictor \
  -e ./azuraforge-app-weather-forecaster -e ./azuraforge-app-image-classifier
(cd azuraforge-dashboard && npm ci --no-audit --no-fund && npm run build)
export AZURAFORGE_DASHBOARD_DIR=${AZURAFORGE_DASHBOARD_DIR:-$PWD/azuraforge-dashboard/dist}
export AZURAFORGE_DATA_DIR=${AZURAFORGE_DATA_DIR:-$PWD/.azuraforge}
exec "$VENV/bin/azuraforge" up "$@"
