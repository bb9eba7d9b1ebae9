#!/usr/bin/env python3
"""Runs a Lambda bootstrap locally through a minimal Runtime API and feeds it event files.

    scripts/invoke-bootstrap.py BOOTSTRAP EVENT.json [EVENT.json ...]

Prints each response and, at the end, the bootstrap's peak RSS (from /proc, sampled) and wall time
per invocation. Environment variables (FLAGTRAIL_*, AWS_ENDPOINT_URL, …) pass through.
BOOTSTRAP_EXPECT, if set, is text every response must contain (a function whose success is not a
stream batch's or a completeness check's answer, such as a log-writer round or a witness's 200).
"""
import http.server, json, os, subprocess, sys, threading, time

bootstrap, files = sys.argv[1], sys.argv[2:]
events = [open(f, "rb").read() for f in files]
responses, started = [], {}
lock = threading.Condition()


class Api(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):  # /2018-06-01/runtime/invocation/next
        with lock:
            while len(started) >= len(events):
                lock.wait()
            i = len(started)
            started[i] = time.monotonic()
        body = events[i]
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", str(i))
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60_000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:local")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        parts = self.path.split("/")
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
        if "invocation" in parts:
            i = int(parts[4])
            with lock:
                responses.append((i, parts[-1], time.monotonic() - started[i], body.decode(errors="replace")))
                lock.notify_all()


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Api)
threading.Thread(target=server.serve_forever, daemon=True).start()
env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}", AWS_LAMBDA_FUNCTION_NAME="local",
           AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128", AWS_LAMBDA_FUNCTION_VERSION="$LATEST")
proc = subprocess.Popen([bootstrap], env=env, stdout=open(os.environ.get("BOOTSTRAP_STDOUT", os.devnull), "w"))
peak = 0
while True:
    try:
        with open(f"/proc/{proc.pid}/status") as s:
            for line in s:
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
    except FileNotFoundError:
        break
    with lock:
        if len(responses) >= len(events):
            break
    if proc.poll() is not None:
        break
    time.sleep(0.01)
proc.kill()
for i, kind, secs, body in sorted(responses):
    print(f"{files[i]}: {kind} in {secs * 1000:.0f} ms: {body[:200]}")
print(f"peak RSS {peak / 1024:.1f} MiB")
# A stream batch succeeds with no batchItemFailures; a scheduled completeness check with no findings.
expect = os.environ.get("BOOTSTRAP_EXPECT")
ok = len(responses) == len(events) and all(
    k == "response" and (expect in b if expect else ('"batchItemFailures":[]' in b or '"findings":0' in b))
    for _, k, _, b in responses)
sys.exit(0 if ok else 1)
