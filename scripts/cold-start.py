#!/usr/bin/env python3
"""Cold start of Lambda bootstraps: process start to the first `GET .../invocation/next` on a local
Runtime API, the part of init the function's own code decides. A benchmark, not a test.

    scripts/cold-start.py [--runs N] NAME=BOOTSTRAP [NAME=BOOTSTRAP ...]

Each bootstrap is started N times (default 40, interleaved) with the variables the stack sets;
prints min / median / p90 in ms per bootstrap and the ratio of medians to the first one.
"""
import http.server, os, socket, statistics, subprocess, sys, threading, time

args = sys.argv[1:]
runs = 40
if args[:1] == ["--runs"]:
    runs, args = int(args[1]), args[2:]
bins = [a.split("=", 1) for a in args]
if not bins:
    sys.exit(__doc__)

first_next = {}
lock = threading.Lock()


class Api(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        with lock:
            first_next.setdefault("t", time.perf_counter())
        # Never answer: the measurement ends at the request; the process is killed.
        time.sleep(5)


def serve():
    s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Api)
    s.daemon_threads = True
    threading.Thread(target=s.serve_forever, daemon=True).start()
    return s


env = dict(os.environ)
env.update({
    "AWS_LAMBDA_FUNCTION_NAME": "cold-start", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_REGION": "eu-west-1",
    "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "token",
    "FLAGTRAIL_AUDIT_LOG_GROUP": "/flagtrail/prod/audit", "FLAGTRAIL_AUDIT_RETENTION_DAYS": "365",
    "FLAGTRAIL_SEAL_KEY_ID": "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000",
    "FLAGTRAIL_ALERT_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:flagtrail-prod-alerts",
    "FLAGTRAIL_INVALIDATION_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:flagtrail-prod-invalidations",
    "FLAGTRAIL_PRODUCTION_ENVIRONMENTS": "prod,production",
})
env.pop("AWS_ENDPOINT_URL", None)
times = {name: [] for name, _ in bins}
server = serve()
env["AWS_LAMBDA_RUNTIME_API"] = f"127.0.0.1:{server.server_address[1]}"
for _ in range(runs):
    for name, path in bins:
        with lock:
            first_next.clear()
        t0 = time.perf_counter()
        p = subprocess.Popen([path], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = t0 + 5
        while "t" not in first_next and time.perf_counter() < deadline and p.poll() is None:
            time.sleep(0.0002)
        p.kill()
        p.wait()
        if "t" not in first_next:
            sys.exit(f"{name}: no /next request within 5 s (exit code {p.returncode})")
        times[name].append((first_next["t"] - t0) * 1000)

base = statistics.median(times[bins[0][0]])
print(f"{'bootstrap':<12} {'min ms':>8} {'median':>8} {'p90':>8} {'ratio':>7}   ({runs} runs each, interleaved)")
for name, _ in bins:
    t = sorted(times[name])
    med = statistics.median(t)
    print(f"{name:<12} {t[0]:8.2f} {med:8.2f} {t[int(len(t) * 0.9)]:8.2f} {med / base:7.2f}")
