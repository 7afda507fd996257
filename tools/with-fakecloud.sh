#!/usr/bin/env bash
# Runs a command with a private fakecloud (IAM-enforcing AWS emulator): free port on 127.0.0.1,
# `--iam strict --verify-sigv4`, state in memory only (a private temp dir as its working and temp
# directory, removed afterwards), waits until it answers, exports FAKECLOUD_ENDPOINT, and stops it
# when the command ends, fails or is interrupted.
# Usage: tools/with-fakecloud.sh <command> [args...]
# Composes with tools/with-moto.sh either way round, e.g.
#   tools/with-moto.sh tools/with-fakecloud.sh cargo test
# Environment:
#   FAKECLOUD_BIN         use this binary instead of tools/install-fakecloud.sh's (which installs once per machine)
#   FAKECLOUD_LOG_LEVEL   server log level (default info; the IAM audit lines are warn)
# Exported to the command:
#   FAKECLOUD_ENDPOINT    http://127.0.0.1:PORT
#   FAKECLOUD_SERVER_LOG  path of the server's log (kept, and its path printed, if the command fails)
# The administrator is the reserved `test`/`test` key (any access key id starting with `test` bypasses
# SigV4 verification and IAM enforcement); every other key is verified and judged. See docs/emulators.md.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python3}"
bin="${FAKECLOUD_BIN:-}"
if [ -z "$bin" ]; then
  bin="$("$here/tools/install-fakecloud.sh" | tail -n 1)"
fi
[ -x "$bin" ] || { echo "with-fakecloud: no fakecloud binary at '$bin'" >&2; exit 1; }

workdir="$(mktemp -d -t fakecloud.XXXXXX)"
log="$workdir/server.log"
fc_pid=""
status=1
cleanup() {
  if [ -n "$fc_pid" ]; then
    kill "$fc_pid" 2>/dev/null || true
    wait "$fc_pid" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ] && [ -s "$log" ]; then
    kept="$(mktemp -t fakecloud-server.XXXXXX.log)"
    cp "$log" "$kept"
    echo "with-fakecloud: fakecloud's log kept at $kept" >&2
  fi
  rm -rf "$workdir"
}
trap cleanup EXIT
trap 'status=130; exit 130' INT TERM

free_port() {
  "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
answers() {
  # GET /_fakecloud/health -> {"status":"ok","version":"0.51.0",...} (fakecloud src/main.rs); no auth needed.
  "$python" - "$1" <<'PY' 2>/dev/null
import json, sys, urllib.request
body = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/_fakecloud/health", timeout=1).read()
sys.exit(0 if json.loads(body).get("status") == "ok" else 1)
PY
}

# The port is free when picked but could be taken before fakecloud binds it: try a few.
started=""
for _attempt in 1 2 3; do
  port="$(free_port)"
  # Strip every FAKECLOUD_* variable from the server's environment: fakecloud reads many of them
  # (FAKECLOUD_STORAGE_MODE, FAKECLOUD_DATA_PATH, FAKECLOUD_IAM, FAKECLOUD_DNS, ...; src/cli.rs), and an
  # outer with-fakecloud.sh exports FAKECLOUD_ENDPOINT. Flags below say everything explicitly.
  unset_fc=()
  for v in $(compgen -v FAKECLOUD_ || true); do unset_fc+=(-u "$v"); done
  (
    cd "$workdir"
    exec env "${unset_fc[@]}" TMPDIR="$workdir" "$bin" \
      --addr "127.0.0.1:$port" \
      --iam strict \
      --verify-sigv4 \
      --storage-mode memory \
      --log-level "${FAKECLOUD_LOG_LEVEL:-info}"
  ) >"$log" 2>&1 &
  fc_pid=$!
  for _ in $(seq 1 300); do
    if answers "$port"; then started=1; break; fi
    if ! kill -0 "$fc_pid" 2>/dev/null; then break; fi
    sleep 0.2
  done
  [ -n "$started" ] && break
  if kill -0 "$fc_pid" 2>/dev/null; then
    echo "with-fakecloud: fakecloud did not answer on port $port within 60 s:" >&2
    tail -n 50 "$log" >&2
    exit 1
  fi
  wait "$fc_pid" 2>/dev/null || true
  fc_pid=""
  if ! grep -qi "address already in use\|addrinuse" "$log"; then
    echo "with-fakecloud: fakecloud exited:" >&2
    tail -n 50 "$log" >&2
    exit 1
  fi
  echo "with-fakecloud: port $port was taken before fakecloud bound it; retrying" >&2
done
if [ -z "$started" ]; then
  echo "with-fakecloud: could not start fakecloud" >&2
  exit 1
fi

export FAKECLOUD_ENDPOINT="http://127.0.0.1:$port"
export FAKECLOUD_SERVER_LOG="$log"
echo "fakecloud on $FAKECLOUD_ENDPOINT (pid $fc_pid, --iam strict --verify-sigv4)" >&2
set +e
"$@"
status=$?
set -e
exit "$status"
