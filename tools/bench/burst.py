"""The organization-wide burst of `make bench`: 1,000 GuardDuty findings over 100 roles in 10 member
accounts, delivered at once the way EventBridge delivers them (asynchronous invocations), handled by
a pool of function processes the way Lambda runs them, against moto behind a proxy that adds AWS's
latency and throttles IAM writes per account.

The parts:
- moto (started by tools/with-moto.sh) holds 10 member accounts; each has 10 roles: 5 application
  roles whose findings are stolen role sessions (`UnauthorizedAccess:IAMUser/MaliciousIPCaller`, a
  role-wide deny under REVOKE_SCOPE=auto) and 5 EC2 instance roles whose findings are stolen instance
  credentials (`InstanceCredentialExfiltration.OutsideAWS`, one session-scoped deny per instance).
  Each role gets 10 findings, each naming its own session: 1,000 findings, shuffled (fixed seed).
- record_proxy.py between the function and moto: per-call latency (--latency) and a token bucket
  per account for IAM mutating calls (--throttle-rate/--throttle-burst), answering `Throttling` as
  IAM does. The member accounts are reached through `sts:AssumeRole` of MEMBER_ROLE_NAME, as in an
  organization; the proxy learns each assumed key's account from the AssumeRole answer.
- LambdaAsync below: Lambda's asynchronous invocation as far as a burst needs it. Every event is
  queued at T0; at most `concurrency` function processes (the function's reserved concurrency) run,
  each one event at a time, started on demand (cold starts, as Lambda scales out); an invocation
  that fails (an error response or a crash) is queued again after Lambda's retry delay, at most
  `max_retries` times; an event older than `max_event_age` when its turn comes, or out of
  retries, goes to the failure queue (the template's OnFailure destination). Lambda waits 1 minute
  before the first retry and 2 before the second, and so does the bench, on a clock that skips
  the idle part of the wait: when nothing runs and only retries wait, the clock jumps to the next
  retry (and the throttle's buckets refill, as they would have), so that a run fits in `make bench`
  while every time it reports is what Lambda would have taken.

- RecheckQueue below: the function's delayed re-check (template.yaml's RecheckQueue and its event
  source mapping). The function sends one message per role policy it wrote to a real queue in moto
  (through the proxy, so the sends are recorded), with the template's DelaySeconds; the bench polls
  it the way Lambda's event source mapping does (up to 100 messages a batch, gathered for at most
  the 1 s batching window), hands each batch to the
  same pool of function processes as an SQS event, and puts a failed batch item back after the
  visibility timeout until maxReceiveCount, then into the dead-letter queue. SQS's SenderId is the
  function's own identity as moto reports it (moto records a fixed placeholder instead).

Ground truth comes from the proxy's records and moto, not from the function's word: a finding is
*denied* at the end of the first successful PutRolePolicy on its role whose document denies its
session (a role-wide `aws:TokenIssueTime` cutoff after T0, or a session statement for its
`aws:userid` with such a cutoff), and *contained* when the policies in moto at the end still deny
it. Every session was issued before T0.
"""

import collections
import copy
import json
import os
import random
import subprocess
import time
import urllib.parse
import uuid

import boto3

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
REGION = "us-east-1"
ACCOUNT = "123456789012"
MEMBER_ROLE = "session-revoker-member"
ROLE_POLICY = "AWSRevokeOlderSessions"
TRUST_APP = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]})
TRUST_EC2 = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})

# AWS's latency as the proxy adds it (milliseconds, +-jitter): orders of magnitude of calls from a
# function in us-east-1 to IAM (a global service served from us-east-1), STS, SNS and EC2. These are
# assumptions of this bench, not measurements: nothing here reaches AWS.
LATENCY = {"iam_read": 50, "iam_write": 120, "sts": 40, "sns": 25, "ec2": 40, "other": 20, "jitter": 0.3}

# Lambda's own retry delays for a failed asynchronous invocation (before retry 1 and retry 2).
LAMBDA_RETRY_DELAYS_S = (60.0, 120.0)


def log(msg):
    print(f"[burst] {msg}", flush=True, file=__import__("sys").stderr)


def member_accounts(n):
    return [f"2000000000{i:02d}" for i in range(n)]


class Seeder:
    def __init__(self, endpoint):
        self.endpoint = endpoint
        self.sts = boto3.client("sts", endpoint_url=endpoint, region_name=REGION,
                                aws_access_key_id="testing", aws_secret_access_key="testing")

    def iam_in(self, account):
        """IAM in `account`: moto keeps accounts apart by the credentials of a role assumed there."""
        c = self.sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/seeder", RoleSessionName="seeder")["Credentials"]
        return boto3.client("iam", endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                            aws_session_token=c["SessionToken"])

    def seed(self, accounts, roles_per_account):
        """Creates the roles; returns {(account, role): {"role_id", "kind"}} and the member IAM clients."""
        roles, clients = {}, {}
        half = roles_per_account // 2
        for account in accounts:
            iam = self.iam_in(account)
            clients[account] = iam
            for i in range(roles_per_account):
                if i < half:
                    name, kind, trust = f"app-role-{i:02d}", "session", TRUST_APP
                else:
                    name, kind, trust = f"ec2-role-{i:02d}", "instance", TRUST_EC2
                r = iam.create_role(RoleName=name, Path="/", AssumeRolePolicyDocument=trust)["Role"]
                if kind == "instance":
                    iam.create_instance_profile(InstanceProfileName=name)
                    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
                roles[(account, name)] = {"role_id": r["RoleId"], "kind": kind}
        return roles, clients


def load_event(name):
    with open(os.path.join(ROOT, "events", name)) as f:
        return json.load(f)


def make_findings(roles, per_role, rng):
    """One finding per stolen session; each event its own EventBridge and finding id."""
    app = load_event("member-account-event.json")
    inst = load_event("instance-exfiltration-event.json")
    findings = []
    for (account, role), info in sorted(roles.items()):
        for k in range(per_role):
            fid = uuid.UUID(int=rng.getrandbits(128)).hex
            if info["kind"] == "session":
                ev = copy.deepcopy(app)
                session = f"etl-batch-{k:02d}"
            else:
                ev = copy.deepcopy(inst)
                session = f"i-0{rng.getrandbits(64):016x}"[:19]
                idet = ev["detail"]["resource"]["instanceDetails"]
                idet["instanceId"] = session
                idet["iamInstanceProfile"]["arn"] = f"arn:aws:iam::{account}:instance-profile/{role}"
                ev["detail"]["service"]["additionalInfo"] = {}
            principal = f"{info['role_id']}:{session}"
            ev["id"] = str(uuid.UUID(int=rng.getrandbits(128)))
            ev["account"] = ACCOUNT  # the administrator account receives members' findings
            d = ev["detail"]
            d["accountId"] = account
            d["id"] = fid
            d["arn"] = f"arn:aws:guardduty:{REGION}:{account}:detector/burst/finding/{fid}"
            akd = d["resource"]["accessKeyDetails"]
            akd["userName"] = role
            akd["principalId"] = principal
            akd["accessKeyId"] = f"ASIABURST{rng.getrandbits(40):011X}"[:20]
            findings.append({"event": ev, "finding_id": fid, "account": account, "role": role,
                             "kind": info["kind"], "userid": principal})
    rng.shuffle(findings)
    return findings


# -- the policy semantics the ground truth needs (only the shapes this function writes) --------------
def parse_time(s):
    return time.mktime(time.strptime(s.replace("Z", ""), "%Y-%m-%dT%H:%M:%S")) - time.timezone


def statements(doc):
    if isinstance(doc, str):
        doc = json.loads(urllib.parse.unquote(doc)) if doc.startswith("%7B") else json.loads(doc)
    st = doc.get("Statement", [])
    return st if isinstance(st, list) else [st]


def denies(doc, userid, issued_epoch):
    """True when a Deny * on * statement of `doc` matches a token of `userid` issued at `issued_epoch`."""
    for s in statements(doc):
        if s.get("Effect") != "Deny" or s.get("Action") not in ("*", ["*"]) or s.get("Resource") not in ("*", ["*"]):
            continue
        cond = s.get("Condition", {})
        ok = True
        for op, kv in cond.items():
            for key, val in kv.items():
                vals = val if isinstance(val, list) else [val]
                if op == "DateLessThan" and key == "aws:TokenIssueTime":
                    ok &= any(issued_epoch < parse_time(v) for v in vals)
                elif op == "StringEquals" and key == "aws:userid":
                    ok &= userid in vals
                else:
                    ok = False
        if ok and cond:
            return True
    return False


class RecheckQueue:
    """The re-check queue and its event source mapping, as far as the burst needs them (see the
    module doc). Delays are real (moto holds each message for DelaySeconds); a failed item comes
    back after `visibility_s` (the template's 900 s visibility timeout, shortened for the bench:
    only when a retry happens depends on it)."""

    NAME = "session-revoker-recheck"

    def __init__(self, endpoint, sender_id, delay_s=15, max_receives=3, visibility_s=30.0, batch=100, window_s=1.0):
        self.sqs = boto3.client("sqs", endpoint_url=endpoint, region_name=REGION,
                                aws_access_key_id="testing", aws_secret_access_key="testing")
        self.url = self.sqs.create_queue(QueueName=self.NAME, Attributes={"DelaySeconds": str(int(delay_s))})["QueueUrl"]
        self.sender_id, self.max_receives = sender_id, max_receives
        self.visibility_s, self.batch, self.window_s = visibility_s, batch, window_s
        self.gathering = []  # (due since, record): received, waiting for the batch to fill or the window to end
        self.receives = collections.Counter()
        self.again = []  # (ready at, record)
        self.dead = []  # records that reached maxReceiveCount
        self.sent = 0
        self.item_failures = 0
        self.last_poll = 0.0
        self.last_depth = (0.0, 0)

    def _record(self, m):
        return {"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                "attributes": {"SenderId": self.sender_id, "SentTimestamp": m["Attributes"]["SentTimestamp"],
                               "ApproximateReceiveCount": "1"},
                "messageAttributes": {}, "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{self.NAME}", "awsRegion": REGION}

    def poll(self, now):
        """SQS events (payload dicts) ready now: messages past their delay, and failed items past
        their visibility timeout."""
        if now - self.last_poll < 0.25:
            return []
        self.last_poll = now
        records = []
        while True:
            got = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10,
                                           AttributeNames=["All"]).get("Messages", [])
            for m in got:
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"])
            self.sent += len(got)
            records += [self._record(m) for m in got]
            if len(got) < 10:
                break
        due = [r for at, r in self.again if at <= now]
        self.again = [(at, r) for at, r in self.again if at > now]
        self.gathering += [(now, r) for r in records + due]
        # The event source mapping's batching (template.yaml RecheckEventSource): a batch goes
        # out when it is full (BatchSize) or its first message has waited the batching window.
        batches = []
        while self.gathering and (len(self.gathering) >= self.batch or now - self.gathering[0][0] >= self.window_s):
            batch, self.gathering = self.gathering[:self.batch], self.gathering[self.batch:]
            batches.append({"Records": [r for _, r in batch]})
        return batches

    def result(self, event, kind, body, now):
        """The function's answer to a batch: its failed items go back to the queue."""
        failed = {r["messageId"] for r in event["Records"]}
        if kind == "response":
            try:
                failed = {f["itemIdentifier"] for f in json.loads(body).get("batchItemFailures", [])}
            except (ValueError, AttributeError):
                pass
        for r in event["Records"]:
            if r["messageId"] not in failed:
                continue
            self.item_failures += 1
            self.receives[r["messageId"]] += 1
            if self.receives[r["messageId"]] >= self.max_receives:
                self.dead.append(r)
            else:
                again = copy.deepcopy(r)
                again["attributes"]["ApproximateReceiveCount"] = str(self.receives[r["messageId"]] + 1)
                self.again.append((now + self.visibility_s, again))

    def idle(self, now):
        """Nothing left to deliver: no item waiting to come back, and the queue empty (delayed
        messages included)."""
        if self.again or self.gathering:
            return False
        if now - self.last_depth[0] >= 0.25:
            a = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["All"])["Attributes"]
            depth = sum(int(a.get(k, 0)) for k in ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed",
                                                     "ApproximateNumberOfMessagesNotVisible"))
            self.last_depth = (now, depth)
        return self.last_depth[1] == 0


class SharedReservation:
    """What waits for a free slot of the function's reserved concurrency, from its two sources:
    Lambda's asynchronous queue (the findings, and their retries) and the re-check queue's event
    source mapping. Lambda promises no order between two sources that share a reservation; each
    one's pollers try to invoke as slots free up. The bench alternates between them, one
    invocation each while both wait (the asynchronous queue first served alone would keep every
    re-check behind the whole burst's backlog, which is not how two competing pollers behave)."""

    def __init__(self, items):
        self.findings = collections.deque(items)
        self.batches = collections.deque()
        self.turn = 0

    def append(self, item, batch=False):
        (self.batches if batch else self.findings).append(item)

    def popleft(self):
        self.turn ^= 1
        first, second = (self.batches, self.findings) if self.turn else (self.findings, self.batches)
        return (first or second).popleft()

    def __len__(self):
        return len(self.findings) + len(self.batches)

    def __iter__(self):
        return iter(list(self.findings) + list(self.batches))


class LambdaAsync:
    """Lambda's asynchronous invocation for one function (see the module doc)."""

    def __init__(self, api, spawn, concurrency, max_retries, max_event_age_s, retry_delay_scale, deadline_s,
                 on_skip=None):
        self.api, self.spawn = api, spawn
        self.concurrency, self.max_retries = concurrency, max_retries
        self.max_event_age_s, self.retry_delay_scale = max_event_age_s, retry_delay_scale
        self.deadline_s = deadline_s
        self.on_skip = on_skip
        self.processes = []
        self.skips = []  # (real monotonic s when the clock jumped, seconds skipped)

    def offset(self):
        return sum(g for _, g in self.skips)

    def virtual(self, real_s):
        """Seconds on the bench's clock for a real monotonic time (see the module doc)."""
        return real_s + sum(g for at, g in self.skips if at <= real_s)

    def run(self, events, t0, limit_s, recheck=None):
        """Delivers `events` (payload dicts) queued at t0; returns per-event attempt histories and the
        failure queue. With `recheck` (RecheckQueue), its batches run in the same pool as they become
        due; their histories are kept apart (self.recheck_history)."""
        events = list(events)
        findings = len(events)
        self.recheck_history = []
        self._findings, self._recheck, self._events = findings, recheck, events
        ready = SharedReservation((i, 0, t0) for i in range(len(events)))  # (event, attempt, ready at)
        delayed = []  # (ready at, event, attempt)
        inflight = {}  # request id -> (event, attempt, handed)
        history = [[] for _ in events]
        failure_queue = []
        results = self.api.listen()
        while ready or delayed or inflight or (recheck is not None and not recheck.idle(time.monotonic())):
            now = time.monotonic()
            if recheck is not None:
                for batch in recheck.poll(now):
                    events.append(batch)
                    history.append([])
                    ready.append((len(events) - 1, 0, now), batch=True)
            # The idle part of Lambda's retry wait is skipped, never a re-check's real delay.
            if not ready and not inflight and delayed and (recheck is None or recheck.idle(now)):
                gap = min(d[0] for d in delayed) - now
                if gap > 0.2:
                    self.skips.append((now, gap))
                    delayed = [(at - gap, i, attempt) for at, i, attempt in delayed]
                    if self.on_skip:
                        self.on_skip()
            if now - t0 > limit_s:
                for rid, (i, attempt, _) in inflight.items():
                    history[i].append({"attempt": attempt, "result": "unfinished"})
                for i, attempt, _ in ready:
                    failure_queue.append({"event": i, "reason": "bench time limit", "attempts": attempt})
                for _, i, attempt in delayed:
                    failure_queue.append({"event": i, "reason": "bench time limit", "attempts": attempt})
                break
            for item in [d for d in delayed if d[0] <= now]:
                delayed.remove(item)
                ready.append((item[1], item[2], item[0]))
            # Scale out to the reserved concurrency while events wait, as Lambda does.
            busy = len(inflight)
            while ready and len(self.processes) < min(self.concurrency, busy + len(ready)):
                self.processes.append(self.spawn(len(self.processes)))
            while ready and len(inflight) < min(self.concurrency, len(self.processes)):
                i, attempt, _ = ready.popleft()
                if i < findings and now - t0 + self.offset() > self.max_event_age_s:
                    failure_queue.append({"event": i, "reason": "MaximumEventAgeInSeconds", "attempts": attempt})
                    continue
                rid = self.api.invoke(json.dumps(events[i]).encode())
                inflight[rid] = (i, attempt, time.monotonic())
            try:
                rid, kind, end_ns, body = results.get(timeout=0.05)
            except Exception:  # queue.Empty
                self._reap(inflight, history, ready, delayed, failure_queue, t0)
                continue
            if rid not in inflight:
                continue
            i, attempt, handed = inflight.pop(rid)
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
            history[i].append({"attempt": attempt, "result": kind, "end_s": self.virtual(end_ns / 1e9) - t0,
                               "duration_s": end_ns / 1e9 - handed,
                               "outcome": parsed.get("outcome") if isinstance(parsed, dict) else None,
                               "error_type": parsed.get("errorType") if isinstance(parsed, dict) else None})
            if i >= findings:
                recheck.result(events[i], kind, body, time.monotonic())
            elif kind == "error":
                self._retry_or_fail(i, attempt, ready, delayed, failure_queue, "function error")
        self.recheck_history = history[findings:]
        return history[:findings], failure_queue

    def _retry_or_fail(self, i, attempt, ready, delayed, failure_queue, reason):
        if attempt < self.max_retries:
            wait = LAMBDA_RETRY_DELAYS_S[min(attempt, len(LAMBDA_RETRY_DELAYS_S) - 1)] * self.retry_delay_scale
            delayed.append((time.monotonic() + wait, i, attempt + 1))
        else:
            failure_queue.append({"event": i, "reason": reason, "attempts": attempt + 1})

    def _reap(self, inflight, history, ready, delayed, failure_queue, t0):
        """A process that exited is dropped from the pool (a new one starts on demand); an
        invocation without an answer after the function timeout failed (Lambda: a timeout or a
        runtime that exited), and is retried like any failure."""
        self.processes = [p for p in self.processes if p.poll() is None]
        now = time.monotonic()
        for rid, (i, attempt, handed) in list(inflight.items()):
            if now - handed > self.deadline_s:
                inflight.pop(rid)
                history[i].append({"attempt": attempt, "result": "timeout", "end_s": self.virtual(now) - t0})
                if i >= self._findings:
                    self._recheck.result(self._events[i], "timeout", b"", now)
                    continue
                self._retry_or_fail(i, attempt, ready, delayed, failure_queue, "timeout or runtime exited")

    def stop(self):
        for p in self.processes:
            if p.poll() is None:
                p.kill()
        for p in self.processes:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass


def analyse(findings, history, failure_queue, records, t0_ns, final_policies, settings, clock=None):
    """The burst's numbers from the records (see the module doc for the definitions). `clock` maps a
    real monotonic time (s) to the bench's clock (LambdaAsync.virtual)."""
    issued = settings["sessions_issued_epoch"]
    clock = clock or (lambda s: s)
    t0 = t0_ns / 1e9
    for r in records:
        r["t_end_s"] = clock(r["end_ns"] / 1e9) - t0
    writes = collections.defaultdict(list)  # (account, role) -> [(end s, policy name, document)]
    for r in records:
        if r["action"] == "PutRolePolicy" and r["status"] == 200 and r.get("document"):
            writes[(r.get("account"), r["role"])].append((r["t_end_s"], r.get("policy_name"), r["document"]))

    def denied_since(key, userid):
        """When the session became denied for good: after this write, every later state of the
        role's inline policies (each write replaces its policy name's document) still denies it.
        Also when it was first denied at all (a concurrent writer may have undone it since)."""
        current, since, first = {}, None, None
        for t, name, doc in sorted(writes[key], key=lambda x: x[0]):
            current[name] = doc
            if any(denies(d, userid, issued) for d in current.values()):
                since = t if since is None else since
                first = t if first is None else first
            else:
                since = None
        return since, first

    per = []
    for i, f in enumerate(findings):
        key = (f["account"], f["role"])
        denied_at, first_denied = denied_since(key, f["userid"])
        final = final_policies.get(key, {})
        contained = any(denies(doc, f["userid"], issued) for doc in final.values())
        h = history[i]
        per.append({
            "finding_id": f["finding_id"], "account": f["account"], "role": f["role"], "kind": f["kind"],
            "attempts": len(h), "results": [x["result"] for x in h],
            "outcome": next((x.get("outcome") for x in reversed(h) if x["result"] == "response"), None),
            "responded": any(x["result"] == "response" for x in h),
            "denied_at_s": denied_at if contained else None, "first_denied_at_s": first_denied,
            "contained": contained,
        })
    by_action = collections.Counter(r["action"] for r in records)
    throttled = sum(1 for r in records if r.get("error") == "Throttling")
    times = sorted(p["denied_at_s"] for p in per if p["denied_at_s"] is not None)
    last = max((r["t_end_s"] for r in records), default=0.0)
    durations = sorted(x["duration_s"] for h in history for x in h if "duration_s" in x)

    def pct(p):
        import math
        return times[max(0, math.ceil(p / 100 * len(times)) - 1)] if times else None

    fq = collections.Counter(x["reason"] for x in failure_queue)
    # Where the time goes: the last finding's first answer (every finding read and acted on or
    # queued once), and how many AWS calls the emulator answered per second until then.
    first_answers = [h[0]["end_s"] for h in history if h and "end_s" in h[0]]
    intake_end = max(first_answers) if first_answers else None
    calls_until = sum(1 for r in records if intake_end is not None and r["t_end_s"] <= intake_end)
    by_outcome = collections.defaultdict(list)
    for p in per:
        if p["denied_at_s"] is not None:
            by_outcome[p["outcome"] or "no response"].append(p["denied_at_s"])
    summary = {
        "findings": len(findings),
        "contained": sum(p["contained"] for p in per),
        "denied_in_time": len(times),
        "failed": sum(1 for p in per if not p["contained"]),
        "responded_ok": sum(p["responded"] for p in per),
        "invocations": sum(p["attempts"] for p in per),
        "retried": sum(1 for p in per if p["attempts"] > 1),
        "retries": sum(p["attempts"] - 1 for p in per if p["attempts"] > 1),
        "failure_queue": len(failure_queue),
        "failure_queue_reasons": dict(fq),
        "reported_not_contained_but_denied": sum(1 for p in per if not p["responded"] and p["contained"]),
        "denied_then_undone": sum(1 for p in per if p["first_denied_at_s"] is not None and not p["contained"]),
        "reported_contained_but_not": sum(1 for p in per if p["responded"] and not p["contained"]),
        "denied_p50_s": pct(50), "denied_p99_s": pct(99), "denied_max_s": times[-1] if times else None,
        "aws_calls": len(records),
        "aws_calls_per_finding": len(records) / len(findings) if findings else None,
        "calls_by_action": dict(by_action.most_common()),
        "throttled_calls": throttled,
        "put_role_policy_ok": sum(len(v) for v in writes.values()),
        "put_role_policy_calls": by_action.get("PutRolePolicy", 0),
        "roles_written": len(writes),
        "duration_s": last,
        "invocation_p50_s": durations[len(durations) // 2] if durations else None,
        "invocation_max_s": durations[-1] if durations else None,
        "outcomes": dict(collections.Counter(p["outcome"] or "no response" for p in per)),
        "intake_end_s": intake_end,
        "calls_per_second_until_intake_end": calls_until / intake_end if intake_end else None,
        "denied_p50_p99_by_outcome": {
            k: (sorted(v)[len(v) // 2], sorted(v)[max(0, -(-99 * len(v) // 100) - 1)]) for k, v in by_outcome.items()
        },
    }
    return summary, per


def plot(runs, out_png):
    """Contained over time for each run [(label, per, records, colour)], and the IAM writes
    answered Throttling per second of the last run, as a PNG."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        return f"matplotlib is not installed ({e})"
    fig, ax = plt.subplots(figsize=(9, 4.8), dpi=110)
    ax2 = ax.twinx()
    n = 0
    for label, per, records, colour in runs:
        n = max(n, len(per))
        times = sorted(p["denied_at_s"] for p in per if p["denied_at_s"] is not None)
        if times:
            xs = [0.0] + [t for t in times for _ in (0, 1)]
            ys = [0] + [y for k in range(1, len(times) + 1) for y in (k - 1, k)]
            ax.plot(xs[:len(ys)], ys, color=colour, linewidth=2, label=f"{label}: {len(times)} denied")
        th = [r["t_end_s"] for r in records if r.get("error") == "Throttling"]
        if th:
            width = 1.0
            counts = collections.Counter(int(t / width) for t in th)
            ax2.bar([k * width for k in sorted(counts)], [counts[k] / width for k in sorted(counts)], width=width,
                    align="edge", color=colour, alpha=0.25, label=f"{label}: IAM writes answered Throttling")
    ax.axhline(n, color="#888888", linestyle=":", linewidth=1, label=f"findings ({n})")
    ax.set_xlabel("seconds since EventBridge delivered the burst (Lambda's retry waits included)")
    ax.set_ylabel("findings whose stolen session is denied")
    ax2.set_ylabel("throttled IAM writes per second (bars)")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="lower right", fontsize=7)
    ax.set_title("Organization-wide burst: stolen sessions denied over time", fontsize=10)
    fig.tight_layout()
    fig.savefig(out_png)
    plt.close(fig)
    return None
