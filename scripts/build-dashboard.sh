#!/usr/bin/env bash
# Builds the dashboard (npm ci from package-lock.json, then Vite) into the API package's bundled folder,
# azuraforge-api/src/azuraforge_api/dashboard/, which `azuraforge up` serves and the API wheel carries.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=azuraforge-api/src/azuraforge_api/dashboard
(cd azuraforge-dashboard && npm ci --no-audit --no-fund --loglevel=error && npm run build)
# Replace the folder whole, so no file of an older build is left behind.
rm -rf "$TARGET.new" && cp -r azuraforge-dashboard/dist "$TARGET.new"
rm -rf "$TARGET" && mv "$TARGET.new" "$TARGET"
echo "dashboard built into $TARGET"
