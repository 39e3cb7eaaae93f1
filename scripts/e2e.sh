#!/usr/bin/env bash
# End-to-end tests in the real window: builds the UI and the debug app (and bundles it as .deb
# and .rpm), starts Xvfb and tauri-driver, and runs tests/*.test.mjs (WebdriverIO). Exits
# non-zero when anything fails.
#
#   scripts/e2e.sh                   # build and test
#   ORGVAULT_SCREENSHOTS=1 scripts/e2e.sh   # also write docs/screenshots/*.png
#   E2E_SKIP_BUILD=1 scripts/e2e.sh  # reuse target/e2e/orgvault-desktop (under CARGO_TARGET_DIR if set)
#   E2E_BUNDLES=none scripts/e2e.sh  # build the app but not the .deb/.rpm (default: deb,rpm, copied
#                                    # to target/e2e/ for scripts/package-check.sh)
#   ORGVAULT_APP=/usr/bin/orgvault-desktop E2E_SKIP_BUILD=1 scripts/e2e.sh   # test an installed app
#   E2E_ONLY="smoke.test.mjs identities.test.mjs" scripts/e2e.sh   # only these files, in order
#   E2E_START_RUNS=0 scripts/e2e.sh  # skip the start-up measurement (default: 5 launches)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# Cargo's target folder: CARGO_TARGET_DIR when set (a worktree's own), else target/.
target="${CARGO_TARGET_DIR:-$root/target}"
display="${E2E_DISPLAY:-:99}"
driver_port="${TAURI_DRIVER_PORT:-4444}"
tauri_driver="${TAURI_DRIVER:-$(command -v tauri-driver || echo "$HOME/.cargo/bin/tauri-driver")}"
work="$(mktemp -d)"
pids=()

cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ "${status:-1}" -eq 0 ]]; then rm -rf "$work"; else echo "e2e: logs and app data kept in $work" >&2; fi
}
trap cleanup EXIT

for tool in node npm Xvfb WebKitWebDriver "$tauri_driver"; do
  command -v "$tool" >/dev/null || { echo "e2e: $tool is missing (see scripts/setup.sh)" >&2; exit 2; }
done

echo "e2e: installing test packages"
npm install --prefix tests --no-audit --no-fund >"$work/npm-e2e.log" 2>&1 || { cat "$work/npm-e2e.log"; exit 1; }

if [[ -z "${E2E_SKIP_BUILD:-}" ]]; then
  echo "e2e: installing UI packages"
  npm install --prefix ui --no-audit --no-fund >"$work/npm-ui.log" 2>&1 || { cat "$work/npm-ui.log"; exit 1; }
  # The packages carry the CLI too: build it (already built by `cargo test` in CI) and stage it.
  echo "e2e: building the CLI for the packages"
  cargo build --bin orgvault >"$work/build-cli.log" 2>&1 || { tail -50 "$work/build-cli.log"; exit 1; }
  scripts/stage-cli.sh debug
  # The app is compiled once, then bundled as .deb and .rpm (scripts/package-check.sh installs
  # them); E2E_BUNDLES=none skips the bundling (same compiled app) for a quicker local run.
  bundles="${E2E_BUNDLES:-deb,rpm}"
  if [[ "$bundles" == none ]]; then bundle_args=(--no-bundle); else bundle_args=(--bundles "$bundles"); fi
  echo "e2e: building the UI and the debug app (tauri build --debug ${bundle_args[*]})"
  (cd src-tauri && ../tests/node_modules/.bin/tauri build --debug "${bundle_args[@]}" \
    --config tauri.app.conf.json --config tauri.bundle.conf.json) \
    >"$work/build.log" 2>&1 || { tail -50 "$work/build.log"; exit 1; }
  # A later `cargo build`/`cargo test` rewrites target/debug/orgvault-desktop as a dev binary that
  # waits for the Vite dev server, and a later bundling replaces the packages: the tests use their
  # own copies of the bundled build and of the packages.
  mkdir -p "$target/e2e"
  cp "$target/debug/orgvault-desktop" "$target/e2e/orgvault-desktop"
  rm -f "$target"/e2e/*.deb "$target"/e2e/*.rpm
  if [[ "$bundles" != none ]]; then
    cp "$target"/debug/bundle/deb/*.deb "$target"/debug/bundle/rpm/*.rpm "$target/e2e/"
    ls -l "$target"/e2e/*.deb "$target"/e2e/*.rpm
  fi
fi
app="${ORGVAULT_APP:-$target/e2e/orgvault-desktop}"
echo "e2e: the app under test is $app"
[[ -x "$app" ]] || { echo "e2e: no app at $app" >&2; exit 1; }

echo "e2e: starting Xvfb on $display"
Xvfb "$display" -screen 0 1400x900x24 -nolisten tcp >"$work/xvfb.log" 2>&1 &
pids+=($!)
export DISPLAY="$display"
for _ in $(seq 50); do xdpyinfo >/dev/null 2>&1 && break; sleep 0.1; done

# The app keeps its data in a fresh folder: the tests start from no identity.
# (E2E_DATA_DIR: a folder of the caller's, kept afterwards.)
export ORGVAULT_DATA_DIR="${E2E_DATA_DIR:-$work/data}"
export ORGVAULT_APP="$app"
# The app writes the demo simulator's ready line (base URL, admin and non-admin logins) here.
export ORGVAULT_DEMO_READY_FILE="$work/demo-ready.json"
export TAURI_DRIVER_PORT="$driver_port"
# No D-Bus session here: notifications fail quietly; keep GTK from looking for accessibility.
export NO_AT_BRIDGE=1

# An S3-compatible server on loopback (moto, installed by scripts/setup.sh) for the test that
# backs up into a bucket from the identity form: two users (one may not delete) and a bucket.
moto="$PWD/tools/s3/.venv/bin/moto_server"
if [[ -x "$moto" ]]; then
  s3_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  echo "e2e: starting moto's S3 server on 127.0.0.1:$s3_port"
  INITIAL_NO_AUTH_ACTION_COUNT=6 "$moto" -H 127.0.0.1 -p "$s3_port" >"$work/moto.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$s3_port") 2>/dev/null && break; sleep 0.1; done
  s3_endpoint="http://127.0.0.1:$s3_port"
  users=$(tools/s3/.venv/bin/python tools/s3/s3-admin.py users "$s3_endpoint")
  read -r full_id full_secret < <(python3 -c 'import json,sys; u=json.loads(sys.argv[1]); print(*u["full"])' "$users")
  tools/s3/.venv/bin/python tools/s3/s3-admin.py bucket "$s3_endpoint" orgvault-e2e "$full_id" "$full_secret" >/dev/null
  # The keys are moto's, made just now; the tests read them from this file, not from arguments.
  python3 -c 'import json,sys; u=json.loads(sys.argv[1]); print(json.dumps({"endpoint": sys.argv[2], "bucket": "orgvault-e2e", **u}))' \
    "$users" "$s3_endpoint" >"$work/s3.json"
  export ORGVAULT_E2E_S3="$work/s3.json"
fi

echo "e2e: starting tauri-driver on 127.0.0.1:$driver_port"
"$tauri_driver" --port "$driver_port" >"$work/tauri-driver.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$driver_port") 2>/dev/null && break
  sleep 0.1
done

echo "e2e: running the tests"
status=0
# The smoke test runs first: it starts from no identity. The others share its data folder.
# The S3 test runs right after it: in a later place (after identities and schedules) its
# credential check intermittently got no answer within 60 s (cause not yet found; see the test).
# The restore files run last: their backups of demo organization A make the workflow test's
# backup reuse everything (it checks the bytes it downloads) and their restores would be listed
# beside the one restore the workflow test expects in Jobs.
tests=(smoke.test.mjs storage-s3.test.mjs)
late=()
for f in tests/*.test.mjs; do
  case "$(basename "$f")" in
    smoke.test.mjs | storage-s3.test.mjs) ;;
    restore-*.test.mjs) late+=("$(basename "$f")") ;;
    *) tests+=("$(basename "$f")") ;;
  esac
done
tests+=("${late[@]}")
[[ -n "${E2E_ONLY:-}" ]] && tests=($E2E_ONLY)
# One runner per file, in this order (the runner would sort them itself); each opens its own window.
for t in "${tests[@]}"; do
  echo "e2e: $t"
  (cd tests && node --test --test-reporter=spec "$t") || status=$?
  # A file that leaves a schedule enabled leaves its app running in the tray after its window
  # closed (the product's behaviour); the next file starts from no running app.
  pkill -f "^${app}( |$)" 2>/dev/null && sleep 1 || true
done
if [[ $status -eq 0 && "${E2E_START_RUNS:-5}" -gt 0 ]]; then
  echo "e2e: measuring app start to first paint"
  (cd tests && node measure-start.mjs "${E2E_START_RUNS:-5}") || status=$?
fi
if [[ $status -ne 0 ]]; then
  echo "e2e: FAILED (tauri-driver log follows)" >&2
  tail -40 "$work/tauri-driver.log" >&2 || true
fi
exit $status
