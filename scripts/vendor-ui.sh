#!/usr/bin/env bash
# Re-fetches the console's vendored chart library from npm and checks it is byte for byte what
# is committed in runtime/http/vendor/ (run after changing VERSION, then update the sums below
# and the include_str! paths in ASSETS of runtime/http/src/ui.rs). The build never fetches anything.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=1.6.32
dir=runtime/http/vendor/uplot-$VERSION
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack -q "uplot@$VERSION" >/dev/null && tar xzf "uplot-$VERSION.tgz")
mkdir -p "$dir"
cp "$work/package/dist/uPlot.iife.min.js" "$work/package/dist/uPlot.min.css" "$work/package/LICENSE" "$dir/"
sha256sum -c <<SUMS
19c8d4c6ad88929a79f4ae49d6f7161566dfd0ba3d15cc495e974f787eb78f1f  $dir/uPlot.iife.min.js
df630c6a8d6f8eeaff264b50f73ce5b114f646ffd9a0bb74f049b0a00135fa04  $dir/uPlot.min.css
SUMS
echo "vendored: $dir"
