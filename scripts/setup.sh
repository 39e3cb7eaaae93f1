#!/usr/bin/env bash
# Installs what OrgVault needs to build and test on Debian/Ubuntu, skipping what is already there.
# Idempotent: safe to run before every build. Needs root or sudo for apt.
set -euo pipefail

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Build essentials for the Rust workspace (SQLite is compiled in by sqlx; TLS is rustls, no OpenSSL),
# the WebKitGTK stack the Tauri desktop shell links against, and Xvfb + WebKitWebDriver, which run and
# drive the real window in the end-to-end tests. dosfstools and fusefat give the FAT file system
# (no hard links) that scripts/vfat-check.sh backs up into; rpm and desktop-file-utils let
# scripts/package-check.sh read the .rpm and validate the packages' menu entry; strace lets a test read what is fsynced when; xmllint, systemd-analyze and a private D-Bus session check the service's launchd/Task Scheduler files, its systemd unit and its notifications. (`libappindicator3-dev` does not exist on bookworm;
# the Ayatana one is its replacement.)
APT_PACKAGES=(build-essential pkg-config curl ca-certificates python3 time unzip file
  libwebkit2gtk-4.1-dev libgtk-3-dev libsoup-3.0-dev libjavascriptcoregtk-4.1-dev
  libayatana-appindicator3-dev librsvg2-dev libssl-dev libxdo-dev patchelf xdg-utils
  xvfb xauth x11-utils webkit2gtk-driver imagemagick
  dosfstools fusefat strace libxml2-utils dbus-daemon dbus-bin systemd rpm desktop-file-utils python3-venv)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing apt packages: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "setup: installing the Rust toolchain with rustup"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
fi
# Node.js runs Azurite, the Azure Blob emulator the storage tests write to.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "setup: installing Node.js and npm"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq nodejs npm
fi
# aiosmtpd is the real SMTP server on loopback the e-mail tests send to (tools/smtp_sink.py).
if ! python3 -c 'import aiosmtpd' >/dev/null 2>&1; then
  echo "setup: installing aiosmtpd"
  python3 -m pip install --quiet aiosmtpd 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages aiosmtpd \
    || { as_root apt-get update -qq && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq python3-aiosmtpd; }
fi
# moto's S3 server (PyPI) is the S3-compatible server on loopback the storage tests start
# (tools/s3: a venv, like Azurite's node_modules; about a minute to install).
if [ ! -x tools/s3/.venv/bin/moto_server ] && [ -f tools/s3/requirements.txt ]; then
  echo "setup: installing moto's S3 server into tools/s3/.venv"
  python3 -m venv tools/s3/.venv 2>/dev/null \
    || { as_root apt-get update -qq && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq python3-venv \
         && python3 -m venv tools/s3/.venv; }
  tools/s3/.venv/bin/pip install --quiet -r tools/s3/requirements.txt
fi
# Esri's ArcGIS API for Python, which a portal-sim test drives against the simulator
# (crates/portal-sim/tests/sim/esri_client.rs): its own venv, pinned; about a minute to install.
ESRI_VENV="$(dirname "${BASH_SOURCE[0]}")/../tools/pyapi/.venv"
if ! "$ESRI_VENV/bin/python" -c 'import arcgis' >/dev/null 2>&1; then
  echo "setup: installing Esri's ArcGIS API for Python (arcgis==2.4.4) into tools/pyapi/.venv"
  python3 -m venv "$ESRI_VENV"
  "$ESRI_VENV/bin/pip" install --quiet arcgis==2.4.4
fi
echo "setup: $(cargo --version), node $(node --version)"

# A fresh random password for a repository a script makes and throws away (benches, checks): no
# fixed password is written into the scripts. Given ORGVAULT_REPOSITORY_PASSWORD wins.
throwaway_repository_password() { python3 -c 'import secrets; print(secrets.token_urlsafe(24))'; }
