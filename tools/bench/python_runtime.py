"""A minimal Python Lambda runtime loop for `make bench`: imports the handler module named by
_HANDLER (module.function, default baseline_handler.handler, looked up beside this file), then
polls the Runtime API at AWS_LAMBDA_RUNTIME_API: GET next, call the handler, POST the response
(or the error). The bench measures the time from process start to its first `next` request.
"""

import http.client
import importlib
import json
import os
import sys
import traceback

BASE = "/2018-06-01/runtime"
# Bounded: a real runtime loops forever; the bench stops the process long before this.
MAX_INVOCATIONS = int(os.environ.get("BENCH_MAX_INVOCATIONS", "10000"))


def main():
    api = os.environ["AWS_LAMBDA_RUNTIME_API"]
    sys.path.insert(0, os.environ.get("LAMBDA_TASK_ROOT") or os.path.dirname(os.path.abspath(__file__)))
    module_name, _, function_name = os.environ.get("_HANDLER", "baseline_handler.handler").rpartition(".")
    conn = http.client.HTTPConnection(api, timeout=900)
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
    except Exception as e:  # report an init error the way Lambda runtimes do
        body = json.dumps({"errorType": type(e).__name__, "errorMessage": str(e)})
        conn.request("POST", f"{BASE}/init/error", body=body, headers={"Content-Type": "application/json"})
        conn.getresponse().read()
        return 1
    for _ in range(MAX_INVOCATIONS):
        conn.request("GET", f"{BASE}/invocation/next")
        resp = conn.getresponse()
        payload = resp.read()
        if resp.status != 200:
            return 0
        request_id = resp.getheader("Lambda-Runtime-Aws-Request-Id")
        try:
            result = json.dumps(handler(json.loads(payload), None))
            path = f"{BASE}/invocation/{request_id}/response"
        except Exception as e:
            result = json.dumps({"errorType": type(e).__name__, "errorMessage": str(e),
                                 "stackTrace": traceback.format_exc().splitlines()})
            path = f"{BASE}/invocation/{request_id}/error"
        conn.request("POST", path, body=result, headers={"Content-Type": "application/json"})
        conn.getresponse().read()
    return 0


if __name__ == "__main__":
    sys.exit(main())
