#!/usr/bin/env bash
# Checks the Linux packages as a user gets them (CI: scripts/test.sh runs it after scripts/e2e.sh,
# which bundles the debug build into target/e2e/*.deb and *.rpm):
#  1. the .rpm holds the same files as the .deb (rpm -qlp beside dpkg-deb -c);
#  2. `apt-get install ./<deb>` installs it (timed); every shared library the two installed
#     binaries load comes from a package the .deb depends on, directly or through its
#     dependencies (so a fresh Debian/Ubuntu gets what it needs); the menu entry, the icons and
#     the systemd user unit are in place and valid;
#  3. the INSTALLED `orgvault --version` names this checkout's commit, and the installed CLI backs
#     up a simulated organization (portal-sim from the build tree) and verifies the snapshot;
#  4. the INSTALLED app starts under Xvfb and passes the end-to-end smoke test
#     (ORGVAULT_APP=/usr/bin/orgvault-desktop; PACKAGE_START_RUNS=5 also measures its start-up);
#  5. `apt-get remove --purge` leaves nothing of the package (each path of `dpkg -L` gone, or a
#     directory another package owns) but the user's data (both data folders still there).
# Needs root or sudo (apt), and the build tree's portal-sim (built by `cargo test`).
#
#   scripts/package-check.sh [DEB [RPM]]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH"
target="${CARGO_TARGET_DIR:-$root/target}"
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
fail() { echo "package-check: FAILED: $*" >&2; exit 1; }

deb="$(realpath "${1:-$(ls "$target"/e2e/*.deb 2>/dev/null | head -1)}")"
rpm="$(realpath "${2:-$(ls "$target"/e2e/*.rpm 2>/dev/null | head -1)}")"
[[ -f "$deb" ]] || fail "no .deb (run scripts/e2e.sh, which bundles one into $target/e2e/)"
[[ -f "$rpm" ]] || fail "no .rpm beside the .deb"
for tool in dpkg-deb rpm apt-get systemd-analyze desktop-file-validate; do
  command -v "$tool" >/dev/null || fail "$tool is missing (see scripts/setup.sh)"
done
pkg="$(dpkg-deb -f "$deb" Package)"
work="$(mktemp -d)"
sim_pid=""
cleanup() {
  [[ -n "$sim_pid" ]] && kill "$sim_pid" 2>/dev/null || true
  # Never leave the package installed on the machine, whatever failed.
  if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    as_root apt-get remove --purge -y -qq "$pkg" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
echo "package-check: $deb ($(du -h "$deb" | cut -f1)), $rpm ($(du -h "$rpm" | cut -f1)); package $pkg"

echo "== 1. the .rpm and the .deb hold the same files"
dpkg-deb -c "$deb" | awk '$1 ~ /^[-l]/ {sub(/^\.?\/?/, "/", $6); print $6}' | sort >"$work/deb-files"
rpm -qlvp "$rpm" 2>/dev/null | awk '$1 ~ /^[-l]/ {print $9}' | sort >"$work/rpm-files"
[[ -s "$work/deb-files" ]] || fail "the .deb lists no files"
diff -u "$work/deb-files" "$work/rpm-files" || fail "the .rpm's files differ from the .deb's (- deb, + rpm)"
sed 's/^/  /' "$work/deb-files"
rpm -qip "$rpm" 2>/dev/null | grep -E '^(Name|Version|Architecture|Size|Summary)' | sed 's/^/  /'
rpm -qRp "$rpm" 2>/dev/null | grep -v '^rpmlib(' | sed 's/^/  requires: /'
for f in /usr/bin/orgvault-desktop /usr/bin/orgvault /usr/lib/systemd/user/orgvault.service; do
  grep -qx "$f" "$work/deb-files" || fail "$f is not in the packages"
done
grep -q '^/usr/share/applications/.*\.desktop$' "$work/deb-files" || fail "no menu entry (.desktop) in the packages"
grep -q '^/usr/share/icons/hicolor/.*/apps/.*\.png$' "$work/deb-files" || fail "no icons in the packages"

echo "== 2. apt-get install ./$(basename "$deb")"
if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
  echo "  $pkg was installed (a run that did not finish): purging it first"
  as_root apt-get remove --purge -y -qq "$pkg" >/dev/null
fi
dpkg-deb -f "$deb" Depends Recommends | sed 's/^/  /'
start_ns=$(date +%s%N)
DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$deb" >"$work/apt-install.log" 2>&1 \
  || { cat "$work/apt-install.log"; fail "apt-get install ./$(basename "$deb")"; }
echo "  installed in $(( ($(date +%s%N) - start_ns) / 1000000 )) ms (apt-get install; its dependencies were present)"
dpkg -L "$pkg" | sort >"$work/installed-paths"

# Every library the binaries load, by the package that owns it, must be in the .deb's dependency closure.
apt-cache depends --recurse --installed --no-recommends --no-suggests --no-conflicts --no-breaks \
  --no-replaces --no-enhances "$pkg" 2>/dev/null | sed -n 's/^ *\(Pre\)\?Depends: //p; /^[a-z0-9]/p' \
  | sed 's/[<>]//g; s/:.*$//' | sort -u >"$work/closure"
missing=0
for bin in /usr/bin/orgvault-desktop /usr/bin/orgvault; do
  while read -r lib; do
    owner="$(dpkg -S "$(realpath "$lib")" 2>/dev/null | head -1 | cut -d: -f1)" || true
    [[ -z "$owner" ]] && owner="$(dpkg -S "$lib" 2>/dev/null | head -1 | cut -d: -f1)" || true
    if [[ -z "$owner" ]]; then echo "  $bin loads $lib, which no package owns"; missing=1; continue; fi
    grep -qx "$owner" "$work/closure" || { echo "  $bin loads $lib from $owner, which $pkg does not depend on"; missing=1; }
  done < <(ldd "$bin" | awk '$3 ~ /^\// {print $3}')
done
[[ $missing -eq 0 ]] || fail "the .deb's Depends miss libraries its binaries load"
echo "  every library of orgvault-desktop ($(ldd /usr/bin/orgvault-desktop | grep -c '=> /')) and orgvault ($(ldd /usr/bin/orgvault | grep -c '=> /')) comes from $pkg's dependencies"

desktop_file="$(grep '^/usr/share/applications/.*\.desktop$' "$work/installed-paths" | head -1)"
desktop-file-validate "$desktop_file" || fail "the menu entry $desktop_file is not valid"
grep -q '^Exec=orgvault-desktop' "$desktop_file" || fail "the menu entry does not start orgvault-desktop: $(grep ^Exec "$desktop_file")"
icon="$(sed -n 's/^Icon=//p' "$desktop_file")"
ls /usr/share/icons/hicolor/*/apps/"$icon".png >/dev/null || fail "the menu entry's icon $icon is not installed"
systemd-analyze verify /usr/lib/systemd/user/orgvault.service || fail "systemd-analyze rejects the user unit"
echo "  menu entry $desktop_file (icon $icon) and /usr/lib/systemd/user/orgvault.service are valid"

echo "== 3. the installed CLI: --version, and a backup of a simulated organization"
want="orgvault $(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1) (commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown))"
got="$(/usr/bin/orgvault --version)"
echo "  $got"
[[ "$got" == "$want" ]] || fail "orgvault --version says '$got', not '$want'"
[[ "$(command -v orgvault)" == /usr/bin/orgvault ]] || fail "orgvault on the PATH is $(command -v orgvault)"
sim="$target/debug/portal-sim"
[[ -x "$sim" ]] || cargo build --quiet --bin portal-sim
ready="$work/ready.json"
"$sim" --listen 127.0.0.1:0 --orgs 1 --items 40 --users 5 --groups 3 >"$ready" 2>"$work/portal-sim.log" &
sim_pid=$!
for _ in $(seq 1 100); do [[ -s "$ready" ]] && break; sleep 0.1; done
[[ -s "$ready" ]] || { cat "$work/portal-sim.log"; fail "portal-sim did not start"; }
field() { python3 -c "import json; d=json.load(open('$ready')); print($1)"; }
cli_data="$work/cli-data"
# New repositories are encrypted: the password comes from the environment (never an argument).
# The recovery key the CLI prints once goes to stderr, kept out of this log unless it fails.
export ORGVAULT_REPOSITORY_PASSWORD="$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')"
ORGVAULT_DATA_DIR="$cli_data" ORGVAULT_PASSWORD="$(field "d['orgs'][0]['admin']['password']")" orgvault backup \
  --portal "$(field "d['orgs'][0]['portal_url']")" --username "$(field "d['orgs'][0]['admin']['username']")" \
  --to "$work/repo" --name installed >"$work/backup.log" 2>"$work/backup.err" \
  || { cat "$work/backup.log" "$work/backup.err"; fail "the installed CLI's backup"; }
tail -3 "$work/backup.log" | sed 's/^/  /'
ORGVAULT_DATA_DIR="$cli_data" orgvault verify --to "$work/repo" >"$work/verify.log" 2>&1 \
  || { cat "$work/verify.log"; fail "the installed CLI's verify"; }
tail -2 "$work/verify.log" | sed 's/^/  /'
kill "$sim_pid"; wait "$sim_pid" 2>/dev/null || true; sim_pid=""

echo "== 4. the installed app under Xvfb: the end-to-end smoke test"
app_data="$work/app-data"
# A debug app writes the UI's bindings into its build tree at start; the installed one must not.
export ORGVAULT_NO_BINDINGS=1
E2E_SKIP_BUILD=1 ORGVAULT_APP=/usr/bin/orgvault-desktop E2E_ONLY=smoke.test.mjs \
  E2E_START_RUNS="${PACKAGE_START_RUNS:-0}" E2E_FIRST_SCREEN=installed E2E_DATA_DIR="$app_data" \
  ORGVAULT_EXPECT_VERSION="${got#orgvault }" \
  scripts/e2e.sh || fail "the smoke test against the installed app"

echo "== 5. apt-get remove --purge leaves nothing of the package but the user's data"
as_root apt-get remove --purge -y -qq "$pkg" >"$work/apt-remove.log" 2>&1 || { cat "$work/apt-remove.log"; fail "apt-get remove --purge"; }
left=0
while read -r path; do
  [[ -e "$path" || -L "$path" ]] || continue
  if [[ -d "$path" && ! -L "$path" ]] && dpkg -S "$path" >/dev/null 2>&1; then continue; fi   # shared, e.g. /usr/bin
  echo "  left behind: $path"; left=1
done <"$work/installed-paths"
[[ $left -eq 0 ]] || fail "the package left files behind"
! dpkg-query -W "$pkg" >/dev/null 2>&1 || fail "dpkg still knows $pkg after --purge"
[[ -f "$cli_data/orgvault.sqlite" && -d "$app_data" && -d "$work/repo" ]] \
  || fail "the user's data (the CLI's and the app's data folders, the repository) must stay"
echo "  $(wc -l <"$work/installed-paths") paths of $pkg gone; the user's data folders and repository stay"
echo "package-check: OK"
