#!/usr/bin/env bash
# Issue 15's "done when", checked the way a person would: the function under `cargo lambda watch`
# against moto, and `cargo lambda invoke --data-file` with
#   1. events/other-region-finding-event.json  a GuardDuty finding from eu-west-1 (the responder's
#      region is us-east-1): the stolen instance session of web-app denied (IAM is global) and the
#      eu-west-1 instance's profile re-associated in eu-west-1; web-app's us-east-1 instance untouched
#   2. events/securityhub-imported-event.json  ASFF (Security Hub Findings - Imported): revoked
#   3. events/securityhub-custom-action-event.json  custom action: the same GuardDuty finding
#      already_covered, the Inspector finding skipped
# Each response's outcome and what moto holds afterwards are checked; any mismatch exits non-zero.
# The account is tools/seed.py's (the demo's), plus one web-app instance in eu-west-1.
# The watcher and the function are stopped on exit, failure or Ctrl-C. `make test` runs this.
#
# Usage: tools/lambda-invoke-check.sh      (starts its own moto through tools/with-moto.sh)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
venv="${VENV:-$here/.venv}"
export PATH="$venv/bin:$PATH"
cd "$here"

if [[ -z "${MOTO_ENDPOINT:-}" ]]; then
  [[ -x "$venv/bin/python" && -x "$venv/bin/moto_server" && -x "$venv/bin/cargo-lambda" ]] || {
    echo "lambda-invoke-check: no virtualenv with moto and cargo-lambda in $venv: run \`make venv\`" >&2
    exit 2
  }
  # The debug binary cargo lambda watch runs (a no-op when `make test` built it already).
  cargo build --quiet --bin session-revoker
  exec "$here/tools/with-moto.sh" "$0" "$@"
fi

py="$venv/bin/python"
work="$(mktemp -d -t lambda-invoke-check.XXXXXX)"
watch_pid=""
failures=0

descendants() {
  local p
  for p in $(ps -o pid= --ppid "$1" 2>/dev/null); do
    echo "$p"
    descendants "$p"
  done
}

cleanup() {
  local status=$?
  if [[ -n "$watch_pid" ]]; then
    # cargo lambda watch runs in a session of its own (setsid) and starts the function in yet
    # another process group: note its descendants first, then stop the group and them.
    local pids
    pids="$(descendants "$watch_pid" || true)"
    kill -TERM -- "-$watch_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$watch_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$watch_pid" 2>/dev/null || true
    for p in $pids; do kill -KILL "$p" 2>/dev/null || true; done
    wait "$watch_pid" 2>/dev/null || true
  fi
  if [[ $status -ne 0 && -s "$work/watch.log" ]]; then
    echo "---- last lines of the cargo lambda watch log ----" >&2
    tail -n 40 "$work/watch.log" | cut -c 1-600 >&2
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the account: tools/seed.py, and web-app's instance in eu-west-1 --------------------------------
"$py" tools/seed.py seed >"$work/seed.json"
"$py" - "$work/seed.json" >"$work/eu.json" <<'PY'
import json, os, sys
import boto3
seed = json.load(open(sys.argv[1]))
ec2 = boto3.client("ec2", region_name="eu-west-1", endpoint_url=os.environ["MOTO_ENDPOINT"],
                   aws_access_key_id="testing", aws_secret_access_key="testing")
instance = ec2.run_instances(ImageId="ami-12c6146b", InstanceType="t3.micro", MinCount=1, MaxCount=1)
instance_id = instance["Instances"][0]["InstanceId"]
association = ec2.associate_iam_instance_profile(
    IamInstanceProfile={"Arn": seed["instance_profile_arn"]}, InstanceId=instance_id
)["IamInstanceProfileAssociation"]["AssociationId"]
print(json.dumps({"instance_id": instance_id, "association_id": association}))
PY
eu_instance="$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["instance_id"])' "$work/eu.json")"
topic_arn="$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["topic_arn"])' "$work/seed.json")"
web_app_id="$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["roles"]["web-app"])' "$work/seed.json")"
# moto picks ids at random: the event's example instance id becomes the eu-west-1 instance's, and
# its example RoleId web-app's, as in a real finding.
sed -e "s/i-0a1b2c3d4e5f60718/$eu_instance/g" -e "s/AROAQEXAMPLEWEBAPP001/$web_app_id/g" \
  events/other-region-finding-event.json >"$work/other-region-finding-event.json"

# ---- the function under cargo lambda watch -------------------------------------------------------
port="$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
# The function's settings come from here only, never from the caller's shell.
for v in $(sed -n '/^pub const VARIABLES/,/^];/p' core/src/config.rs | grep -oE '"[A-Z][A-Z0-9_]+"' | tr -d '"') \
  LOG_FORMAT AWS_PROFILE AWS_SESSION_TOKEN $(compgen -e | grep '^AWS_ENDPOINT_URL_' || true); do
  unset "$v"
done
# CHAIN_DEPTH=0: moto serves no CloudTrail, and following the key is not what this checks
# (tests/follow_emulator.rs does; the end-to-end test runs the default).
AWS_ENDPOINT_URL="$MOTO_ENDPOINT" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
  AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 SNS_TOPIC_ARN="$topic_arn" \
  CUTOFF_MARGIN_SECONDS=2 REASSOCIATE_INSTANCE_PROFILE=true CHAIN_DEPTH=0 RUST_LOG=info \
  MAX_FINDING_AGE_HOURS=0 \
  setsid cargo lambda watch --ignore-changes --invoke-address 127.0.0.1 --invoke-port "$port" \
  </dev/null >"$work/watch.log" 2>&1 &
watch_pid=$!

invoke() { # invoke <file> <stdout file>
  timeout 120 cargo lambda invoke session-revoker --invoke-address 127.0.0.1 --invoke-port "$port" \
    --data-file "$1" >"$2" 2>"$2.err"
}

# Ready when the function itself answers: a payload it refuses is sent until it does (the first
# invocation starts the function; its start-up must not eat a finding's time).
echo '{"hello": "world"}' >"$work/not-a-finding.json"
started=$SECONDS
until invoke "$work/not-a-finding.json" "$work/warmup.out" ||
  grep -q "unrecognised payload" "$work/warmup.out" "$work/warmup.out.err"; do
  kill -0 "$watch_pid" 2>/dev/null || { echo "lambda-invoke-check: cargo lambda watch exited" >&2; exit 1; }
  if ((SECONDS - started > 300)); then
    echo "lambda-invoke-check: the function did not answer within 300 s" >&2
    cat "$work/warmup.out" "$work/warmup.out.err" >&2
    exit 1
  fi
  sleep 1
done
grep -q "unrecognised payload" "$work/warmup.out" "$work/warmup.out.err" || {
  echo "lambda-invoke-check: {\"hello\": \"world\"} was not refused:" >&2
  cat "$work/warmup.out" "$work/warmup.out.err" >&2
  exit 1
}
echo "cargo lambda watch on 127.0.0.1:$port: the function answers ($((SECONDS - started)) s)"

# ---- the checks: the response, then moto ---------------------------------------------------------
cat >"$work/check.py" <<'PY'
import json, os, sys
import boto3

case, report_file, seed_file, eu_file = sys.argv[1:5]
report = json.load(open(report_file))
seed, eu = json.load(open(seed_file)), json.load(open(eu_file))
kw = dict(endpoint_url=os.environ["MOTO_ENDPOINT"], aws_access_key_id="testing",
          aws_secret_access_key="testing")
iam = boto3.client("iam", region_name="us-east-1", **kw)
errors = []

def expect(cond, what):
    if not cond:
        errors.append(what)

def actions(incident=0):
    return report.get("incidents", [{}])[incident].get("actions", [])

def action(kind, incident=0):
    found = [a for a in actions(incident) if a.get("action") == kind]
    expect(len(found) == 1, f"one {kind} action, got {len(found)}")
    return found[0] if found else {}

def policy(role, name):
    try:
        return iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
    except iam.exceptions.NoSuchEntityException:
        return None

def live(region, instance_id):
    ec2 = boto3.client("ec2", region_name=region, **kw)
    out = ec2.describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": [instance_id]}])["IamInstanceProfileAssociations"]
    return [(a["AssociationId"], a["IamInstanceProfile"]["Arn"]) for a in out
            if a["State"] in ("associated", "associating")]

if case == "other-region":
    expect(report.get("outcome") == "revoked", f"outcome revoked, got {report.get('outcome')}")
    r = action("revoke_sessions")
    expect((r.get("target"), r.get("status")) == ("web-app", "done"), f"revoke_sessions web-app done: {r}")
    doc = policy("web-app", "SessionRevokerDenyStolenSessions") or {}
    st = doc.get("Statement", [])
    st = st if isinstance(st, list) else [st]
    userids = [s.get("Condition", {}).get("StringEquals", {}).get("aws:userid") for s in st]
    want = f"{seed['roles']['web-app']}:{eu['instance_id']}"
    expect(want in userids, f"a deny for aws:userid {want} on web-app, got {userids}")
    a = action("reassociate_instance_profile")
    expect(a.get("status") == "done", f"re-association done: {a}")
    expect(a.get("facts", {}).get("region") == "eu-west-1", f"acted in eu-west-1: {a}")
    new = a.get("facts", {}).get("new_association_id")
    expect(live("eu-west-1", eu["instance_id"]) == [(new, seed["instance_profile_arn"])],
           f"eu-west-1 instance now has association {new}: {live('eu-west-1', eu['instance_id'])}")
    expect(new != eu["association_id"], "a new association replaced the old one")
    expect(live("us-east-1", seed["instance_id"]) == [(seed["association_id"], seed["instance_profile_arn"])],
           "web-app's us-east-1 instance untouched")
elif case == "asff":
    expect(report.get("outcome") == "revoked", f"outcome revoked, got {report.get('outcome')}")
    expect(report.get("input") == "security_hub_event", f"input security_hub_event, got {report.get('input')}")
    a = action("revoke_role_sessions")
    expect((a.get("target"), a.get("status")) == ("web-app", "done"), f"revoke_role_sessions web-app done: {a}")
    doc = policy("web-app", "AWSRevokeOlderSessions")
    expect(doc is not None, "AWSRevokeOlderSessions on web-app in moto")
    if doc:
        s = doc["Statement"][0] if isinstance(doc["Statement"], list) else doc["Statement"]
        cutoff = s.get("Condition", {}).get("DateLessThan", {}).get("aws:TokenIssueTime")
        expect(s.get("Effect") == "Deny" and cutoff == a.get("cutoff"),
               f"Deny with the reported cutoff {a.get('cutoff')}: {doc}")
elif case == "custom-action":
    incidents = report.get("incidents", [])
    expect([i.get("outcome") for i in incidents] == ["already_covered", "skipped"],
           f"incidents already_covered, skipped: got {[i.get('outcome') for i in incidents]}")
    if len(incidents) == 2:
        detail = (incidents[1].get("actions") or [{}])[0].get("detail", "")
        expect("product/aws/inspector" in detail, f"the skip names the product: {detail}")
    expect(sorted(iam.list_role_policies(RoleName="web-app")["PolicyNames"])
           == ["AWSRevokeOlderSessions", "SessionRevokerDenyStolenSessions"], "nothing new on web-app")
else:
    sys.exit(f"unknown case {case}")

print(f"{case}: {report.get('outcome')} - {report.get('summary')}")
for e in errors:
    print(f"  MISMATCH: {e}", file=sys.stderr)
sys.exit(1 if errors else 0)
PY

check() { # check <case> <event file>
  local case="$1" event="$2" out="$work/$1.json"
  if ! invoke "$event" "$out"; then
    echo "FAIL $case: the invocation failed:" >&2
    cat "$out" "$out.err" >&2
    failures=$((failures + 1))
    return
  fi
  if ! "$py" "$work/check.py" "$case" "$out" "$work/seed.json" "$work/eu.json"; then
    echo "FAIL $case ($event): the response was:" >&2
    cat "$out" >&2
    failures=$((failures + 1))
  fi
}

# In this order: the ASFF finding is the one the custom action then finds already covered.
check other-region "$work/other-region-finding-event.json"
check asff events/securityhub-imported-event.json
check custom-action events/securityhub-custom-action-event.json

if ((failures > 0)); then
  echo "lambda-invoke-check: $failures of 3 failed" >&2
  exit 1
fi
echo "lambda-invoke-check: OK (another region, ASFF, custom action)"
