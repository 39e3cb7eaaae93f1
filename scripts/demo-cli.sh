#!/usr/bin/env bash
# Runs OrgVault against the built-in demo organization. Does all the set-up itself.
#
# The CLI tour of the demo (the desktop app is `scripts/run.sh`): this starts the simulated demo
# organizations (portal-sim, two orgs on loopback), scans the first as its administrator, backs it up
# into a local folder, lists and verifies the snapshot, shows the job history, and leaves the demo
# running so you can try more commands. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

cargo build --quiet --bin orgvault --bin portal-sim
BIN=target/debug
DEMO_DIR="${ORGVAULT_DEMO_DIR:-$PWD/.orgvault-demo}"
mkdir -p "$DEMO_DIR"
export ORGVAULT_DATA_DIR="$DEMO_DIR/data"
# New repositories are encrypted (format 2); the password is read from the environment, never an
# argument. The demo's is made at random on its first run and kept beside its data (mode 600), so a
# second run opens the same repository.
if [ -z "${ORGVAULT_REPOSITORY_PASSWORD:-}" ]; then
  if [ ! -s "$DEMO_DIR/repository-password" ]; then
    (umask 077; throwaway_repository_password >"$DEMO_DIR/repository-password")
  fi
  ORGVAULT_REPOSITORY_PASSWORD="$(cat "$DEMO_DIR/repository-password")"
fi
export ORGVAULT_REPOSITORY_PASSWORD

READY="$DEMO_DIR/ready.json"
rm -f "$READY"
"$BIN/portal-sim" --listen 127.0.0.1:0 --orgs 2 --items 300 --users 40 --groups 12 >"$READY" 2>"$DEMO_DIR/portal-sim.log" &
SIM_PID=$!
trap 'kill $SIM_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do [ -s "$READY" ] && break; sleep 0.1; done
[ -s "$READY" ] || { echo "the demo organization did not start; see $DEMO_DIR/portal-sim.log"; exit 1; }

field() { python3 -c "import json,sys; d=json.load(open('$READY')); print($1)"; }
PORTAL=$(field "d['orgs'][0]['portal_url']")
ADMIN=$(field "d['orgs'][0]['admin']['username']")
export ORGVAULT_PASSWORD=$(field "d['orgs'][0]['admin']['password']")

echo "Demo organization: $PORTAL (administrator: $ADMIN)"
echo
echo "\$ orgvault scan --portal $PORTAL --username $ADMIN"
"$BIN/orgvault" scan --portal "$PORTAL" --username "$ADMIN"
echo
BACKUPS="$DEMO_DIR/backups"
echo "\$ orgvault backup --portal $PORTAL --username $ADMIN --to $BACKUPS --name 'Demo backup'"
"$BIN/orgvault" backup --portal "$PORTAL" --username "$ADMIN" --to "$BACKUPS" --name "Demo backup"
echo
echo "\$ orgvault snapshots --to $BACKUPS"
"$BIN/orgvault" snapshots --to "$BACKUPS"
echo
echo "\$ orgvault verify --to $BACKUPS"
"$BIN/orgvault" verify --to "$BACKUPS"
echo
echo "\$ orgvault jobs"
"$BIN/orgvault" jobs
echo
echo "The demo organizations keep running (their logins are in $READY)."
echo "Try:  ORGVAULT_DATA_DIR=$ORGVAULT_DATA_DIR ORGVAULT_PASSWORD=... $BIN/orgvault scan --portal $PORTAL --username $ADMIN --json"
echo "Press Ctrl-C to stop."
wait $SIM_PID
