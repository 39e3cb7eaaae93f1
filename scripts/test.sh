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

echo "== Rust tests (unit and integration, against the simulated portal on loopback)"
cargo test --workspace --locked
