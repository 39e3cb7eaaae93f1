#!/usr/bin/env bash
# Regenerates every bundled icon size (src-tauri/icons/: PNGs for Linux and the window/tray,
# icon.ico for Windows, icon.icns for macOS, the Square*Logo set for the Windows Store) from the
# one source, icons/orgvault.svg, with the Tauri CLI's `tauri icon`. The mobile sets it also
# writes (android/, ios/) are removed: OrgVault is a desktop app.
#
#   scripts/icons.sh        (then commit icons/ and src-tauri/icons/ together)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x tests/node_modules/.bin/tauri ] || npm install --prefix tests --no-audit --no-fund >/dev/null
tests/node_modules/.bin/tauri icon icons/orgvault.svg -o src-tauri/icons
rm -rf src-tauri/icons/android src-tauri/icons/ios
ls src-tauri/icons
