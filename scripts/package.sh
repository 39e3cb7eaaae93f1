#!/usr/bin/env bash
# Builds the release packages: the .deb and the .rpm, each with the desktop app (menu entry and
# icons), the `orgvault` CLI on the PATH and the systemd user unit of `orgvault service run`.
# A release build of the app and the CLI (about 9 minutes on 2 cores from a warm dependency
# cache); CI does not run it (it bundles the debug build the end-to-end tests make instead).
#
#   scripts/package.sh        -> target/release/bundle/deb/*.deb, target/release/bundle/rpm/*.rpm
#
# Windows (MSI, NSIS) and macOS (.app, .dmg) packages are built by .github/workflows/release.yml.
# The AppImage is not built: its tooling (linuxdeploy, appimagetool) is downloaded from outside
# the package registries.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
target="${CARGO_TARGET_DIR:-$root/target}"

npm install --prefix ui --no-audit --no-fund >/dev/null
npm install --prefix tests --no-audit --no-fund >/dev/null   # holds the Tauri CLI

echo "package: building the CLI (release)"
cargo build --release --locked --bin orgvault
scripts/stage-cli.sh release
echo "package: building the UI and the app (release) and bundling .deb and .rpm"
(cd src-tauri && ../tests/node_modules/.bin/tauri build --bundles deb,rpm \
  --config tauri.app.conf.json --config tauri.bundle.conf.json)

echo "package: built"
for f in "$target"/release/bundle/deb/*.deb "$target"/release/bundle/rpm/*.rpm; do
  printf '  %s  %s bytes (%s)\n' "$f" "$(stat -c %s "$f")" "$(du -h "$f" | cut -f1)"
done
