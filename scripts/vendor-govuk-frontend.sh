#!/usr/bin/env bash
# Refresh the GOV.UK Frontend files that `intake web` ships in ingest/web/static/ (MIT licence).
# Usage: scripts/vendor-govuk-frontend.sh [VERSION]   (default: the version recorded in VERSION below)
# Takes the package with `npm pack` and copies only the minified CSS and JS and the images the CSS
# names. The GDS Transport font is left out on purpose: GOV.UK allows it only on GOV.UK services,
# so its @font-face rules are removed and the CSS falls back to Arial, as the Design System says.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=${1:-6.6.0}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "govuk-frontend@$VERSION" >/dev/null && tar xzf govuk-frontend-*.tgz)
dist=$work/package/dist/govuk
static=ingest/web/static
mkdir -p "$static/assets/images"
sed -E 's/@font-face\{font-family:GDS Transport;[^}]*\}//g; s#/\*\# sourceMappingURL=[^*]*\*/##' \
    "$dist/govuk-frontend.min.css" >"$static/govuk-frontend.min.css"
sed -E 's#//\# sourceMappingURL=.*$##' "$dist/govuk-frontend.min.js" >"$static/govuk-frontend.min.js"
cp "$dist/assets/images/favicon.ico" "$dist/assets/images/favicon.svg" "$static/assets/images/"
printf 'govuk-frontend %s (MIT licence, Crown copyright), from npm; fonts left out (see this script)\n' \
    "$VERSION" >"$static/GOVUK-FRONTEND-VERSION"
echo "vendored govuk-frontend $VERSION into $static"
