#!/usr/bin/env bash
# Sets the platform's one version: VERSION (which every pyproject reads), the pins by which the packages
# require each other (api, worker and apps must run the same release) and the dashboard's package.json.
# Usage: scripts/set-version.sh 0.2.0   (then add its CHANGELOG.md section, commit, tag v0.2.0)
set -euo pipefail
cd "$(dirname "$0")/.."
new=${1:?usage: scripts/set-version.sh X.Y.Z}
[[ $new =~ ^[0-9]+\.[0-9]+\.[0-9]+([a-z]+[0-9]+)?$ ]] || { echo "not a version: $new" >&2; exit 2; }
echo "$new" >VERSION
sed -i -E "s/\"(azuraforge-[a-z-]+(\[[a-z,-]+\])?)==[^\"]+\"/\"\1==$new\"/" azuraforge-*/pyproject.toml
(cd azuraforge-dashboard && npm version --no-git-tag-version --allow-same-version "$new" >/dev/null)
echo "version $new; the editable installs pick it up on the next ./scripts/test.sh or ./scripts/run.sh"
