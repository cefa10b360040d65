#!/usr/bin/env bash
# Installs AzuraForge (every package from requirements.lock, the dashboard, Redis) and starts the whole
# platform with `azuraforge up`: Redis, the API serving the dashboard, and a Celery worker. Ctrl-C stops it.
# A second start installs nothing unless the lock, a pyproject or the dashboard's sources changed.
# Arguments go to `azuraforge up` (--host, --port, --workers).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${AZURAFORGE_VENV:-$PWD/.venv}

host=127.0.0.1 port=8000
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --host) host=${args[i + 1]:-$host} ;;
    --host=*) host=${args[i]#--host=} ;;
    --port) port=${args[i + 1]:-$port} ;;
    --port=*) port=${args[i]#--port=} ;;
  esac
done

# Everything this needs, checked before any work, each with what to install.
missing=()
if ! command -v python3 >/dev/null || ! python3 -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  missing+=("Python >= 3.11 with venv (Debian/Ubuntu: apt-get install python3 python3-venv)")
fi
if ! command -v node >/dev/null || ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
  missing+=("Node.js >= 20.19 with npm, to build the dashboard (https://nodejs.org)")
fi
if command -v python3 >/dev/null && ! python3 - "$host" "$port" <<'PY'
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind((host, port))
    except OSError:
        sys.exit(1)
PY
then
  missing+=("a free port: $host:$port is in use (stop what holds it, or pass --port N)")
fi
if [ ${#missing[@]} -gt 0 ]; then
  printf 'AzuraForge cannot start yet. Missing:\n' >&2
  printf '  - %s\n' "${missing[@]}" >&2
  exit 1
fi

if ! command -v redis-server >/dev/null && [ -z "${AZURAFORGE_REDIS_URL:-}" ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends redis-server
fi

# Install again only when what the venv is made from changed.
python_inputs=$(cat requirements.lock azuraforge-*/pyproject.toml | sha256sum)
if [ "$(cat "$VENV/.installed-from" 2>/dev/null)" != "$python_inputs" ]; then
  echo "installing the Python packages from requirements.lock into $VENV"
  bash scripts/install-locked.sh "$VENV"
  echo "$python_inputs" >"$VENV/.installed-from"
fi
bundled=azuraforge-api/src/azuraforge_api/dashboard
dashboard_inputs=$(find azuraforge-dashboard/src azuraforge-dashboard/public azuraforge-dashboard/index.html \
  azuraforge-dashboard/package-lock.json azuraforge-dashboard/vite.config.ts -type f -print0 2>/dev/null \
  | sort -z | xargs -0 sha256sum | sha256sum)
if [ ! -f "$bundled/index.html" ] || [ "$(cat "$VENV/.dashboard-built-from" 2>/dev/null)" != "$dashboard_inputs" ]; then
  bash scripts/build-dashboard.sh
  echo "$dashboard_inputs" >"$VENV/.dashboard-built-from"
fi

# No AZURAFORGE_DATA_DIR or AZURAFORGE_DASHBOARD_DIR here: plain `azuraforge up` uses the same defaults
# (~/.azuraforge, the dashboard bundled in the API package), so either way of starting shows the same runs.
exec "$VENV/bin/azuraforge" up "$@"
