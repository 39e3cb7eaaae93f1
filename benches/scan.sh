#!/usr/bin/env bash
# Benchmark: scan a 12,000-item, 2,000-user, 500-group simulated organization with 30 ms latency
# per request. Prints wall time, requests, peak RSS, and the floor (requests / concurrency x latency).
# Also prints the simulator's own start-up time and memory for that organization.
# Usage: benches/scan.sh [ITEMS USERS GROUPS LATENCY_MS]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh >/dev/null
ITEMS=${1:-12000}; USERS=${2:-2000}; NGROUPS=${3:-500}; LATENCY=${4:-30}
CONCURRENCY=16   # the client's maximum (arcgis::PortalConfig::new: max_concurrency)

cargo build --release --quiet --bin portal-sim --bin orgvault
BIN=${CARGO_TARGET_DIR:-target}/release
WORK=$(mktemp -d)
trap 'kill $SIM 2>/dev/null || true; rm -rf "$WORK"' EXIT

t0=$(date +%s.%N)
"$BIN/portal-sim" --listen 127.0.0.1:0 --orgs 1 --items "$ITEMS" --users "$USERS" --groups "$NGROUPS" \
  --latency-ms "$LATENCY" >"$WORK/ready.json" 2>"$WORK/sim.log" &
SIM=$!
while [ ! -s "$WORK/ready.json" ]; do sleep 0.02; kill -0 $SIM || { cat "$WORK/sim.log"; exit 1; }; done
t1=$(date +%s.%N)
SIM_START=$(python3 -c "print(f'{$t1-$t0:.2f}')")
SIM_RSS_KB=$(awk '/VmHWM/ {print $2}' /proc/$SIM/status)

read -r PORTAL ADMIN PASS < <(python3 -c "import json;o=json.load(open('$WORK/ready.json'))['orgs'][0];print(o['portal_url'],o['admin']['username'],o['admin']['password'])")
export ORGVAULT_DATA_DIR="$WORK/data" ORGVAULT_PASSWORD="$PASS"
/usr/bin/time -f "%e %M" -o "$WORK/time" "$BIN/orgvault" scan --portal "$PORTAL" --username "$ADMIN" --json >"$WORK/scan.json"
read -r WALL RSS_KB <"$WORK/time"

python3 - "$WORK/scan.json" "$WALL" "$RSS_KB" "$CONCURRENCY" "$LATENCY" "$SIM_START" "$SIM_RSS_KB" <<'PY'
import json, sys
scan = json.load(open(sys.argv[1]))
wall, rss_kb, conc, lat = float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
sim_start, sim_rss_kb = float(sys.argv[6]), int(sys.argv[7])
req = scan["requests"]
floor = req / conc * lat / 1000
print(f"portal-sim start-up: {sim_start:.2f} s, peak RSS {sim_rss_kb/1024:.0f} MB")
print(f"scan: {scan['items']} items, {scan['users']} users, {scan['groups']} groups, "
      f"{scan['relationships']} relationships, {scan['references']} references, {scan['problems']} problems")
print(f"scan wall time   {wall:.2f} s")
print(f"requests         {req}")
print(f"floor            {floor:.2f} s  (requests / concurrency {conc} x latency {lat} ms)")
print(f"ratio            {wall/floor:.2f} x floor (target <= 1.5)")
print(f"peak RSS         {rss_kb/1024:.0f} MB (target < 150 MB)")
PY
