#!/bin/sh
# Refreshes the dashboard's vendored charting library from the npm registry
# at the pinned version (no CDN: the file is committed and compiled into the
# binary). To upgrade: change VERSION here, run this script, rename the file
# in src/routes/ui.rs and index.html (the version in the name lets browsers
# cache it for good), and commit the new file with its licence.
set -eu
VERSION=4.5.1
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "chart.js@$VERSION" >/dev/null && tar xzf "chart.js-$VERSION.tgz")
# The source map is not shipped; drop the comment naming it so a browser's
# developer tools do not ask /ui for a file that is not there.
sed '/^\/\/# sourceMappingURL=/d' "$work/package/dist/chart.umd.min.js" \
    >"$here/vendor/chart-$VERSION.umd.min.js"
cp "$work/package/LICENSE.md" "$here/vendor/chart.js-LICENSE.md"
echo "chart.js $VERSION: $here/vendor/chart-$VERSION.umd.min.js"
