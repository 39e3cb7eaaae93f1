#!/usr/bin/env bash
# Builds and starts the OrgVault desktop app. Does all the set-up itself on a fresh Debian/Ubuntu
# machine (apt packages, Rust, Node.js, the UI's npm packages).
#
# With no identity configured, the app offers "Try the demo organization": two simulated ArcGIS
# organizations start inside the app (portal-sim on loopback), so you can scan, select, back up and
# restore without an ArcGIS account. Needs a display (on a server without one, try
# `xvfb-run ./scripts/run.sh` or use the CLI: scripts/demo-cli.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

# `npm install`, not `npm ci`: lockfiles made on one platform lack other platforms' builds.
npm install --prefix ui --no-audit --no-fund >/dev/null
npm install --prefix tests --no-audit --no-fund >/dev/null   # holds the Tauri CLI

# `tauri build` bundles the built UI into the binary; a plain `cargo run` would wait for Vite's
# dev server instead. --no-bundle: no .deb/.rpm, just the executable (scripts/package.sh makes the packages).
echo "Building the desktop app (the first build takes several minutes)..."
(cd src-tauri && ../tests/node_modules/.bin/tauri build --debug --no-bundle --config tauri.app.conf.json)
mkdir -p target/app
cp target/debug/orgvault-desktop target/app/orgvault-desktop

if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  echo "No display found (DISPLAY/WAYLAND_DISPLAY unset). Run it under a desktop session, or:"
  echo "  xvfb-run ./scripts/run.sh      # headless, e.g. to take screenshots"
  echo "  ./scripts/demo-cli.sh          # the same demo from the command line"
  exit 1
fi
exec target/app/orgvault-desktop "$@"
