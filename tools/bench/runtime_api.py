"""A minimal AWS Lambda Runtime API, served on 127.0.0.1 for `make bench`.

Implements what a runtime uses:
  GET  /2018-06-01/runtime/invocation/next          (long poll: blocks until an event is queued)
  POST /2018-06-01/runtime/invocation/<id>/response
  POST /2018-06-01/runtime/invocation/<id>/error
  POST /2018-06-01/runtime/init/error

and records, on the system-wide monotonic clock (time.monotonic_ns, CLOCK_MONOTONIC), when the
first `next` request of the current generation arrived (the cold-start end mark) and when
each event was handed out (the moment its `next` response was flushed).

Used as a module by driver.py; `python runtime_api.py` serves it alone (see the end of the file).
"""

import collections
import http.server
import json
import queue
import socket
import socketserver
import sys
import threading
import time
import uuid

NEXT = "/2018-06-01/runtime/invocation/next"
PREFIX = "/2018-06-01/runtime/invocation/"
INIT_ERROR = "/2018-06-01/runtime/init/error"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:session-revoker"
# A long poll that nobody feeds ends after this long (keeps every handler thread bounded).
MAX_POLL_S = 600


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # A function process stopped by the bench resets its connections: expected, not news.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


class RuntimeApi:
    def __init__(self, deadline_s=60):
        self.deadline_s = deadline_s
        self._lock = threading.Condition()
        self._pending = collections.deque()  # (request id, payload) not yet handed out
        self._generation = 0
        self._first_next_ns = None
        self._handed = {}  # request id -> monotonic ns when the event was handed out
        self._results = {}  # request id -> (kind, monotonic ns, body bytes)
        self._init_errors = []
        self._next_count = 0
        self._closed = False
        self._listeners = []  # queues that receive every result (listen())
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def setup(self):
                super().setup()
                # Like the real Runtime API: no Nagle delay between the header and body writes.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _reply(self, status, body=b"", headers=None):
                """Writes the whole response in one send; returns the monotonic ns just before it."""
                self.send_response_only(status)
                self.send_header("Date", self.date_time_string())
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self._headers_buffer.append(b"\r\n")
                data = b"".join(self._headers_buffer) + body
                self._headers_buffer = []
                sent = time.monotonic_ns()
                self.wfile.write(data)
                self.wfile.flush()
                return sent

            def do_GET(self):
                arrived = time.monotonic_ns()
                if self.path != NEXT:
                    self._reply(404, b'{"error":"not found"}')
                    return
                generation = api._note_next(arrived)
                item = api._wait_event(generation)
                if item is None:
                    # Closing or superseded: end the poll; the client is being stopped anyway.
                    self.close_connection = True
                    try:
                        self._reply(503, b'{"error":"runtime api closing"}')
                    except OSError:
                        pass
                    return
                request_id, payload = item
                headers = {
                    "Lambda-Runtime-Aws-Request-Id": request_id,
                    "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + int(api.deadline_s * 1000)),
                    "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN,
                    "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000;Sampled=0",
                }
                handed = self._reply(200, payload, headers)
                api._note_handed(request_id, handed)

            def do_POST(self):
                arrived = time.monotonic_ns()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.path == INIT_ERROR:
                    api._note_init_error(body)
                    self._reply(202, b'{"status":"OK"}')
                    return
                if self.path.startswith(PREFIX):
                    rest = self.path[len(PREFIX):]
                    request_id, _, kind = rest.partition("/")
                    if kind in ("response", "error"):
                        api._note_result(request_id, kind, arrived, body)
                        self._reply(202, b'{"status":"OK"}')
                        return
                self._reply(404, b'{"error":"not found"}')

        self._server = _Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.address = f"127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    # -- called by handler threads -------------------------------------------------------
    def _note_next(self, arrived):
        with self._lock:
            self._next_count += 1
            if self._first_next_ns is None:
                self._first_next_ns = arrived
            self._lock.notify_all()
            return self._generation

    def _wait_event(self, generation):
        """The next queued event for a poll of this generation (None once superseded or closed).

        Taken under the lock with the generation checked, so a poll left open by a stopped
        process never takes an event meant for its successor."""
        deadline = time.monotonic() + MAX_POLL_S
        with self._lock:
            while True:
                if self._closed or self._generation != generation:
                    return None
                if self._pending:
                    return self._pending.popleft()
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._lock.wait(min(left, 1.0))

    def _note_handed(self, request_id, ns):
        with self._lock:
            self._handed[request_id] = ns
            self._lock.notify_all()

    def _note_result(self, request_id, kind, ns, body):
        with self._lock:
            self._results[request_id] = (kind, ns, body)
            for q in self._listeners:
                q.put((request_id, kind, ns, body))
            self._lock.notify_all()

    def _note_init_error(self, body):
        with self._lock:
            self._init_errors.append(body)
            self._lock.notify_all()

    # -- used by the driver --------------------------------------------------------------
    def reset(self):
        """A new generation: forget the first-`next` mark, drop queued events, end open polls."""
        with self._lock:
            self._generation += 1
            self._first_next_ns = None
            self._next_count = 0
            self._init_errors = []
            self._pending.clear()
            self._lock.notify_all()

    def wait_first_next(self, timeout_s):
        """Monotonic ns of the first `next` of this generation, or None on timeout / init error."""
        end = time.monotonic() + timeout_s
        with self._lock:
            while self._first_next_ns is None and not self._init_errors:
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self._lock.wait(left)
            return self._first_next_ns

    def listen(self):
        """A queue that receives (request id, kind, monotonic ns, body) for every result from now on."""
        q = queue.Queue()
        with self._lock:
            self._listeners.append(q)
        return q

    def init_errors(self):
        with self._lock:
            return list(self._init_errors)

    def invoke(self, payload_bytes):
        request_id = str(uuid.uuid4())
        with self._lock:
            self._pending.append((request_id, payload_bytes))
            self._lock.notify_all()
        return request_id

    def wait_result(self, request_id, timeout_s):
        """(kind, handed_ns, result_ns, body) once the function answered, or None on timeout."""
        end = time.monotonic() + timeout_s
        with self._lock:
            while request_id not in self._results:
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self._lock.wait(left)
            kind, ns, body = self._results[request_id]
            return kind, self._handed.get(request_id), ns, body

    def close(self):
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        self._server.shutdown()
        self._server.server_close()


if __name__ == "__main__":
    # By hand: prints the address, then queues each line of standard input as one event;
    # end of input stops the server.
    api = RuntimeApi()
    print(api.address, flush=True)
    try:
        for line in sys.stdin:
            if line.strip():
                print(json.dumps({"queued": api.invoke(line.strip().encode())}), flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        api.close()
