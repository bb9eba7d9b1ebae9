#!/usr/bin/env python3
"""Cold start of Lambda bootstraps: process start to the first `GET .../invocation/next` on a local
Runtime API, the part of init the function's own code decides. A benchmark, not a test.

    scripts/cold-start.py [--runs N] [--al2023-certs] NAME=BOOTSTRAP [NAME=BOOTSTRAP ...]

Each bootstrap is started N times (default 40, interleaved) with only the variables Lambda and the
stack set; prints min / median / p90 in ms per bootstrap and the ratio of medians to the first one.

--al2023-certs runs them in a private mount namespace (needs root and `unshare`) where /etc/ssl and
/etc/pki hold the root certificates the way Amazon Linux 2023 (`provided.al2023`) lays them out, a
Red Hat-family layout: the PEM bundle at /etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem,
/etc/pki/tls/certs holding symlinks to it and to the OpenSSL "TRUSTED CERTIFICATE" bundle, and
/etc/ssl/certs a symlink to /etc/pki/tls/certs. The certificates are this host's.
"""
import http.server, os, re, shutil, statistics, subprocess, sys, tempfile, threading, time

args = sys.argv[1:]
runs, al2023 = 40, False
while args[:1] in (["--runs"], ["--al2023-certs"]):
    if args[0] == "--runs":
        runs, args = int(args[1]), args[2:]
    else:
        al2023, args = True, args[1:]
if al2023:
    root = tempfile.mkdtemp(prefix="al2023-certs-")
    pem = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n",
                     open("/etc/ssl/certs/ca-certificates.crt").read(), re.S)
    for d in ("pki/ca-trust/extracted/pem", "pki/ca-trust/extracted/openssl", "pki/tls/certs", "ssl"):
        os.makedirs(f"{root}/{d}")
    open(f"{root}/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", "w").write("".join(pem))
    # Same size and sections as update-ca-trust's file; the PEM reader skips this label unread.
    open(f"{root}/pki/ca-trust/extracted/openssl/ca-bundle.trust.crt", "w").write(
        "".join(p.replace("CERTIFICATE-----", "TRUSTED CERTIFICATE-----") for p in pem))
    os.symlink("/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", f"{root}/pki/tls/certs/ca-bundle.crt")
    os.symlink("/etc/pki/ca-trust/extracted/openssl/ca-bundle.trust.crt", f"{root}/pki/tls/certs/ca-bundle.trust.crt")
    os.symlink("/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", f"{root}/pki/tls/cert.pem")
    os.symlink("../pki/tls/certs", f"{root}/ssl/certs")
    made_pki = not os.path.exists("/etc/pki")
    os.makedirs("/etc/pki", exist_ok=True)  # a mount point; removed again below if it was not there
    inner = [sys.executable, os.path.abspath(__file__), "--runs", str(runs), *args]
    try:
        code = subprocess.call(["unshare", "-m", "sh", "-c",
                                f'mount --bind {root}/pki /etc/pki && mount --bind {root}/ssl /etc/ssl && exec "$@"',
                                "sh", *inner])
    finally:
        shutil.rmtree(root)
        if made_pki:
            os.rmdir("/etc/pki")
    sys.exit(code)
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


# Only what Lambda's environment has (the reserved variables and the stack's): nothing of this
# host's, such as SSL_CERT_FILE / SSL_CERT_DIR, which change how the SDK finds root certificates.
env = {
    "PATH": "/usr/local/bin:/usr/bin/:/bin:/opt/bin", "LANG": "en_US.UTF-8", "TZ": ":UTC",
    "LD_LIBRARY_PATH": "/lib64:/usr/lib64", "LAMBDA_TASK_ROOT": "/var/task", "LAMBDA_RUNTIME_DIR": "/var/runtime",
}
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
