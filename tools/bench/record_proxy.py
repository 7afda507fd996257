"""A tiny recording HTTP proxy between the function and moto, for `make bench`.

The function's AWS_ENDPOINT_URL points here; every request is forwarded unchanged to the
upstream (moto) and recorded: the AWS action (the `Action=` form field of query-protocol
services: IAM, SNS, STS, EC2; else `X-Amz-Target`; else the operation of an rpc-v2 path),
the service (from the SigV4 credential scope), and start/end on the system-wide monotonic
clock (time.monotonic_ns): start when the request line arrived, end when the response was
written back to the function.

Control endpoints (never forwarded):
  GET  /__bench__/records   -> JSON list of records since the last reset
  POST /__bench__/reset     -> clears the records (and the throttle's buckets)
  POST /__bench__/refill    -> fills the throttle's buckets (the burst's clock skipped idle time)

For the organization-wide burst (tools/bench/burst.py) it can also behave like AWS under load:
  --latency FILE      a JSON object {"iam_read": ms, "iam_write": ms, "sts": ms, "sns": ms,
                      "ec2": ms, "other": ms, "jitter": fraction}: each call waits that long
                      (uniformly +-jitter) before it is forwarded, as AWS's own latency would add;
  --throttle-rate R   IAM mutating calls (Put*, Update*, Create*, Delete*, Attach*, Detach*, Add*,
  --throttle-burst B  Remove*, Tag*, Untag*, Set*, ...) are admitted per account by a token bucket
                      of B tokens refilled at R per second; a call without a token is answered as
                      IAM answers: HTTP 400, <Code>Throttling</Code> "Rate exceeded", and is not
                      forwarded.
The account of a call is read from its SigV4 access key id: the responder's own key, or a key
that an AssumeRole answered through this proxy (the account of the role ARN it assumed).
Records then also carry the account, the error code, and for PutRolePolicy the role, policy name
and document.

Usage: python record_proxy.py --upstream http://127.0.0.1:PORT [--port-file FILE] [--max-seconds N]
       [--latency FILE] [--throttle-rate R --throttle-burst B] [--default-account ID]
Listens on 127.0.0.1 on a free port, prints the port (and writes it to --port-file).
"""

import argparse
import http.client
import http.server
import json
import random
import re
import socket
import socketserver
import sys
import threading
import time
import urllib.parse

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}
SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
RPC_PATH = re.compile(r"/service/([^/]+)/operation/([^/?]+)")
ACCESS_KEY = re.compile(r"Credential=([^/]+)/")
ROLE_ACCOUNT = re.compile(r"^arn:[^:]+:iam::(\d{12}):role/")
ASSUMED_KEY = re.compile(rb"<AccessKeyId>([^<]+)</AccessKeyId>")
MUTATING_PREFIXES = ("Put", "Update", "Create", "Delete", "Attach", "Detach", "Add", "Remove", "Tag",
                     "Untag", "Set", "Upload", "Enable", "Deactivate", "Change", "Reset", "Resync")
THROTTLED_BODY = (
    '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>'
    "<Code>Throttling</Code><Message>Rate exceeded</Message></Error>"
    "<RequestId>{rid}</RequestId></ErrorResponse>"
)
ERROR_CODE = re.compile(rb"<Code>([^<]+)</Code>")


class TokenBuckets:
    """One token bucket per account: `burst` tokens, refilled at `rate` per second."""

    def __init__(self, rate, burst):
        self.rate, self.burst = rate, burst
        self.lock = threading.Lock()
        self.buckets = {}  # account -> (tokens, last refill, monotonic s)

    def take(self, account):
        now = time.monotonic()
        with self.lock:
            tokens, last = self.buckets.get(account, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            ok = tokens >= 1
            self.buckets[account] = (tokens - 1 if ok else tokens, now)
            return ok

    def reset(self):
        with self.lock:
            self.buckets.clear()


def latency_class(service, action):
    if service == "iam":
        return "iam_write" if action.startswith(MUTATING_PREFIXES) else "iam_read"
    return service if service in ("sts", "sns", "ec2") else "other"


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # A function process stopped by the bench resets its connections: expected, not news.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)
    request_queue_size = 64


def action_of(method, path, headers, body):
    target = headers.get("X-Amz-Target")
    if target:
        return target.rsplit(".", 1)[-1]
    m = RPC_PATH.search(path)
    if m:
        return m.group(2)
    ctype = headers.get("Content-Type", "")
    if body and "x-www-form-urlencoded" in ctype:
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"), max_num_fields=10_000)
        if "Action" in form:
            return form["Action"][0]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    if "Action" in query:
        return query["Action"][0]
    return f"{method} {urllib.parse.urlsplit(path).path}"


def service_of(headers):
    m = SCOPE.search(headers.get("Authorization", ""))
    return m.group(1) if m else None


def serve(upstream, port=0, latency=None, throttle=None, default_account="123456789012"):
    up = urllib.parse.urlsplit(upstream)
    records = []
    lock = threading.Condition()
    inflight = [0]  # forwarded requests not yet recorded
    local = threading.local()
    key_accounts = {}  # access key id -> account (from AssumeRole answers)
    rng = random.Random(16)
    rng_lock = threading.Lock()
    throttled_seq = [0]

    def account_of(headers):
        m = ACCESS_KEY.search(headers.get("Authorization", ""))
        if not m:
            return None
        with lock:
            return key_accounts.get(m.group(1), default_account)

    def delay_for(service, action):
        if not latency:
            return 0.0
        base = latency.get(latency_class(service, action), latency.get("other", 0)) / 1000.0
        jitter = latency.get("jitter", 0.0)
        with rng_lock:
            return max(0.0, base * (1 + rng.uniform(-jitter, jitter)))

    def upstream_conn(fresh=False):
        if fresh or getattr(local, "conn", None) is None:
            if getattr(local, "conn", None) is not None:
                local.conn.close()
            local.conn = http.client.HTTPConnection(up.hostname, up.port, timeout=60)
        return local.conn

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def setup(self):
            super().setup()
            # No Nagle delay between the header and body writes (the SDK would wait for it).
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def parse_request(self):
            # Start mark: the request line has just been read.
            self._start = time.monotonic_ns()
            return super().parse_request()

        def _read_body(self):
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                for _ in range(100_000):
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        break
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                return b"".join(chunks)
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _send(self, status, headers, body):
            self.send_response(status)
            for k, v in headers:
                if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()

        def _control(self):
            if self.path == "/__bench__/records":
                # Wait (bounded) for requests still being recorded: the function may have
                # answered its invocation before this proxy noted the last response it sent.
                with lock:
                    lock.wait_for(lambda: inflight[0] == 0, timeout=5)
                    body = json.dumps(records).encode()
                self._send(200, [("Content-Type", "application/json")], body)
            elif self.path == "/__bench__/refill":
                # The burst's clock skipped an idle wait: the buckets refilled meanwhile.
                if throttle:
                    throttle.reset()
                self._send(200, [("Content-Type", "application/json")], b"{}")
            elif self.path == "/__bench__/reset":
                with lock:
                    records.clear()
                if throttle:
                    throttle.reset()
                self._send(200, [("Content-Type", "application/json")], b"{}")
            else:
                self._send(404, [], b"")

        def _forward(self):
            start = self._start
            body = self._read_body()
            if self.path.startswith("/__bench__/"):
                self._control()
                return
            with lock:
                inflight[0] += 1
            try:
                self._relay(start, body)
            finally:
                with lock:
                    inflight[0] -= 1
                    lock.notify_all()

        def _relay(self, start, body):
            action = action_of(self.command, self.path, self.headers, body)
            service = service_of(self.headers)
            account = account_of(self.headers)
            wait = delay_for(service, action)
            if wait:
                time.sleep(wait)
            if (throttle and service == "iam" and action.startswith(MUTATING_PREFIXES)
                    and not throttle.take(account or default_account)):
                with lock:
                    throttled_seq[0] += 1
                    rid = f"throttled-{throttled_seq[0]}"
                self._send(400, [("Content-Type", "text/xml")], THROTTLED_BODY.format(rid=rid).encode())
                self._record(start, action, service, account, 400, body, b"", "Throttling")
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            headers["Content-Length"] = str(len(body))
            status, resp_headers, resp_body = None, [], b""
            for attempt in range(2):
                conn = upstream_conn(fresh=attempt > 0)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    status, resp_headers, resp_body = resp.status, resp.getheaders(), resp.read()
                    break
                except (http.client.HTTPException, OSError):
                    if attempt == 1:
                        status, resp_headers, resp_body = 502, [], b"upstream unreachable"
            if action == "AssumeRole" and status == 200:
                form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
                role = ROLE_ACCOUNT.match((form.get("RoleArn") or [""])[0])
                key = ASSUMED_KEY.search(resp_body)
                if role and key:
                    with lock:
                        key_accounts[key.group(1).decode()] = role.group(1)
            self._send(status, resp_headers, resp_body)
            code = None
            if status and status >= 400:
                m = ERROR_CODE.search(resp_body)
                code = m.group(1).decode("utf-8", "replace") if m else None
            self._record(start, action, service, account, status, body, resp_body, code)

        def _record(self, start, action, service, account, status, body, resp_body, code):
            end = time.monotonic_ns()
            rec = {
                "action": action,
                "service": service,
                "status": status,
                "start_ns": start,
                "end_ns": end,
            }
            if latency or throttle:
                rec["account"] = account
                rec["error"] = code
                if action == "PutRolePolicy":
                    form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
                    rec["role"] = (form.get("RoleName") or [None])[0]
                    rec["policy_name"] = (form.get("PolicyName") or [None])[0]
                    rec["document"] = (form.get("PolicyDocument") or [None])[0]
            with lock:
                records.append(rec)

        do_GET = _forward
        do_POST = _forward
        do_PUT = _forward
        do_DELETE = _forward
        do_HEAD = _forward

    server = _Server(("127.0.0.1", port), Handler)
    return server


def main():
    # Hand the GIL over within 0.5 ms (default 5 ms): a request arriving while another is being
    # relayed gets its start mark promptly.
    sys.setswitchinterval(0.0005)
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--port-file")
    ap.add_argument("--max-seconds", type=float, default=1800, help="stop by itself after this long")
    ap.add_argument("--latency", help="JSON file of per-call latencies (see the module doc)")
    ap.add_argument("--throttle-rate", type=float, help="IAM mutating calls per second per account")
    ap.add_argument("--throttle-burst", type=float, default=None, help="token bucket size (default: the rate)")
    ap.add_argument("--default-account", default="123456789012")
    args = ap.parse_args()
    latency = None
    if args.latency:
        with open(args.latency) as f:
            latency = json.load(f)
    throttle = None
    if args.throttle_rate:
        throttle = TokenBuckets(args.throttle_rate, args.throttle_burst or args.throttle_rate)
    server = serve(args.upstream, latency=latency, throttle=throttle, default_account=args.default_account)
    port = server.server_address[1]
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(port))
        import os
        os.replace(args.port_file + ".tmp", args.port_file)
    print(port, flush=True)
    timer = threading.Timer(args.max_seconds, server.shutdown)
    timer.daemon = True
    timer.start()
    try:
        server.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
