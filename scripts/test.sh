#!/usr/bin/env bash
# Runs every OrgVault test. Does all the set-up itself on a fresh Debian/Ubuntu machine.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

echo "== formatting"
cargo fmt --all --check

echo "== Rust tests (unit and integration, against the simulated portal on loopback)"
cargo test --workspace --locked
