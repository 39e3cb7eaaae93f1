#!/usr/bin/env bash
# Benchmark: restore of a simulated organization (default 1,000 items) into an empty one, with
# 30 ms latency per request, beside the same restore run sequentially (--concurrency 1) into a
# second empty org. Prints wall time and request counts of both (requests from the restore's own
# count and from the simulator's /_sim/stats), and the speed-up. Not a timed test.
#
# Usage: benches/restore.sh [ITEMS USERS GROUPS LATENCY_MS]
#   CONCURRENCY   items restored at once in the parallel run (default 16)
#   PROFILE=debug for a quick smoke run; CARGO_TARGET_DIR is honoured (e.g. /work/target-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh >/dev/null
ITEMS=${1:-1000}; USERS=${2:-50}; NGROUPS=${3:-20}; LATENCY=${4:-30}
CONCURRENCY=${CONCURRENCY:-16}
PROFILE=${PROFILE:-release}
TARGET=${CARGO_TARGET_DIR:-target}

if [ "$PROFILE" = release ]; then
  cargo build --release --quiet --bin portal-sim --bin orgvault; BIN=$TARGET/release
else
  cargo build --quiet --bin portal-sim --bin orgvault; BIN=$TARGET/debug
fi
WORK=$(mktemp -d)
SIM=
trap '[ -n "$SIM" ] && kill $SIM 2>/dev/null; rm -rf "$WORK"' EXIT

"$BIN/portal-sim" --listen 127.0.0.1:0 --orgs 3 --empty-orgs 2 --items "$ITEMS" --users "$USERS" --groups "$NGROUPS" \
  --latency-ms "$LATENCY" >"$WORK/ready.json" 2>"$WORK/sim.log" &
SIM=$!
while [ ! -s "$WORK/ready.json" ]; do sleep 0.02; kill -0 $SIM || { cat "$WORK/sim.log"; exit 1; }; done
org() { python3 -c "import json;r=json.load(open('$WORK/ready.json'));o=r['orgs'][$1];print(o['portal_url'],o['url_key'],o['admin']['username'],o['admin']['password'])"; }
BASE=$(python3 -c "import json;print(json.load(open('$WORK/ready.json'))['base_url'])")
read -r A_URL A_KEY A_ADMIN A_PASS < <(org 0)
export ORGVAULT_DATA_DIR="$WORK/data"
# New repositories are encrypted (format 2); the password is read from here, never an argument.
export ORGVAULT_REPOSITORY_PASSWORD="${ORGVAULT_REPOSITORY_PASSWORD:-$(throwaway_repository_password)}"

ORGVAULT_PASSWORD="$A_PASS" "$BIN/orgvault" backup --portal "$A_URL" --username "$A_ADMIN" --to "$WORK/vault" --json >"$WORK/backup.json" 2>"$WORK/backup.err"
SNAP=$(python3 -c "import json;print(json.load(open('$WORK/backup.json'))['snapshot'])")

restore() { # org-index concurrency name
  read -r URL KEY ADMIN PASS < <(org "$1")
  curl -s -X POST "$BASE/_sim/faults/reset" >/dev/null
  local t0 t1
  t0=$(date +%s.%N)
  ORGVAULT_PASSWORD="$PASS" "$BIN/orgvault" restore --from "$WORK/vault" --snapshot "$SNAP" --portal "$URL" \
    --username "$ADMIN" --apply --json --concurrency "$2" >"$WORK/$3.json" 2>"$WORK/$3.err"
  t1=$(date +%s.%N)
  curl -s "$BASE/_sim/stats" >"$WORK/$3.stats.json"
  python3 - "$3" "$t0" "$t1" "$WORK/$3.json" "$WORK/$3.err" "$WORK/$3.stats.json" <<'PY'
import json, re, sys
name, t0, t1, out, err, stats = sys.argv[1:]
r = json.load(open(out)); e = open(err).read()
m = re.search(r"(\d+) requests in (\d+) ms", e)
s = json.load(open(stats))
total = s.get("total_requests", "?")
wall = float(t1) - float(t0)
print(f"{name:<10} wall {wall:7.1f} s  client requests {m.group(1) if m else '?':>6}  sim requests {total:>6}  "
      f"created {r['created']} updated {r['updated']} skipped {r['skipped']} failed {r['failed']}")
open(f"{out}.wall", "w").write(str(wall))
PY
}

echo "restore of $ITEMS items, latency ${LATENCY} ms, snapshot $SNAP"
restore 1 "$CONCURRENCY" parallel
restore 2 1 sequential
python3 -c "
p=float(open('$WORK/parallel.json.wall').read()); s=float(open('$WORK/sequential.json.wall').read())
print(f'speed-up: {s/p:.1f}x (parallel {p:.1f} s vs sequential {s:.1f} s)')"
