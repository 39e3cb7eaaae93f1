#!/usr/bin/env bash
# Stages the built `orgvault` CLI where the Tauri bundler takes it from: the app's one external
# binary (src-tauri/tauri.bundle.conf.json, `bundle.externalBin`), named with the target triple
# as Tauri expects (src-tauri/binaries/orgvault-<triple>). The packages install it beside the
# app: /usr/bin/orgvault in the .deb and .rpm.
#
#   scripts/stage-cli.sh debug|release [TRIPLE]   (after `cargo build [--release] --bin orgvault`)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
profile="${1:?usage: stage-cli.sh debug|release [TRIPLE]}"
triple="${2:-$(rustc -vV | sed -n 's/^host: //p')}"
target="${CARGO_TARGET_DIR:-$root/target}"
# A build for an explicit --target lands under target/<triple>/<profile>.
from="$target/$profile/orgvault"
[[ -n "${2:-}" ]] && from="$target/$triple/$profile/orgvault"
[[ -f "$from.exe" ]] && from="$from.exe"
[[ -x "$from" ]] || { echo "stage-cli: no CLI at $from (cargo build --bin orgvault first)" >&2; exit 1; }
ext=""; [[ "$from" == *.exe ]] && ext=".exe"
mkdir -p "$root/src-tauri/binaries"
cp "$from" "$root/src-tauri/binaries/orgvault-$triple$ext"
echo "stage-cli: $from -> src-tauri/binaries/orgvault-$triple$ext"
