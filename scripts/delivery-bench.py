#!/usr/bin/env python3
"""Delivery benchmark: the release `audit` and `notify` bootstraps on a full batch against a stand-in
for CloudWatch Logs and SNS that answers every call after a fixed latency (a typical in-region round
trip), through a minimal Lambda Runtime API. Prints, per function and concurrency limit, the wall
time of the invocation in round trips, the calls made, the most calls in flight, and in which round
trip the global kill switch at the end of the batch was published.

    scripts/delivery-bench.py [--latency-ms 30] [--records 3400] [--limits 16] [--mixes realistic,kill-switch-storm,...]

Mixes (`flagtrail gen-events --mix`): realistic, kill-switch-storm (30 production kill switches
flapping, global kill switches flipping), override-storm (thousands of tenant overrides),
many-flags (updates over 5,000 flags). notify also raises freshness marks (UpdateItem), counted.

Builds the release bootstraps and the CLI (for gen-events) if missing. Loopback only.
"""
import argparse, http.server, json, os, re, subprocess, threading, time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ap = argparse.ArgumentParser()
ap.add_argument("--latency-ms", type=float, default=30.0)
ap.add_argument("--records", type=int, default=3400, help="3,400 realistic records are ~6 MB, Lambda's payload limit")
ap.add_argument("--limits", default="16", help="FLAGTRAIL_MAX_CALLS_IN_FLIGHT values (16 is the default; 1 the sequential baseline)")
ap.add_argument("--mixes", default="realistic,kill-switch-storm,override-storm,many-flags")
args = ap.parse_args()
latency = args.latency_ms / 1000.0

release = os.path.join(root, "target", "release")
if not all(os.path.exists(os.path.join(release, b)) for b in ("audit", "notify", "flagtrail")):
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "audit", "--bin", "notify", "--bin", "flagtrail"], cwd=root, check=True)

# A ~6 MB batch of the mix, with a global kill switch in production as its last record.
def generate(mix, records):
    return json.loads(subprocess.run([os.path.join(release, "flagtrail"), "gen-events", "--records", str(records), "--mix", mix],
                                     capture_output=True, check=True).stdout)


def batch(mix):
    event = generate(mix, args.records)
    # Lambda stops a batch at 6 MB or 10,000 records: mixes of smaller records get more of them.
    size = len(json.dumps(event))
    if size < 5_500_000 or size > 6_000_000:
        event = generate(mix, min(10_000, int(args.records * 5_900_000 / size)))
    keys = {"PK": {"S": "KILLSWITCH#prod"}, "SK": {"S": "GLOBAL"}}
    def img(on):
        return dict(keys, enabled={"BOOL": on}, updatedBy={"S": "carol@example.com"}, requestId={"S": f"req-ks-{on}"})
    event["Records"].append({"eventID": "bench-global-kill-switch", "eventName": "MODIFY", "dynamodb": {
        "Keys": keys, "OldImage": img(False), "NewImage": img(True), "SequenceNumber": "999999999999999999999999999",
        "ApproximateCreationDateTime": int(time.time())}})
    return event, json.dumps(event).encode()


body = b""


class Stand:
    """What the stand-in saw during one invocation."""
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.calls, self.in_flight, self.most, self.t0, self.kill_switch_at, self.busy = 0, 0, 0, None, [], 0.0


stand = Stand()


class Aws(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else headers and body leave in two segments: +40 ms delayed ACK a call

    def log_message(self, *a):
        pass

    def do_POST(self):
        data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        start = time.monotonic()
        target = self.headers.get("X-Amz-Target", "")
        counted = target.endswith("PutLogEvents") or target.endswith("UpdateItem") or data.startswith(b"Action=PublishBatch")
        with stand.lock:
            if counted:
                stand.calls += 1
                stand.in_flight += 1
                stand.most = max(stand.most, stand.in_flight)
                if stand.t0 is not None and b"bench-global-kill-switch" in data:
                    stand.kill_switch_at.append(start - stand.t0)
        time.sleep(latency)
        if target.startswith("Logs_"):
            out, ctype = b"{}", "application/x-amz-json-1.1"
        elif target.startswith("DynamoDB_"):
            out, ctype = b"{}", "application/x-amz-json-1.0"
        else:
            ids = [m.decode() for m in re.findall(rb"PublishBatchRequestEntries\.member\.\d+\.Id=([^&]*)", data)]
            ok = "".join(f"<member><Id>{i}</Id><MessageId>m-{i}</MessageId></member>" for i in ids)
            out = (f'<PublishBatchResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishBatchResult>'
                   f'<Successful>{ok}</Successful><Failed/></PublishBatchResult><ResponseMetadata><RequestId>b</RequestId>'
                   f'</ResponseMetadata></PublishBatchResponse>').encode()
            ctype = "text/xml"
        with stand.lock:
            if counted:
                stand.in_flight -= 1
                stand.busy += time.monotonic() - start
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


class Server(http.server.ThreadingHTTPServer):
    # socketserver's default listen backlog is 5: with 32 connections opened at once (16 SNS + 16
    # DynamoDB calls in flight) the kernel drops SYNs and the client retries them after 1 s, a
    # delay of the stand-in that no AWS endpoint has.
    request_queue_size = 256
    daemon_threads = True


aws = Server(("127.0.0.1", 0), Aws)
threading.Thread(target=aws.serve_forever, daemon=True).start()


def invoke(function, limit):
    """Runs one invocation of the bootstrap; returns (wall seconds, response body)."""
    result = {}
    served = threading.Event()

    class Api(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *a):
            pass

        def do_GET(self):
            if served.is_set():
                time.sleep(3600)
            served.set()
            self.send_response(200)
            self.send_header("Lambda-Runtime-Aws-Request-Id", "bench")
            self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60_000))
            self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:bench")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with stand.lock:
                stand.reset()
                stand.t0 = time.monotonic()
            result["start"] = time.monotonic()
            self.wfile.write(body)

        def do_POST(self):
            data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            result["wall"] = time.monotonic() - result["start"]
            result["body"] = data.decode()
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

    api = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{api.server_address[1]}", AWS_LAMBDA_FUNCTION_NAME=function,
               AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256", AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
               AWS_ENDPOINT_URL=f"http://127.0.0.1:{aws.server_address[1]}", AWS_REGION="us-east-1",
               AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_EC2_METADATA_DISABLED="true",
               FLAGTRAIL_MAX_CALLS_IN_FLIGHT=str(limit), FLAGTRAIL_AUDIT_LOG_GROUP="/bench/audit",
               FLAGTRAIL_ALERT_TOPIC_ARN="arn:aws:sns:us-east-1:123456789012:alerts",
               FLAGTRAIL_INVALIDATION_TOPIC_ARN="arn:aws:sns:us-east-1:123456789012:invalidations",
               FLAGTRAIL_MARKS_TABLE="bench-marks")
    proc = subprocess.Popen([os.path.join(release, function)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while "wall" not in result and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.kill()
    api.shutdown()
    return result.get("wall"), result.get("body", "")


print(f"stand-in latency {args.latency_ms:.0f} ms per call")
print("| mix | MB | function | max in flight | calls | most in flight | wall ms | round trips | mean call ms | global kill switch sent in round trip | failures |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for mix in args.mixes.split(","):
    event, body = batch(mix)
    for function in ("notify", "audit"):
        for limit in [int(x) for x in args.limits.split(",")]:
            wall, response = invoke(function, limit)
            if wall is None:
                print(f"| {mix} | {len(body) / 1e6:.2f} | {function} | {limit} | - | - | timed out | - | - | - | - |")
                continue
            failed = json.loads(response).get("batchItemFailures", []) if response.startswith("{") else response
            ks = ", ".join(f"{1 + int(t / latency)}" for t in stand.kill_switch_at) or "-"
            mean = stand.busy / max(stand.calls, 1)
            print(f"| {mix} | {len(body) / 1e6:.2f} | {function} | {limit} | {stand.calls} | {stand.most} | {wall * 1000:.0f} | {wall / latency:.1f} | {mean * 1000:.0f} | {ks} | {len(failed) if isinstance(failed, list) else failed} |", flush=True)
