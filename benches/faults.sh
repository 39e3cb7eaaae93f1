#!/usr/bin/env bash
# Benchmark: the scan and the full backup of one simulated organization, fault-free and under
# faults, in one run: the same org (same seed) served by two simulators, the second with
# `--fault-rate 0.1 --token-ttl-s 5` (500/502/504, dropped connections, 30 s stalled bodies, and
# access tokens that expire every 5 s). Both at the same latency.
#
# Prints, for each pair: wall times, the ratio faults ÷ fault-free (target <= 2), and whether the
# results are exact: the same counts (items, users, groups, relationships, references; backed-up
# items, users, groups) and nothing failed or incomplete that did not fail without faults.
#
# Usage: benches/faults.sh [ITEMS USERS GROUPS LATENCY_MS]   (default 12000 2000 500 30)
#   FAULT_RATE (default 0.1), TOKEN_TTL_S (default 5), SKIP_BACKUP=1 for the scans alone,
#   PROFILE=debug for a quick smoke run; CARGO_TARGET_DIR is honoured; KEEP_WORK=1 keeps the logs.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh >/dev/null
ITEMS=${1:-12000}; USERS=${2:-2000}; NGROUPS=${3:-500}; LATENCY=${4:-30}
FAULT_RATE=${FAULT_RATE:-0.1}; TOKEN_TTL_S=${TOKEN_TTL_S:-5}
PROFILE=${PROFILE:-release}
TARGET=${CARGO_TARGET_DIR:-target}
if [ "$PROFILE" = release ]; then
  cargo build --release --quiet --bin portal-sim --bin orgvault; BIN=$TARGET/release
else
  cargo build --quiet --bin portal-sim --bin orgvault; BIN=$TARGET/debug
fi
WORK=$(mktemp -d)
SIM=
trap '[ -n "$SIM" ] && kill $SIM 2>/dev/null; [ "${KEEP_WORK:-0}" = 1 ] && echo "work kept in $WORK" >&2 || rm -rf "$WORK"' EXIT

start_sim() { # extra portal-sim flags... -> sets SIM BASE PORTAL ADMIN PASS
  rm -f "$WORK/ready.json"
  "$BIN/portal-sim" --listen 127.0.0.1:0 --orgs 1 --items "$ITEMS" --users "$USERS" --groups "$NGROUPS" \
    --latency-ms "$LATENCY" "$@" >"$WORK/ready.json" 2>"$WORK/sim.log" &
  SIM=$!
  while [ ! -s "$WORK/ready.json" ]; do sleep 0.02; kill -0 $SIM || { cat "$WORK/sim.log"; exit 1; }; done
  read -r BASE PORTAL ADMIN PASS < <(python3 -c "import json;r=json.load(open('$WORK/ready.json'));o=r['orgs'][0];print(r['base_url'],o['portal_url'],o['admin']['username'],o['admin']['password'])")
  export ORGVAULT_PASSWORD="$PASS"
}
stop_sim() { kill $SIM 2>/dev/null || true; wait $SIM 2>/dev/null || true; SIM=; }
timed() { # name command... : wall seconds into NAME.time, stdout into NAME.json, stderr into NAME.err
  # (stderr holds the recovery key of a repository just created: kept out of the bench's output)
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$WORK/$name.time" "$@" >"$WORK/$name.json" 2>"$WORK/$name.err" \
    || { echo "exit $?" >"$WORK/$name.exit"; grep -v "^    " "$WORK/$name.err" | tail -5 >&2; }
}
# New repositories are encrypted (format 2); the password is read from here, never an argument.
export ORGVAULT_REPOSITORY_PASSWORD="${ORGVAULT_REPOSITORY_PASSWORD:-$(throwaway_repository_password)}"
run_pair() { # label, then the sim's extra flags
  local label=$1; shift
  start_sim "$@"
  export ORGVAULT_DATA_DIR="$WORK/data-$label"
  timed "scan-$label" "$BIN/orgvault" scan --portal "$PORTAL" --username "$ADMIN" --json
  if [ "${SKIP_BACKUP:-0}" != 1 ]; then
    timed "backup-$label" "$BIN/orgvault" backup --portal "$PORTAL" --username "$ADMIN" --to "$WORK/vault-$label" --json
  fi
  curl -s "$BASE/_sim/faults" >"$WORK/faults-$label.json"
  stop_sim
  rm -rf "$WORK/vault-$label"
}

run_pair clean
run_pair faults --fault-rate "$FAULT_RATE" --token-ttl-s "$TOKEN_TTL_S"

python3 - "$WORK" "$LATENCY" "$FAULT_RATE" "$TOKEN_TTL_S" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import json, os, sys
work, lat, rate, ttl, cores, load = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
def load_run(name):
    p = os.path.join(work, name)
    if os.path.exists(p + ".exit"):
        return None, None
    wall = float(open(p + ".time").read().split()[0])
    return wall, json.load(open(p + ".json"))
faults = json.load(open(os.path.join(work, "faults-faults.json")))
print(f"latency {lat} ms; faults: rate {rate}, tokens live {ttl} s; {cores} cores, load average {load} at the end")
print(f"injected under faults: {faults['faults_injected']} of {faults['total_requests']} requests "
      f"({', '.join(f'{k} {v}' for k, v in faults['faults_by_kind'].items())})")
ok = True
for kind, keys in (("scan", ["items", "users", "groups", "relationships", "references", "problems"]),
                   ("backup", ["items", "users", "groups", "failed", "fallbacks"])):
    if not os.path.exists(os.path.join(work, f"{kind}-clean.time")):
        continue
    cw, c = load_run(f"{kind}-clean")
    fw, f = load_run(f"{kind}-faults")
    if c is None or f is None:
        print(f"{kind}: a run FAILED (clean {'ok' if c else 'failed'}, faults {'ok' if f else 'failed'})")
        ok = False
        continue
    same = {k: (c.get(k), f.get(k)) for k in keys}
    exact = all(a == b for a, b in same.values())
    ok = ok and exact and fw <= 2 * cw
    print(f"{kind:<7} fault-free {cw:7.1f} s   under faults {fw:7.1f} s   ratio {fw / cw:.2f} (target <= 2)   "
          f"{'exact' if exact else 'NOT EXACT'}: " + ", ".join(f"{k} {a}/{b}" for k, (a, b) in same.items()))
print("result: " + ("complete and within 2x" if ok else "NOT within target"))
PY
