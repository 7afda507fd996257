#!/usr/bin/env bash
# Runs a command with a private moto server: free port on 127.0.0.1, waits until it answers,
# exports MOTO_ENDPOINT (and MOTO_PID), and stops it when the command ends, fails or is interrupted.
# Usage: tools/with-moto.sh <command> [args...]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
venv="${VENV:-$here/.venv}"
port="$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
log="$(mktemp -t moto.XXXXXX.log)"
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
moto_pid=$!
cleanup() {
  kill "$moto_pid" 2>/dev/null || true
  wait "$moto_pid" 2>/dev/null || true
  rm -f "$log"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for _ in $(seq 1 100); do
  if "$venv/bin/python" - "$port" <<'PY' 2>/dev/null; then break; fi
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/moto-api/", timeout=1)
PY
  if ! kill -0 "$moto_pid" 2>/dev/null; then echo "moto server exited:" >&2; cat "$log" >&2; exit 1; fi
  sleep 0.2
done
export MOTO_ENDPOINT="http://127.0.0.1:$port"
# For `make bench`: how much CPU the emulator itself used (tools/bench/driver.py).
export MOTO_PID="$moto_pid"
echo "moto server on $MOTO_ENDPOINT (pid $moto_pid)" >&2
"$@"
