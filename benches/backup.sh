#!/usr/bin/env bash
# Benchmark: full backup of a simulated organization (default 12,000 items, about 1.4 GB of item
# files plus the exports of its hosted services) with 30 ms latency per request, into a local folder.
#
# Prints, for the full backup: wall time (scan and backup phase apart), MB downloaded, MB/s, requests
# (per route from the simulator's /_sim/stats), peak RSS. Beside it the ceiling: THE SAME BYTES fetched
# by plain parallel HTTP GETs with curl at the backup's download concurrency. The list comes from the
# simulator (/_sim/orgs/<key>/downloads): every byte-carrying GET a full backup makes (item /data,
# each resource, thumbnails, metadata.xml where it exists, group thumbnails, and per hosted feature
# service the export/replica package via /_sim/.../package, which pays the same latency). Then an
# incremental backup of the unchanged organization beside a scan alone, and (SECOND_ITEMS > 0) the
# peak RSS of a full backup of a second, smaller org, to show memory does not grow with data size.
# After a warm-up backup that is not measured, the full backup runs four times against the same
# simulator, in the order encrypted (the default), plain (--no-encrypt), plain, encrypted ("ABBA"),
# so that neither kind profits from its place in the run (page cache, the machine's load): the ratio of their mean throughputs is what
# encryption costs (target: at most 10%), beside the client's CPU seconds (user + system, which
# the shared machine's load does not inflate) and each one's peak RSS. At LATENCY_MS 0 the backup
# is CPU-bound, the worst case for encryption.
#
# Usage: benches/backup.sh [ITEMS USERS GROUPS LATENCY_MS]
#   CONCURRENCY   download concurrency of the backup and of the ceiling (default 32)
#   SECOND_ITEMS  items of the second org for the RSS comparison (default ITEMS/2; 0 skips it)
#   PROFILE=debug for a quick smoke run; CARGO_TARGET_DIR is honoured.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh >/dev/null
ITEMS=${1:-12000}; USERS=${2:-2000}; NGROUPS=${3:-500}; LATENCY=${4:-30}
CONCURRENCY=${CONCURRENCY:-32}
SECOND_ITEMS=${SECOND_ITEMS:-$((ITEMS / 2))}
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

start_sim() { # items users groups -> sets SIM BASE PORTAL KEY ADMIN PASS
  rm -f "$WORK/ready.json"
  "$BIN/portal-sim" --listen 127.0.0.1:0 --orgs 1 --items "$1" --users "$2" --groups "$3" \
    --latency-ms "$LATENCY" >"$WORK/ready.json" 2>"$WORK/sim.log" &
  SIM=$!
  while [ ! -s "$WORK/ready.json" ]; do sleep 0.02; kill -0 $SIM || { cat "$WORK/sim.log"; exit 1; }; done
  read -r BASE PORTAL KEY ADMIN PASS < <(python3 -c "import json;r=json.load(open('$WORK/ready.json'));o=r['orgs'][0];print(r['base_url'],o['portal_url'],o['url_key'],o['admin']['username'],o['admin']['password'])")
  export ORGVAULT_PASSWORD="$PASS"
}
stop_sim() { kill $SIM 2>/dev/null || true; wait $SIM 2>/dev/null || true; SIM=; }
reset_stats() { curl -s -X POST "$BASE/_sim/faults/reset" >/dev/null; }
save_stats() { curl -s "$BASE/_sim/stats" >"$WORK/$1.stats.json"; }
backup() { # name dest [extra args]
  local name=$1 dest=$2; shift 2
  /usr/bin/time -f "%e %M %U %S" -o "$WORK/$name.time" "$BIN/orgvault" backup --portal "$PORTAL" --username "$ADMIN" \
    --to "$dest" --download-concurrency "$CONCURRENCY" --json "$@" >"$WORK/$name.json" 2>"$WORK/$name.err" \
    || { cat "$WORK/$name.err" >&2; exit 1; }
  # stderr holds the recovery key of a repository just created: kept out of the bench's output.
}

export ORGVAULT_DATA_DIR="$WORK/data"
# New repositories are encrypted (format 2); the password is read from here, never an argument.
export ORGVAULT_REPOSITORY_PASSWORD="${ORGVAULT_REPOSITORY_PASSWORD:-$(throwaway_repository_password)}"
start_sim "$ITEMS" "$USERS" "$NGROUPS"

# 1. Full backup (encrypted), and the same into a plain repository.
# 0. A warm-up backup, not measured: the first backup against a fresh simulator was measured
#    markedly slower than the rest whatever its kind (5.8 s against 3.5-3.8 s at 3,000 items and
#    no latency: allocator and page-cache warm-up of a just-started simulator), so whichever kind
#    ran first paid for it.
backup warm "$WORK/vault-warm" --no-encrypt; rm -rf "$WORK/vault-warm"
reset_stats; backup full "$WORK/vault"; save_stats full
reset_stats; backup plain "$WORK/vault-plain" --no-encrypt
reset_stats; backup plain2 "$WORK/vault-plain2" --no-encrypt
reset_stats; backup enc2 "$WORK/vault-enc2"
rm -rf "$WORK/vault-plain" "$WORK/vault-plain2" "$WORK/vault-enc2"

# 2. Ceiling: the same bytes by plain parallel GETs, same latency, same download concurrency.
TOKEN=$(curl -s "$PORTAL/sharing/rest/generateToken" --data-urlencode "username=$ADMIN" --data-urlencode "password=$PASS" \
  -d "client=referer&referer=$PORTAL&expiration=120&f=json" | python3 -c "import json,sys;print(json.load(sys.stdin)['token'])")
curl -s "$BASE/_sim/orgs/$KEY/downloads" >"$WORK/downloads.json"
# The token goes in each URL's query, not a header: a file's /data redirects to the storage
# host (-L follows), and curl would carry a custom header there; a query stays behind.
python3 - "$WORK/downloads.json" "$BASE" "$TOKEN" >"$WORK/urls.cfg" <<'PY'
import json, sys
for p in json.load(open(sys.argv[1]))["paths"]:
    sep = "&" if "?" in p else "?"
    print(f'url = "{sys.argv[2]}{p}{sep}token={sys.argv[3]}"'); print('output = /dev/null')
PY
reset_stats
t0=$(date +%s.%N)
curl -s -L --parallel --parallel-immediate --parallel-max "$CONCURRENCY" \
  -H "Referer: $PORTAL" -K "$WORK/urls.cfg" -w '%{http_code} %{size_download}\n' >"$WORK/sizes.txt" 2>/dev/null || true
t1=$(date +%s.%N)
save_stats ceiling

# 3. Incremental backup of the unchanged org, and a scan alone.
reset_stats; backup incr "$WORK/vault"; save_stats incr
/usr/bin/time -f "%e %M" -o "$WORK/scan.time" "$BIN/orgvault" scan --portal "$PORTAL" --username "$ADMIN" --json >"$WORK/scan.json"
stop_sim

# 4. Peak RSS of a full backup of a second org of another data size.
if [ "$SECOND_ITEMS" -gt 0 ]; then
  export ORGVAULT_DATA_DIR="$WORK/data2"
  start_sim "$SECOND_ITEMS" $((USERS * SECOND_ITEMS / ITEMS)) $((NGROUPS * SECOND_ITEMS / ITEMS))
  backup second "$WORK/vault2"
  stop_sim
fi

python3 - "$WORK" "$t0" "$t1" "$LATENCY" "$CONCURRENCY" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import json, sys, os
work, t0, t1, lat, conc, cores, load = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6], sys.argv[7]
def timed(name):
    wall, rss = open(os.path.join(work, name + ".time")).read().split()[:2]
    return float(wall), int(rss) / 1024
def js(name):
    return json.load(open(os.path.join(work, name + ".json")))
def stats(name):
    return json.load(open(os.path.join(work, name + ".stats.json")))
full, incr = js("full"), js("incr")
full_wall, full_rss = timed("full")
incr_wall, incr_rss = timed("incr")
scan_wall, _ = timed("scan")
ceil_wall = t1 - t0
sizes = [l.split() for l in open(os.path.join(work, "sizes.txt")) if l.strip()]
ceil_bytes = sum(int(s) for _, s in sizes)
ceil_bad = sum(1 for c, _ in sizes if not c.startswith("2"))
dl = json.load(open(os.path.join(work, "downloads.json")))
got = full["bytes_downloaded"]
fs = stats("full")
backup_s = full.get("backup_seconds") or max(full_wall - scan_wall, 0.1)
scan_s = full.get("scan_seconds") or scan_wall
print(f"org: {full['items']} items, {full['users']} users, {full['groups']} groups; latency {lat} ms; "
      f"download concurrency {conc}; {cores} cores, load average {load} at the end")
print(f"full backup      {full_wall:.1f} s = scan {scan_s:.1f} s + backup {backup_s:.1f} s; {got/1e6:.0f} MB downloaded, "
      f"{fs['total_requests']} requests (backup {full['requests']}, scan {full.get('scan_requests', '?')}), "
      f"peak RSS {full_rss:.0f} MB, {full['failed']} failed, {full['fallbacks']} fallbacks")
print(f"ceiling          {ceil_wall:.1f} s for {ceil_bytes/1e6:.0f} MB by {len(sizes)} plain GETs at {conc} in parallel "
      f"({ceil_bad} not 2xx; {dl['hosted']} service packages, {dl['query_fallback']} of them standing in for a query fallback), "
      f"{ceil_bytes/1e6/ceil_wall:.1f} MB/s")
print(f"backup phase     {got/1e6/backup_s:.1f} MB/s = {(got/backup_s)/(ceil_bytes/ceil_wall):.2f} of the ceiling (target >= 0.70); "
      f"with the scan: {got/1e6/full_wall:.1f} MB/s = {(got/full_wall)/(ceil_bytes/ceil_wall):.2f}")
print(f"bytes            backup downloaded {got/1e6:.1f} MB, ceiling {ceil_bytes/1e6:.1f} MB")
print("full backup requests by route:")
for r in fs["routes"][:14]:
    print(f"  {r['requests']:>7}  {r['route']}")
def run_figures(name):
    j = js(name)
    wall, rss = timed(name)
    user, system = (float(x) for x in open(os.path.join(work, name + ".time")).read().split()[2:4])
    secs = j.get("backup_seconds") or max(wall - scan_wall, 0.1)
    return j["bytes_downloaded"] / secs, secs, user + system, rss
enc = [run_figures(n) for n in ("full", "enc2")]
plain = [run_figures(n) for n in ("plain", "plain2")]
mean = lambda runs, i: sum(r[i] for r in runs) / len(runs)
enc_tp, plain_tp = mean(enc, 0), mean(plain, 0)
print(f"encryption       ABBA: backup phase encrypted {' / '.join(f'{r[1]:.1f} s' for r in enc)}, plain "
      f"{' / '.join(f'{r[1]:.1f} s' for r in plain)}; mean {enc_tp/1e6:.1f} vs {plain_tp/1e6:.1f} MB/s: encrypted / plain = "
      f"{enc_tp/plain_tp:.2f} (target >= 0.90)")
print(f"                 client CPU (user+sys, whole run) encrypted {mean(enc, 2):.1f} s, plain {mean(plain, 2):.1f} s: "
      f"plain / encrypted = {mean(plain, 2)/mean(enc, 2):.2f}; peak RSS encrypted {max(r[3] for r in enc):.0f} MB, "
      f"plain {max(r[3] for r in plain):.0f} MB")
print(f"incremental      {incr_wall:.1f} s (scan included), {incr['bytes_new']/1e6:.2f} MB new of {incr['bytes_total']/1e6:.0f} MB, "
      f"{incr['data_downloads']} /data downloads, {stats('incr')['total_requests']} requests, peak RSS {incr_rss:.0f} MB")
print(f"scan alone       {scan_wall:.1f} s;  incremental / scan = {incr_wall/scan_wall:.2f} (target <= 1.3)")
if os.path.exists(os.path.join(work, "second.json")):
    second = js("second")
    sw, srss = timed("second")
    print(f"peak RSS by data size: {full['items']} items / {got/1e6:.0f} MB -> {full_rss:.0f} MB;  "
          f"{second['items']} items / {second['bytes_downloaded']/1e6:.0f} MB -> {srss:.0f} MB (target <= 200 MB)")
PY
