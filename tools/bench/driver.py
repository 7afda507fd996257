"""The measuring driver of `make bench`: cold start, event to deny, peak RSS.

Everything runs on 127.0.0.1: the Runtime API (runtime_api.py, in this process), moto (started
by tools/with-moto.sh, MOTO_ENDPOINT), and the recording proxy (record_proxy.py, a child process)
between the function and moto. Times are taken on the system-wide monotonic clock.

Writes a JSON file of raw samples and summaries (--out); tools/bench/report.py turns it into
BENCHMARKS.md. Every loop is bounded; every child process is stopped on exit.
"""

import argparse
import copy
import json
import math
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid

import boto3

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the work tree
from runtime_api import RuntimeApi  # noqa: E402

ACCOUNT = "123456789012"
REGION = "us-east-1"
RESPONDER_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/session-revoker"
TOPIC_NAME = "session-revoker-reports"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:{TOPIC_NAME}"
TRUST = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
})
POLICY_NAME = "AWSRevokeOlderSessions"
RECHECK_QUEUE = "session-revoker-recheck"
START_TIMEOUT_S = 30
INVOKE_TIMEOUT_S = 60

CHILDREN = []


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def stop(p):
    if p is not None and p.poll() is None:
        p.kill()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def stop_all():
    for p in CHILDREN:
        stop(p)


def _on_signal(signum, _frame):
    raise SystemExit(128 + signum)


# -- statistics -------------------------------------------------------------------------------
def pct(values, p):
    """Nearest-rank percentile."""
    s = sorted(values)
    if not s:
        return None
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def summary(values):
    return {
        "n": len(values),
        "median": statistics.median(values) if values else None,
        "p90": pct(values, 90),
        "min": min(values) if values else None,
        "max": max(values) if values else None,
    }


# -- moto -------------------------------------------------------------------------------------
class Moto:
    def __init__(self, endpoint):
        self.endpoint = endpoint
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )
        self.iam = session.client("iam", endpoint_url=endpoint)
        self.sns = session.client("sns", endpoint_url=endpoint)
        self.sqs = session.client("sqs", endpoint_url=endpoint)

    def reset(self):
        req = urllib.request.Request(self.endpoint + "/moto-api/reset", data=b"", method="POST")
        urllib.request.urlopen(req, timeout=30).read()
        # The re-check queue every run's function sends its delayed look to (RECHECK_QUEUE_URL):
        # only the burst reads it back (burst.RecheckQueue); elsewhere the messages are left.
        self.sqs.create_queue(QueueName=RECHECK_QUEUE, Attributes={"DelaySeconds": "15"})

    def topic(self):
        arn = self.sns.create_topic(Name=TOPIC_NAME)["TopicArn"]
        assert arn == TOPIC_ARN, arn

    def role(self, name, instance_profile=False):
        self.iam.create_role(RoleName=name, Path="/", AssumeRolePolicyDocument=TRUST)
        if instance_profile:
            self.iam.create_instance_profile(InstanceProfileName=name)
            self.iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)

    def role_denied(self, name):
        try:
            doc = self.iam.get_role_policy(RoleName=name, PolicyName=POLICY_NAME)["PolicyDocument"]
            return "aws:TokenIssueTime" in json.dumps(doc)
        except self.iam.exceptions.NoSuchEntityException:
            return False

    def key_inactive(self, user, key):
        keys = self.iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
        return any(k["AccessKeyId"] == key and k["Status"] == "Inactive" for k in keys)


def load_event(name):
    with open(os.path.join(ROOT, "events", name)) as f:
        return json.load(f)


# -- scenarios: what to seed, which call is "the deny", how to check it happened ----------------
def scenario_assumed_role(moto):
    moto.topic()
    moto.role("app-deployer")
    return load_event("assumed-role-event.json"), lambda: moto.role_denied("app-deployer")


def scenario_instance(moto):
    moto.topic()
    moto.role("web-app", instance_profile=True)
    return load_event("instance-exfiltration-event.json"), lambda: moto.role_denied("web-app")


def scenario_user_key(moto):
    moto.topic()
    moto.iam.create_user(UserName="ci-bot")
    key = moto.iam.create_access_key(UserName="ci-bot")["AccessKey"]["AccessKeyId"]
    moto.iam.create_access_key(UserName="ci-bot")  # a second key, which must stay active
    event = load_event("iam-user-key-event.json")
    # moto chooses key ids: the finding names the key it created.
    event["detail"]["resource"]["accessKeyDetails"]["accessKeyId"] = key
    return event, lambda: moto.key_inactive("ci-bot", key)


def scenario_manual(moto):
    moto.topic()
    moto.role("app-deployer")
    return load_event("manual-revoke.json"), lambda: moto.role_denied("app-deployer")


SCENARIOS = [
    ("assumed-role-event.json", scenario_assumed_role, ("PutRolePolicy",), True),
    ("instance-exfiltration-event.json", scenario_instance, ("PutRolePolicy",), True),
    ("iam-user-key-event.json", scenario_user_key, ("UpdateAccessKey", "PutUserPolicy"), False),
    ("manual-revoke.json", scenario_manual, ("PutRolePolicy",), True),
]


# -- the function under test ------------------------------------------------------------------
class Bench:
    def __init__(self, args):
        self.args = args
        self.api = RuntimeApi(deadline_s=INVOKE_TIMEOUT_S)
        self.moto = Moto(args.moto)
        self.home = tempfile.mkdtemp(prefix="bench-home-")
        os.makedirs(args.log_dir, exist_ok=True)
        self.logs = {}
        self.proxy = None
        self.proxy_url = None

    def close(self):
        stop(self.proxy)
        self.api.close()
        for f in self.logs.values():
            f.close()
        try:
            os.rmdir(self.home)
        except OSError:
            pass

    def log_file(self, name):
        if name not in self.logs:
            self.logs[name] = open(os.path.join(self.args.log_dir, f"{name}.log"), "ab")
        return self.logs[name]

    def env(self, endpoint, extra=None):
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": self.home,  # empty: no developer ~/.aws profile is read, as in Lambda
            "LANG": "C.UTF-8",
            "TZ": "UTC",
            "AWS_LAMBDA_RUNTIME_API": self.api.address,
            "AWS_LAMBDA_FUNCTION_NAME": "session-revoker",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[$LATEST]bench",
            "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/session-revoker",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_ENDPOINT_URL": endpoint,
            "RESPONDER_ROLE_ARN": RESPONDER_ROLE_ARN,
            "SNS_TOPIC_ARN": TOPIC_ARN,
            # moto serves no CloudTrail LookupEvents (HTTP 500, retried for seconds): the bench
            # measures the path to the deny and the response without following the attacker,
            # which runs after the deny (README "Following the attacker").
            "CHAIN_DEPTH": "0",
            # The bench's findings are copies of the sample events, dated 2026-11-22.
            "MAX_FINDING_AGE_HOURS": "0",
            # The delayed re-check leaves the invocation, as in the template (README "Failure
            # behaviour"); the queue is created with every moto reset.
            "RECHECK_QUEUE_URL": f"{self.args.moto}/{ACCOUNT}/{RECHECK_QUEUE}",
        }
        env.update(extra or {})
        return env

    def rust_argv(self):
        return [self.args.binary]

    def python_argv(self):
        return [self.args.python, os.path.join(HERE, "python_runtime.py")]

    def python_env(self, endpoint):
        return self.env(endpoint, {
            "_HANDLER": "baseline_handler.handler",
            "LAMBDA_TASK_ROOT": HERE,
            "PYTHONDONTWRITEBYTECODE": "1",
        })

    def start(self, argv, env, log_name):
        """Starts a function; returns (cold start ms, process)."""
        self.api.reset()
        log_f = self.log_file(log_name)
        t0 = time.monotonic_ns()
        p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log_f, stderr=subprocess.STDOUT)
        CHILDREN.append(p)
        t1 = self.api.wait_first_next(START_TIMEOUT_S)
        if t1 is None:
            errors = self.api.init_errors()
            stop(p)
            raise RuntimeError(
                f"{argv[-1]} made no `next` request within {START_TIMEOUT_S}s (exit code {p.poll()}, "
                f"init errors {errors!r}); see {log_f.name}"
            )
        return (t1 - t0) / 1e6, p

    def invoke(self, payload, p):
        rid = self.api.invoke(json.dumps(payload).encode())
        res = self.api.wait_result(rid, INVOKE_TIMEOUT_S)
        if res is None:
            raise RuntimeError(f"no response within {INVOKE_TIMEOUT_S}s (function exit code {p.poll()})")
        kind, handed_ns, result_ns, body = res
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        return kind, handed_ns, result_ns, parsed

    # -- cold start ---------------------------------------------------------------------------
    def cold_kinds(self):
        """(key, argv, env) of every function whose cold start is measured, interleaved run by run:
        the release binary, the boto3 baseline, the same binary with TLS_TRUST_STORE=platform,
        and the build before this change (--before), when given."""
        kinds = [("rust", self.rust_argv(), self.env(self.args.moto))]
        if not self.args.no_baseline:
            kinds.append(("python_boto3", self.python_argv(), self.python_env(self.args.moto)))
        kinds.append(("rust_platform_store", self.rust_argv(),
                      self.env(self.args.moto, {"TLS_TRUST_STORE": "platform"})))
        if self.args.before:
            kinds.append(("before", [self.args.before], self.env(self.args.moto)))
        return kinds

    def cold_starts(self):
        runs, warmup = self.args.cold_runs, self.args.warmup
        kinds = self.cold_kinds()
        samples = {key: [] for key, _, _ in kinds}
        log(f"cold start: {warmup} warm-up + {runs} measured runs of each of {[k for k, _, _ in kinds]}, interleaved "
            "(order rotated each round)")
        for i in range(warmup + runs):
            # Rotated each round: no function always runs right after the 300 ms Python one.
            for key, argv, env in kinds[i % len(kinds):] + kinds[:i % len(kinds)]:
                ms, p = self.start(argv, env, f"cold-start-{key}")
                stop(p)
                if i >= warmup:
                    samples[key].append(ms)
        out = {f"{key}_ms": v for key, v in samples.items()}
        out.update({key: summary(v) for key, v in samples.items()})
        if "python_boto3" not in out:
            out["python_boto3"] = summary([])
        return out

    def compare_binaries(self):
        """Cold start of several builds (--compare NAME=PATH), interleaved run by run."""
        pairs = [c.split("=", 1) for c in self.args.compare]
        samples = {name: [] for name, _ in pairs}
        runs, warmup = self.args.cold_runs, self.args.warmup
        log(f"cold start of {len(pairs)} builds: {warmup} warm-up + {runs} runs each, interleaved")
        for i in range(warmup + runs):
            for name, path in pairs:
                ms, p = self.start([path], self.env(self.args.moto), "cold-start-compare")
                stop(p)
                if i >= warmup:
                    samples[name].append(ms)
        return {name: {"ms": samples[name], **summary(samples[name])} for name, _ in pairs}

    # -- event to deny ------------------------------------------------------------------------
    def start_proxy(self):
        self.proxy = subprocess.Popen(
            [self.args.python, os.path.join(HERE, "record_proxy.py"), "--upstream", self.args.moto,
             "--max-seconds", "3600"],
            stdout=subprocess.PIPE, stderr=self.log_file("proxy"), stdin=subprocess.DEVNULL,
        )
        CHILDREN.append(self.proxy)
        line = self.proxy.stdout.readline().decode().strip()
        if not line.isdigit():
            raise RuntimeError(f"recording proxy did not start (exit code {self.proxy.poll()})")
        self.proxy_url = f"http://127.0.0.1:{line}"

    def proxy_call(self, path, method="GET"):
        req = urllib.request.Request(self.proxy_url + path, data=b"" if method == "POST" else None, method=method)
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def deny_run(self, argv, extra_env, seed, deny_actions, run, cold, warm):
        """One process: its first (cold) and second (warm) invocation, each on a freshly seeded moto."""
        self.moto.reset()
        event, check = seed(self.moto)
        _, p = self.start(argv, self.env(self.proxy_url, extra_env), "event-to-deny")
        try:
            for phase, out in (("cold", cold), ("warm", warm)):
                if phase == "warm":
                    self.moto.reset()
                    event, check = seed(self.moto)
                self.proxy_call("/__bench__/reset", "POST")
                kind, handed_ns, result_ns, body = self.invoke(event, p)
                records = self.proxy_call("/__bench__/records")
                m = analyse(records, handed_ns, result_ns, deny_actions)
                m["response"] = kind
                m["outcome"] = body.get("outcome") if isinstance(body, dict) else None
                m["verified_in_moto"] = bool(check())
                m["run"] = run
                out.append(m)
        finally:
            stop(p)

    def event_to_deny(self):
        self.start_proxy()
        results = {}
        for name, seed, deny_actions, names_role in SCENARIOS:
            cold, warm = [], []
            log(f"event to deny: {name}, {self.args.deny_runs} runs (cold and warm invocation)")
            for run in range(self.args.deny_runs):
                self.deny_run(self.rust_argv(), None, seed, deny_actions, run, cold, warm)
            results[name] = {
                "deny_actions": list(deny_actions),
                "names_role": names_role,
                "cold": cold,
                "warm": warm,
            }
        stop(self.proxy)
        self.proxy = None
        return results

    def first_event(self):
        """The first event of a fresh process (assumed-role-event.json), the same way as above, for
        the current build, the current build with TLS_TRUST_STORE=platform, and the build before
        (--before): work moved out of the cold start must not land before the deny. Interleaved."""
        variants = [("current", self.rust_argv(), None),
                    ("current_platform_store", self.rust_argv(), {"TLS_TRUST_STORE": "platform"})]
        if self.args.before:
            variants.append(("before", [self.args.before], None))
        runs = self.args.first_event_runs
        log(f"first event to deny: {[v for v, _, _ in variants]}, {runs} runs each, interleaved")
        self.start_proxy()
        out = {name: {"cold": [], "warm": []} for name, _, _ in variants}
        name, seed, deny_actions, _ = SCENARIOS[0]
        for run in range(runs):
            for key, argv, extra in variants[run % len(variants):] + variants[:run % len(variants)]:
                self.deny_run(argv, extra, seed, deny_actions, run, out[key]["cold"], out[key]["warm"])
        stop(self.proxy)
        self.proxy = None
        return {"event": name, "runs": runs, "variants": out}

    # -- peak RSS over many findings ----------------------------------------------------------
    def peak_rss(self, argv=None):
        argv = argv or self.rust_argv()
        n, roles = self.args.rss_findings, self.args.rss_roles
        log(f"peak RSS: {n} findings over {roles} roles through one function process ({argv[0]})")
        self.moto.reset()
        self.moto.topic()
        names = [f"bench-role-{i:02d}" for i in range(roles)]
        for r in names:
            self.moto.role(r)
        base = load_event("assumed-role-event.json")
        _, p = self.start(argv, self.env(self.args.moto), "peak-rss")
        try:
            idle = read_status(p.pid)
            outcomes = {}
            after_first = None
            t0 = time.monotonic()
            for i in range(n):
                ev = copy.deepcopy(base)
                fid = f"{i:08x}" + uuid.uuid4().hex[:24]
                ev["id"] = str(uuid.uuid4())
                ev["detail"]["id"] = fid
                ev["detail"]["arn"] = ev["detail"]["arn"].rsplit("/", 1)[0] + "/" + fid
                akd = ev["detail"]["resource"]["accessKeyDetails"]
                akd["userName"] = names[i % roles]
                akd["principalId"] = f"AROAQEXAMPLEBENCH{i % roles:04d}:session-{i}"
                akd["accessKeyId"] = f"ASIAQEXAMPLE{i:08d}"
                kind, _, _, body = self.invoke(ev, p)
                key = body.get("outcome") if kind == "response" and isinstance(body, dict) else f"error:{(body or {}).get('errorType')}"
                outcomes[key] = outcomes.get(key, 0) + 1
                if i == 0:
                    after_first = read_status(p.pid)
            elapsed = time.monotonic() - t0
            end = read_status(p.pid)
        finally:
            stop(p)
        return {
            "findings": n,
            "roles": roles,
            "outcomes": outcomes,
            "seconds": elapsed,
            "idle_kib": idle,
            "after_first_kib": after_first,
            "end_kib": end,
        }


    # -- organization-wide burst (tools/bench/burst.py) ----------------------------------------
    def bursts(self):
        """The burst at the configured IAM write rate, then (--burst-stress-rate) the same burst with
        IAM writes throttled harder; one plot of both."""
        import burst as B
        a = self.args
        main = self.burst(a.burst_throttle_rate, a.burst_throttle_burst)
        out = {"burst": main}
        runs = [(f"{a.burst_throttle_rate:g} IAM writes/s per account", main.pop("_per"), main.pop("_records"), "#1f6f43")]
        if a.burst_stress_rate:
            stress = self.burst(a.burst_stress_rate, a.burst_stress_burst)
            out["burst_stress"] = stress
            runs.append((f"{a.burst_stress_rate:g} IAM write/s per account", stress.pop("_per"), stress.pop("_records"),
                         "#c0392b"))
        if a.burst_png:
            err = B.plot(runs, a.burst_png)
            main["plot"] = None if err else a.burst_png
            main["plot_error"] = err
        return out

    def burst(self, throttle_rate, throttle_burst):
        import burst as B
        a = self.args
        accounts = B.member_accounts(a.burst_accounts)
        rng = random.Random(16)
        log(f"burst: {a.burst_findings_per_role * a.burst_roles_per_account * len(accounts)} findings, "
            f"{a.burst_roles_per_account} roles in each of {len(accounts)} accounts, concurrency {a.burst_concurrency}, "
            f"IAM writes {throttle_rate:g}/s (bucket {throttle_burst:g}) per account")
        self.moto.reset()
        self.moto.topic()
        seeder = B.Seeder(self.args.moto)
        roles, member_iam = seeder.seed(accounts, a.burst_roles_per_account)
        findings = B.make_findings(roles, a.burst_findings_per_role, rng)
        latency_file = os.path.join(self.args.log_dir, "burst-latency.json")
        with open(latency_file, "w") as f:
            json.dump(B.LATENCY, f)
        proxy = subprocess.Popen(
            [self.args.python, os.path.join(HERE, "record_proxy.py"), "--upstream", self.args.moto,
             "--max-seconds", "3600", "--latency", latency_file,
             "--throttle-rate", str(throttle_rate), "--throttle-burst", str(throttle_burst)],
            stdout=subprocess.PIPE, stderr=self.log_file("burst-proxy"), stdin=subprocess.DEVNULL)
        CHILDREN.append(proxy)
        port = proxy.stdout.readline().decode().strip()
        if not port.isdigit():
            raise RuntimeError(f"burst proxy did not start (exit code {proxy.poll()})")
        proxy_url = f"http://127.0.0.1:{port}"
        api = RuntimeApi(deadline_s=a.burst_function_timeout)
        # The delayed re-check (template.yaml RecheckQueue): SQS records the sender's identity as
        # its SenderId, which the function checks against its own (GetCallerIdentity).
        sender = boto3.client("sts", endpoint_url=self.args.moto, region_name=REGION, aws_access_key_id="testing",
                              aws_secret_access_key="testing").get_caller_identity()["UserId"]
        recheck = B.RecheckQueue(self.args.moto, sender, delay_s=a.burst_recheck_delay,
                                 visibility_s=a.burst_recheck_visibility) if a.burst_recheck_delay >= 0 else None
        extra = {"AWS_LAMBDA_RUNTIME_API": api.address, "MEMBER_ROLE_NAME": B.MEMBER_ROLE}
        # No queue: the function's in-invocation settle pass (as before the queue).
        extra["RECHECK_QUEUE_URL"] = recheck.url if recheck is not None else ""

        def spawn(n):
            p = subprocess.Popen(self.rust_argv(), env=self.env(proxy_url, extra), stdin=subprocess.DEVNULL,
                                 stdout=self.log_file("burst-functions"), stderr=subprocess.STDOUT)
            CHILDREN.append(p)
            return p

        def refill():
            urllib.request.urlopen(urllib.request.Request(proxy_url + "/__bench__/refill", data=b"", method="POST"),
                                   timeout=30).read()

        service = B.LambdaAsync(api, spawn, a.burst_concurrency, a.burst_max_retries, a.burst_max_event_age,
                                a.burst_retry_delay_scale, a.burst_function_timeout, on_skip=refill)
        issued = time.time() - 1.0  # every stolen session was issued before the burst
        t0, t0_ns = time.monotonic(), time.monotonic_ns()
        cpu_before = process_cpu_seconds(os.environ.get("MOTO_PID"))
        # The emulator's CPU, sampled twice a second: its share until the last finding was
        # first answered is what shows whether the emulator set the burst's pace.
        cpu_samples, sampling = [], threading.Event()

        def sample():
            while not sampling.wait(0.5):
                c = process_cpu_seconds(os.environ.get("MOTO_PID"))
                if c is not None:
                    cpu_samples.append((time.monotonic(), c))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            history, failure_queue = service.run([f["event"] for f in findings], t0, a.burst_limit_seconds,
                                                 recheck=recheck)
        finally:
            service.stop()
            api.close()
        sampling.set()
        cpu_after, wall = process_cpu_seconds(os.environ.get("MOTO_PID")), time.monotonic() - t0
        req = urllib.request.Request(proxy_url + "/__bench__/records")
        with urllib.request.urlopen(req, timeout=60) as r:
            records = json.loads(r.read())
        stop(proxy)
        final = {}
        for (account, role) in roles:
            iam = member_iam[account]
            docs = {}
            for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
                docs[name] = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
            final[(account, role)] = docs
        settings = {
            "accounts": len(accounts), "roles": len(roles), "findings_per_role": a.burst_findings_per_role,
            "concurrency": a.burst_concurrency, "max_retries": a.burst_max_retries,
            "max_event_age_s": a.burst_max_event_age, "retry_delay_scale": a.burst_retry_delay_scale,
            "concurrency_note": "function processes on this 2-core machine",
            "lambda_retry_delays_s": list(B.LAMBDA_RETRY_DELAYS_S), "throttle_rate": throttle_rate,
            "throttle_burst": throttle_burst, "latency_ms": B.LATENCY,
            "idle_seconds_skipped": service.offset(),
            "function_timeout_s": a.burst_function_timeout, "sessions_issued_epoch": issued,
            "mix": "half the roles application roles (MaliciousIPCaller, role-wide deny), half EC2 instance roles "
                   "(InstanceCredentialExfiltration.OutsideAWS, session-scoped deny)",
        }
        settings["recheck"] = ({"delay_s": a.burst_recheck_delay, "visibility_s": a.burst_recheck_visibility,
                                "max_receives": recheck.max_receives, "batch": recheck.batch,
                                "window_s": recheck.window_s}
                               if recheck is not None else "in the invocation (no queue)")
        summary, per = B.analyse(findings, history, failure_queue, records, t0_ns, final, settings,
                                 clock=service.virtual)
        if cpu_before is not None and cpu_after is not None and wall > 0:
            # The emulator's own CPU over the burst (one Python process: at most one core).
            summary["moto_cpu_share"] = (cpu_after - cpu_before) / wall
            until = [(t, c) for t, c in cpu_samples
                     if summary.get("intake_end_s") and t - t0 <= summary["intake_end_s"]]
            if until:
                last_t, last_cpu = until[-1]  # sampled in time order
                summary["moto_cpu_share_until_intake_end"] = (last_cpu - cpu_before) / (last_t - t0)
        if recheck is not None:
            summary["recheck_messages"] = recheck.sent
            summary["recheck_batches"] = len(service.recheck_history)
            summary["recheck_item_failures"] = recheck.item_failures
            summary["recheck_dead_letter"] = len(recheck.dead)
        # Every call of the run, for a closer look at a finding that was not contained.
        with open(os.path.join(self.args.log_dir, f"burst-records-{throttle_rate:g}.json"), "w") as f:
            json.dump({"findings": [{k: v for k, v in x.items() if k != "event"} for x in findings],
                       "records": records, "final_policies": {f"{k[0]}/{k[1]}": v for k, v in final.items()}}, f)
        fq = [{"finding_id": findings[x["event"]]["finding_id"], "account": findings[x["event"]]["account"],
               "role": findings[x["event"]]["role"], "reason": x["reason"], "attempts": x["attempts"]}
              for x in failure_queue]
        log(f"burst: {summary['contained']}/{summary['findings']} contained, {summary['retried']} retried, "
            f"{summary['failure_queue']} in the failure queue, p99 {summary['denied_p99_s']} s, "
            f"{summary['throttled_calls']} throttled, {summary['aws_calls_per_finding']:.2f} calls per finding")
        return {"settings": settings, "summary": summary, "findings": len(findings), "failure_queue": fq,
                "per_finding": per, "_per": per, "_records": records}


def read_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS"):
                out[k] = int(v.split()[0])
    return out


def analyse(records, handed_ns, result_ns, deny_actions):
    """Chains of AWS calls: a call that starts after every earlier call ended starts a new step;
    calls overlapping the current step are concurrent and count once."""
    recs = sorted(records, key=lambda r: r["start_ns"])
    steps, max_end = [], None
    for r in recs:
        if max_end is None or r["start_ns"] >= max_end:
            steps.append([r])
        else:
            steps[-1].append(r)
        max_end = r["end_ns"] if max_end is None else max(max_end, r["end_ns"])
    deny, deny_step = None, None
    for i, step in enumerate(steps):
        for r in step:
            if r["action"] in deny_actions and r["status"] == 200 and deny is None:
                deny, deny_step = r, i
    seq = " -> ".join(
        step[0]["action"] if len(step) == 1 else "[" + " | ".join(r["action"] for r in step) + "]"
        for step in steps
    )
    m = {
        "calls_total": len(recs),
        "steps_total": len(steps),
        "sequence": seq,
        "get_caller_identity_calls": sum(1 for r in recs if r["action"] == "GetCallerIdentity"),
        "event_to_response_ms": (result_ns - handed_ns) / 1e6 if handed_ns else None,
        "first_call_after_event_ms": (recs[0]["start_ns"] - handed_ns) / 1e6 if recs and handed_ns else None,
        "calls": [
            {
                "action": r["action"],
                "status": r["status"],
                "start_ms": round((r["start_ns"] - handed_ns) / 1e6, 3) if handed_ns else None,
                "duration_ms": round((r["end_ns"] - r["start_ns"]) / 1e6, 3),
            }
            for r in recs
        ],
    }
    if deny is not None:
        m.update({
            "deny_action": deny["action"],
            "event_to_deny_ms": (deny["end_ns"] - handed_ns) / 1e6,
            "steps_to_deny": deny_step + 1,
            "calls_to_deny": sum(1 for r in recs if r["start_ns"] <= deny["start_ns"]),
        })
    else:
        m.update({"deny_action": None, "event_to_deny_ms": None, "steps_to_deny": None, "calls_to_deny": None})
    return m



def process_cpu_seconds(pid):
    """User + system CPU seconds of process `pid` so far (Linux /proc), or None."""
    try:
        with open(f"/proc/{int(pid)}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (TypeError, ValueError, OSError):
        return None

def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/session-revoker"))
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--moto", default=os.environ.get("MOTO_ENDPOINT"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--log-dir", default=os.path.join(ROOT, "target/bench/logs"))
    ap.add_argument("--cold-runs", type=int, default=21)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--deny-runs", type=int, default=5)
    ap.add_argument("--rss-findings", type=int, default=100)
    ap.add_argument("--rss-roles", type=int, default=20)
    ap.add_argument("--before", help="the release binary of the build before this change: its cold start, "
                    "first event and peak RSS are measured beside the current build's")
    ap.add_argument("--first-event-runs", type=int, default=9)
    ap.add_argument("--burst-accounts", type=int, default=10)
    ap.add_argument("--burst-roles-per-account", type=int, default=10)
    ap.add_argument("--burst-findings-per-role", type=int, default=10)
    ap.add_argument("--burst-concurrency", type=int, default=10, help="the function's reserved concurrency")
    ap.add_argument("--burst-max-retries", type=int, default=2, help="MaximumRetryAttempts")
    ap.add_argument("--burst-max-event-age", type=float, default=3600, help="MaximumEventAgeInSeconds")
    ap.add_argument("--burst-retry-delay-scale", type=float, default=1.0,
                    help="Lambda's 1 and 2 minute retry delays are multiplied by this (idle waits are skipped anyway)")
    ap.add_argument("--burst-stress-rate", type=float, default=1.0,
                    help="a second burst with IAM writes throttled to this rate per account (0: none)")
    ap.add_argument("--burst-stress-burst", type=float, default=2.0)
    ap.add_argument("--burst-throttle-rate", type=float, default=5.0, help="IAM writes per second per account")
    ap.add_argument("--burst-throttle-burst", type=float, default=10.0, help="IAM write token bucket size")
    ap.add_argument("--burst-function-timeout", type=float, default=900.0)
    ap.add_argument("--burst-limit-seconds", type=float, default=240.0, help="the bench stops the burst after this")
    ap.add_argument("--burst-recheck-delay", type=float, default=15.0,
                    help="the re-check queue's DelaySeconds (template.yaml); negative: no queue, the in-invocation pass")
    ap.add_argument("--burst-recheck-visibility", type=float, default=30.0,
                    help="seconds before a failed re-check item comes back (the template's 900, shortened)")
    ap.add_argument("--burst-png", help="where to write the plot")
    ap.add_argument("--only", choices=["cold", "first", "deny", "rss", "compare", "burst"], action="append")
    ap.add_argument("--no-baseline", action="store_true", help="cold start of the binary only")
    ap.add_argument("--compare", action="append", default=[], metavar="NAME=PATH",
                    help="with --only compare: cold starts of these builds, interleaved")
    args = ap.parse_args()
    if not args.moto:
        ap.error("--moto or MOTO_ENDPOINT is required (run under tools/with-moto.sh)")
    sys.setswitchinterval(0.0005)  # the Runtime API threads note times promptly
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    bench = Bench(args)
    results = {"binary": args.binary}
    try:
        only = set(args.only or ["cold", "first", "deny", "rss"])
        if "cold" in only:
            results["cold_start"] = bench.cold_starts()
        if "compare" in only:
            results["compare"] = bench.compare_binaries()
        if "first" in only:
            results["first_event"] = bench.first_event()
        if "deny" in only:
            results["event_to_deny"] = bench.event_to_deny()
        if "rss" in only:
            results["peak_rss"] = bench.peak_rss()
            if args.before:
                results["peak_rss_before"] = bench.peak_rss([args.before])
        if "burst" in only:
            results.update(bench.bursts())
    finally:
        bench.close()
        stop_all()
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
