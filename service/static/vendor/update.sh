#!/usr/bin/env bash
# Refreshes the vendored charting library from the npm registry: ./update.sh [VERSION] (default: latest).
# The dashboard serves these files as they are; nothing is built when fitq is installed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
version="${1:-latest}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "uplot@$version" >/dev/null && tar xzf uplot-*.tgz)
cp "$work/package/dist/uPlot.iife.min.js" "$work/package/dist/uPlot.min.css" "$here/"
cp "$work/package/LICENSE" "$here/uPlot.LICENSE"
node -e 'console.log(require(process.argv[1]).version)' "$work/package/package.json" > "$here/uPlot.VERSION"
echo "uPlot $(cat "$here/uPlot.VERSION") vendored in $here"
