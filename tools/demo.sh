#!/usr/bin/env bash
# make demo: build, start a private moto server and the local Lambda runtime (cargo lambda watch),
# seed a small account, send one GuardDuty finding through the function, and show what it did:
# the report, the deny policy now on the role, the bystander role untouched, the SNS message.
# Everything started here is stopped on exit or Ctrl-C.
#
# Usage: tools/demo.sh            (or: make demo, which also installs .venv first)
#        EVENT=events/<file>.json tools/demo.sh   to send another sample (ci-bot's example key id
#        is replaced by the key moto made, as the end-to-end test does; the instance id is not)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
venv="${VENV:-$here/.venv}"
export PATH="$venv/bin:$PATH"
cd "$here"

bold=""; dim=""; reset=""
if [[ -t 1 ]] && command -v tput >/dev/null && [[ "$(tput colors 2>/dev/null || echo 0)" -ge 8 ]]; then
  bold="$(tput bold)"; dim="$(tput dim)"; reset="$(tput sgr0)"
fi
section() { printf '\n%s==== %s ====%s\n' "$bold" "$*" "$reset"; }
note() { printf '%s%s%s\n' "$dim" "$*" "$reset"; }
die() { printf '\n%sdemo failed: %s%s\n' "$bold" "$*" "$reset" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# Outer part: check the tools, build, then run the inner part with a private moto server.
if [[ "${1:-}" != "--with-moto" ]]; then
  [[ -x "$venv/bin/python" && -x "$venv/bin/moto_server" && -x "$venv/bin/cargo-lambda" ]] ||
    die "no virtualenv with moto and cargo-lambda in $venv: run \`make demo\` (it installs one) or \`make venv\`"
  section "1. Build"
  cargo build
  exec "$here/tools/with-moto.sh" "$here/tools/demo.sh" --with-moto
fi

# ---------------------------------------------------------------------------------------------
# Inner part: MOTO_ENDPOINT is set, and with-moto.sh stops moto when this ends.
: "${MOTO_ENDPOINT:?run tools/demo.sh, not this part directly}"
event="${EVENT:-events/assumed-role-event.json}"
[[ -f "$event" ]] || die "no event file $event"
py="$venv/bin/python"
work="$(mktemp -d -t session-revoker-demo.XXXXXX)"
watch_pid=""

cleanup() {
  local status=$?
  if [[ -n "$watch_pid" ]]; then
    # cargo lambda watch runs in its own process group (setsid): stop it and the function.
    kill -TERM -- "-$watch_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$watch_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$watch_pid" 2>/dev/null || true
    wait "$watch_pid" 2>/dev/null || true
  fi
  if [[ $status -eq 130 ]]; then
    printf '\ninterrupted: moto and cargo lambda watch are stopped\n' >&2
  elif [[ $status -ne 0 && -s "$work/watch.log" ]]; then
    printf '\n%slast lines of the cargo lambda watch log:%s\n' "$bold" "$reset" >&2
    tail -n 30 "$work/watch.log" >&2
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Pretty-prints JSON read from stdin; with an argument, a Python expression over `d` instead.
pyjson() {
  "$py" -c '
import json, sys
d = json.load(sys.stdin)
expr = sys.argv[1] if len(sys.argv) > 1 else None
out = eval(expr) if expr else d
print(out if isinstance(out, str) else json.dumps(out, indent=2, ensure_ascii=False))
' "$@"
}

section "2. Local AWS: moto on $MOTO_ENDPOINT, seeded"
"$py" tools/seed.py seed >"$work/seed.json"
"$py" tools/seed.py show >"$work/before.json"
topic_arn="$(pyjson 'd["topic_arn"]' <"$work/seed.json")"
pyjson '"\n".join([
  "account   " + d["account"] + "  region " + d["region"],
  "roles     " + ", ".join(sorted(d["roles"])),
  "instance  " + d["instance_id"] + " with instance profile web-app",
  "user      ci-bot with keys " + ", ".join(d["ci_bot_keys"]),
  "topic     " + d["topic_arn"],
  "queue     " + d["queue_url"] + " (subscribed to the topic)",
])' <"$work/seed.json"

section "3. The function under cargo lambda watch"
port="$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
# CHAIN_DEPTH=0: moto serves no CloudTrail LookupEvents (it answers 500, retried for seconds), so
# following the attacker is left out here; drills 8 and 8b show it with a loopback CloudTrail.
# MAX_FINDING_AGE_HOURS=0: the sample events are dated 2026-11-22, and a real finding that old
# would be refused as a replay (every token it saw has expired).
AWS_ENDPOINT_URL="$MOTO_ENDPOINT" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
  AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 SNS_TOPIC_ARN="$topic_arn" RUST_LOG=info CHAIN_DEPTH=0 \
  MAX_FINDING_AGE_HOURS=0 \
  setsid cargo lambda watch --ignore-changes --invoke-address 127.0.0.1 --invoke-port "$port" \
  </dev/null >"$work/watch.log" 2>&1 &
watch_pid=$!
for i in $(seq 1 1500); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  kill -0 "$watch_pid" 2>/dev/null || die "cargo lambda watch exited"
  [[ $i -lt 1500 ]] || die "cargo lambda watch did not listen on port $port within 300 s"
  sleep 0.2
done
note "listening on 127.0.0.1:$port (pid $watch_pid; log in $work/watch.log while the demo runs)"

section "4. Sending $event"
pyjson '(lambda f: "\n".join([
  "type      " + str(f.get("type")),
  "severity  " + str(f.get("severity")),
  "principal " + str(f.get("resource", {}).get("accessKeyDetails", {}).get("userType")) + " "
               + str(f.get("resource", {}).get("accessKeyDetails", {}).get("userName"))
               + "  (" + str(f.get("resource", {}).get("accessKeyDetails", {}).get("principalId")) + ")",
  "from      " + str(f.get("service", {}).get("action", {}).get("awsApiCallAction", {})
                     .get("remoteIpDetails", {}).get("ipAddressV4")),
]))(d.get("detail", d))' <"$event" || true
# An attack sequence names its credentials in service.detection.sequence, not accessKeyDetails.
pyjson '"\n".join("actor     " + str((a.get("user") or {}).get("type")) + " " + str((a.get("user") or {}).get("name"))
  + "  key " + str((a.get("user") or {}).get("credentialUid")) + "  issuer " + str((a.get("session") or {}).get("issuer"))
  for a in (d.get("detail", d).get("service", {}).get("detection", {}).get("sequence", {}).get("actors") or []))' \
  <"$event" || true
note "(the sample's ids are examples: moto made its own RoleIds, so the report notes the difference)"
# ci-bot's example key id becomes the key moto made for ci-bot (tools/seed.py seed).
"$py" - "$event" "$work/seed.json" >"$work/event.json" <<'PY'
import json, sys
text = open(sys.argv[1]).read()
keys = json.load(open(sys.argv[2])).get("ci_bot_keys") or []
print(text.replace("AKIAQEXAMPLE7CIUSER1", keys[0]) if keys else text, end="")
PY
event_sent="$work/event.json"
if ! cargo lambda invoke session-revoker --invoke-address 127.0.0.1 --invoke-port "$port" \
  --data-file "$event_sent" >"$work/report.json" 2>"$work/invoke.err"; then
  cat "$work/report.json" "$work/invoke.err" >&2
  die "the invocation failed"
fi

section "5. The report the function returned"
printf '%s%s%s\n\n' "$bold" "$(pyjson 'd["summary"]' <"$work/report.json")" "$reset"
pyjson <"$work/report.json"

"$py" tools/seed.py show >"$work/after.json"

section "6. The policy now on role app-deployer"
"$py" - "$work/before.json" "$work/after.json" <<'PY'
import json, sys
before, after = (json.load(open(p))["policies"]["app-deployer"] for p in sys.argv[1:])
deny = after.get("AWSRevokeOlderSessions")
if deny is None:
    print("no AWSRevokeOlderSessions policy on app-deployer")
else:
    print("AWSRevokeOlderSessions (inline, as IAM returns it, URL-decoded):")
    print(json.dumps(deny, indent=2))
    try:
        cutoff = [s for s in deny["Statement"]][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
        print(f"\n=> every app-deployer session issued before {cutoff} is denied everything;")
        print("   sessions started after it work as before.")
    except (KeyError, IndexError, TypeError):
        pass
for name in sorted(set(before) | set(after)):
    if name == "AWSRevokeOlderSessions":
        continue
    state = "unchanged" if before.get(name) == after.get(name) else "CHANGED: this is a bug"
    print(f"\nother inline policy {name}: {state}")
PY

section "7. The bystander role billing-reader"
"$py" - "$work/before.json" "$work/after.json" <<'PY'
import json, sys
before, after = (json.load(open(p))["policies"]["billing-reader"] for p in sys.argv[1:])
print("inline policies before:", ", ".join(sorted(before)) or "none")
print("inline policies after: ", ", ".join(sorted(after)) or "none")
print("untouched" if before == after else "CHANGED: this is a bug")
PY

section "8. The message that reached the SNS topic (read from the subscribed SQS queue)"
"$py" - "$work/after.json" <<'PY'
import json, sys
messages = json.load(open(sys.argv[1]))["messages"]
if not messages:
    print("no message on the queue")
for m in messages:
    print("subject    ", m.get("subject"))
    for k, v in sorted((m.get("attributes") or {}).items()):
        print("attribute  ", k, "=", v)
    body = m.get("message")
    if isinstance(body, dict):
        print("body       the JSON report; summary:", body.get("summary"))
    else:
        print("body      ", body)
PY

section "Done"
note "moto and cargo lambda watch stop now. Other samples: EVENT=events/manual-revoke.json tools/demo.sh"
