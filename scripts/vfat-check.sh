#!/usr/bin/env bash
# Checks that a repository works on a file system without hard links: formats a FAT image, mounts
# it (through a loop device with the kernel's vfat driver, or else with the user-space FUSE driver
# `fusefat`), and runs backup, snapshots, verify, a second (incremental) backup, verify and prune
# into it against the simulated portal. Needs root (for mount), mkfs.vfat (dosfstools) and
# losetup or fusefat. Skips, saying why, only when neither a loop device with vfat nor fusefat
# is available; any other failure fails.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

skip() { echo "SKIPPED: $*"; exit 0; }
command -v mkfs.vfat >/dev/null || { echo "mkfs.vfat is missing: apt-get install dosfstools"; exit 1; }

cargo build --quiet --bin orgvault --bin portal-sim
BIN="${CARGO_TARGET_DIR:-target}/debug"
WORK=$(mktemp -d)
MNT="$WORK/fat"
mkdir -p "$MNT"
MOUNTED=""
SIM_PID=""
cleanup() {
  [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null || true
  if [ -n "$MOUNTED" ]; then umount "$MNT" 2>/dev/null || fusermount -u "$MNT" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

truncate -s 256M "$WORK/fat.img"
mkfs.vfat "$WORK/fat.img" >/dev/null
if [ -e /dev/loop-control ] && grep -qw vfat /proc/filesystems && mount -o loop "$WORK/fat.img" "$MNT" 2>/dev/null; then
  MOUNTED=kernel
  echo "FAT image mounted through a loop device (kernel vfat)"
elif command -v fusefat >/dev/null && [ -e /dev/fuse ]; then
  if ! grep -qw vfat /proc/filesystems; then echo "this kernel has no vfat driver; using fusefat"; fi
  fusefat -o rw+ "$WORK/fat.img" "$MNT" >/dev/null
  MOUNTED=fuse
  echo "FAT image mounted with fusefat"
else
  [ -e /dev/loop-control ] || skip "no loop device here, and no fusefat (apt-get install fusefat)"
  skip "the kernel has no vfat driver, and there is no fusefat (apt-get install fusefat)"
fi
touch "$MNT/probe" && if ln "$MNT/probe" "$MNT/probe-link" 2>/dev/null; then
  echo "this FAT mount allows hard links; the check would prove nothing"; exit 1
fi
rm -f "$MNT/probe"

export ORGVAULT_DATA_DIR="$WORK/data"
# New repositories are encrypted (format 2); the password is read from here, never an argument.
export ORGVAULT_REPOSITORY_PASSWORD="${ORGVAULT_REPOSITORY_PASSWORD:-$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')}"
READY="$WORK/ready.json"
"$BIN/portal-sim" --listen 127.0.0.1:0 --orgs 1 --items 40 --users 5 --groups 3 >"$READY" 2>"$WORK/portal-sim.log" &
SIM_PID=$!
for _ in $(seq 1 100); do [ -s "$READY" ] && break; sleep 0.1; done
[ -s "$READY" ] || { echo "portal-sim did not start"; cat "$WORK/portal-sim.log"; exit 1; }
field() { python3 -c "import json; d=json.load(open('$READY')); print($1)"; }
PORTAL=$(field "d['orgs'][0]['portal_url']")
ADMIN=$(field "d['orgs'][0]['admin']['username']")
export ORGVAULT_PASSWORD=$(field "d['orgs'][0]['admin']['password']")

TO="$MNT/backups"
"$BIN/orgvault" backup --portal "$PORTAL" --username "$ADMIN" --to "$TO" --name first
"$BIN/orgvault" snapshots --to "$TO"
"$BIN/orgvault" verify --to "$TO"
"$BIN/orgvault" backup --portal "$PORTAL" --username "$ADMIN" --to "$TO" --name second
"$BIN/orgvault" verify --to "$TO"
"$BIN/orgvault" forget --to "$TO" --keep-last 1
"$BIN/orgvault" prune --to "$TO"
"$BIN/orgvault" verify --to "$TO"
echo "OK: backup, verify and prune work on FAT ($MOUNTED mount, no hard links)"
