#!/usr/bin/env bash
# make drill: one fire drill ({"action":"drill"}, issue 23) run locally against fakecloud, the
# IAM-enforcing emulator: seeds a canary role there (trusted by the account, allowed only
# iam:GetRole on itself, tagged session-revoker:drill=true), runs the function under
# `cargo lambda watch` with DRILL_ROLE_ARN set to it, sends the drill and prints the report.
# The propagation it prints is fakecloud's (a deny applies at once there), never AWS's.
# Usage: tools/drill.sh   (or `make drill`)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
venv="${VENV:-$here/.venv}"
export PATH="$venv/bin:$PATH"
cd "$here"

if [[ -z "${FAKECLOUD_ENDPOINT:-}" ]]; then
  [[ -x "$venv/bin/python" && -x "$venv/bin/cargo-lambda" ]] ||
    { echo "drill: no virtualenv with boto3 and cargo-lambda in $venv: run \`make venv\`" >&2; exit 1; }
  cargo build --bin session-revoker
  exec "$here/tools/with-fakecloud.sh" "$here/tools/drill.sh"
fi

py="$venv/bin/python"
work="$(mktemp -d -t session-revoker-drill.XXXXXX)"
watch_pid=""
cleanup() {
  local status=$?
  if [[ -n "$watch_pid" ]]; then
    kill -TERM -- "-$watch_pid" 2>/dev/null || true
    wait "$watch_pid" 2>/dev/null || true
  fi
  if [[ $status -ne 0 && -s "$work/watch.log" ]]; then tail -n 30 "$work/watch.log" >&2; fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export AWS_ENDPOINT_URL="$FAKECLOUD_ENDPOINT" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
  AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1

role_arn="$("$py" - <<'EOF'
import boto3, json, time
iam = boto3.client("iam")
name = "session-revoker-drill-canary-%d" % int(time.time())
trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
         "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}]}
arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust),
                      Tags=[{"Key": "session-revoker:drill", "Value": "true"}])["Role"]["Arn"]
iam.put_role_policy(RoleName=name, PolicyName="read-itself", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:GetRole", "Resource": arn}]}))
print(arn)
EOF
)"
echo "canary: $role_arn (fakecloud $FAKECLOUD_ENDPOINT)"

port="$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
DRILL_ROLE_ARN="$role_arn" DRILL_MAX_WAIT_SECONDS=30 CUTOFF_MARGIN_SECONDS="${CUTOFF_MARGIN_SECONDS:-2}" \
  RESPONDER_ROLE_ARN="arn:aws:iam::123456789012:role/session-revoker" RUST_LOG=info \
  setsid cargo lambda watch --ignore-changes --invoke-address 127.0.0.1 --invoke-port "$port" \
  </dev/null >"$work/watch.log" 2>&1 &
watch_pid=$!
for i in $(seq 1 1500); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  kill -0 "$watch_pid" 2>/dev/null || { echo "drill: cargo lambda watch exited" >&2; exit 1; }
  [[ $i -lt 1500 ]] || { echo "drill: cargo lambda watch did not listen within 300 s" >&2; exit 1; }
  sleep 0.2
done

status=0
cargo lambda invoke --invoke-address 127.0.0.1 --invoke-port "$port" --data-ascii '{"action":"drill"}' \
  session-revoker >"$work/out.json" 2>"$work/err.txt" || status=$?
if [[ $status -ne 0 ]]; then
  echo "the drill failed (the invocation fails, as Lambda would count it):" >&2
  cat "$work/err.txt" >&2
  grep -o '"report":"[^\n]*' "$work/watch.log" | tail -n 1 >&2 || true
  exit "$status"
fi
"$py" -c '
import json, sys
r = json.load(open(sys.argv[1]))
print(r["summary"])
d = r["drill"]
for a in d["accounts"]:
    for s in a["steps"]:
        print("  %-20s %-7s %s" % (s["step"], s["result"], s["detail"]))
    for s in a["scopes"]:
        print("  scope %-8s propagation_ms %s" % (s["scope"], s.get("propagation_ms")))
print("cutoff margin %s s; longest propagation %s ms%s" % (d["cutoff_margin_seconds"], d.get("propagation_ms"),
      ("; WARNING: " + d["warning"]) if d.get("warning") else ""))
' "$work/out.json"
