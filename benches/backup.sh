#!/usr/bin/env bash
# Benchmark: full backup of a simulated organization (default 12,000 items; portal-sim draws file
# sizes from the seed within ~140 KB per item on average, so about 1.7 GB of item data, plus
# exports of the hosted services) with 30 ms latency per request, into a local folder.
# Prints: wall time, MB/s, requests, peak RSS of the backup; the ceiling (the same item files
# fetched by parallel plain HTTP GETs with curl, 16 at a time, the client's concurrency); and an
# incremental backup of the unchanged organization beside the time of a scan alone.
# Usage: benches/backup.sh [ITEMS USERS GROUPS LATENCY_MS]   (PROFILE=debug for a quick smoke run)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh >/dev/null
ITEMS=${1:-12000}; USERS=${2:-2000}; NGROUPS=${3:-500}; LATENCY=${4:-30}
CONCURRENCY=16
PROFILE=${PROFILE:-release}

if [ "$PROFILE" = release ]; then
  cargo build --release --quiet --bin portal-sim --bin orgvault; BIN=target/release
else
  cargo build --quiet --bin portal-sim --bin orgvault; BIN=target/debug
fi
WORK=$(mktemp -d)
trap 'kill $SIM 2>/dev/null || true; rm -rf "$WORK"' EXIT

"$BIN/portal-sim" --listen 127.0.0.1:0 --orgs 1 --items "$ITEMS" --users "$USERS" --groups "$NGROUPS" \
  --latency-ms "$LATENCY" >"$WORK/ready.json" 2>"$WORK/sim.log" &
SIM=$!
while [ ! -s "$WORK/ready.json" ]; do sleep 0.02; kill -0 $SIM || { cat "$WORK/sim.log"; exit 1; }; done
read -r BASE PORTAL KEY ADMIN PASS < <(python3 -c "import json;r=json.load(open('$WORK/ready.json'));o=r['orgs'][0];print(r['base_url'],o['portal_url'],o['url_key'],o['admin']['username'],o['admin']['password'])")
export ORGVAULT_DATA_DIR="$WORK/data" ORGVAULT_PASSWORD="$PASS"
sim_requests() { curl -s "$BASE/_sim/faults" | python3 -c "import json,sys;print(json.load(sys.stdin)['total_requests'])"; }

# 1. Full backup.
R0=$(sim_requests)
/usr/bin/time -f "%e %M" -o "$WORK/full.time" "$BIN/orgvault" backup --portal "$PORTAL" --username "$ADMIN" \
  --to "$WORK/vault" --json >"$WORK/full.json"
R1=$(sim_requests)
read -r FULL_WALL FULL_RSS <"$WORK/full.time"

# 2. Ceiling: every item's /data fetched by plain parallel GETs, same latency, same concurrency.
TOKEN=$(curl -s "$PORTAL/sharing/rest/generateToken" --data-urlencode "username=$ADMIN" --data-urlencode "password=$PASS" \
  -d "client=referer&referer=$PORTAL&expiration=120&f=json" | python3 -c "import json,sys;print(json.load(sys.stdin)['token'])")
curl -s "$BASE/_sim/orgs/$KEY/items" | python3 -c "
import json,sys
for i in json.load(sys.stdin)['ids']:
    print(f'url = \"$PORTAL/sharing/rest/content/items/{i}/data\"'); print('output = /dev/null')" >"$WORK/urls.cfg"
t0=$(date +%s.%N)
curl -s --parallel --parallel-max "$CONCURRENCY" -H "X-Esri-Authorization: Bearer $TOKEN" -K "$WORK/urls.cfg" \
  -w '%{size_download}\n' >"$WORK/sizes.txt" 2>/dev/null
t1=$(date +%s.%N)

# 3. Incremental backup of the unchanged org, and a scan alone.
/usr/bin/time -f "%e %M" -o "$WORK/incr.time" "$BIN/orgvault" backup --portal "$PORTAL" --username "$ADMIN" \
  --to "$WORK/vault" --json >"$WORK/incr.json"
/usr/bin/time -f "%e %M" -o "$WORK/scan.time" "$BIN/orgvault" scan --portal "$PORTAL" --username "$ADMIN" --json >"$WORK/scan.json"
read -r INCR_WALL INCR_RSS <"$WORK/incr.time"
read -r SCAN_WALL _ <"$WORK/scan.time"

python3 - "$WORK" "$FULL_WALL" "$FULL_RSS" "$((R1 - R0))" "$t0" "$t1" "$INCR_WALL" "$INCR_RSS" "$SCAN_WALL" "$LATENCY" <<'PY'
import json, sys, os
work = sys.argv[1]
full_wall, full_rss, reqs = float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
ceil_wall = float(sys.argv[6]) - float(sys.argv[5])
incr_wall, incr_rss, scan_wall, lat = float(sys.argv[7]), int(sys.argv[8]), float(sys.argv[9]), int(sys.argv[10])
full = json.load(open(os.path.join(work, "full.json")))
incr = json.load(open(os.path.join(work, "incr.json")))
ceil_bytes = sum(int(x) for x in open(os.path.join(work, "sizes.txt")).read().split())
got = full["bytes_downloaded"]
print(f"org: {full['items']} items, {full['users']} users, {full['groups']} groups; latency {lat} ms")
print(f"full backup      {full_wall:.1f} s (scan included), {got/1e6:.0f} MB downloaded, {got/1e6/full_wall:.1f} MB/s, "
      f"{reqs} requests, peak RSS {full_rss/1024:.0f} MB, {full['failed']} failed, {full['fallbacks']} fallbacks")
print(f"ceiling          {ceil_wall:.1f} s for {ceil_bytes/1e6:.0f} MB of item /data by 16 parallel plain GETs, "
      f"{ceil_bytes/1e6/ceil_wall:.1f} MB/s")
print(f"full / ceiling   {(got/full_wall)/(ceil_bytes/ceil_wall):.2f} of the ceiling's MB/s (target >= 0.70); "
      f"without the scan ({full_wall-scan_wall:.1f} s): {(got/max(full_wall-scan_wall,0.1))/(ceil_bytes/ceil_wall):.2f}")
print(f"incremental      {incr_wall:.1f} s (scan included), {incr['bytes_new']/1e6:.2f} MB new of {incr['bytes_total']/1e6:.0f} MB, "
      f"{incr['data_downloads']} /data downloads, peak RSS {incr_rss/1024:.0f} MB")
print(f"scan alone       {scan_wall:.1f} s;  incremental / scan = {incr_wall/scan_wall:.2f} (target <= 1.3)")
PY
