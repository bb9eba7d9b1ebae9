#!/usr/bin/env python3
"""A second, independent scanner: checkov (PyPI, pinned in requirements-checkov.txt, its own venv
.venv/checkov) over the synthesized templates: the README's prod command (synthesized by cdk.sh),
the demo's (`-c createDemoTable=true`, with the GitHub deploy role stack), synthesized here, and
the auditors' witness stack (`-c witness=true`, synthesized by cdk.sh) when its directory is given.
Offline: no policy download, no platform mappings.

Fails on any failed check that is not accepted below, on a parse error, and on a template checkov
reads no resource from. Every accepted finding names its check and resources and says why, as the
cdk-nag acknowledgements do (checkov's inline `checkov:skip=ID:reason` needs comments in the
template, which a synthesized JSON cannot carry). An acceptance nothing triggers any more is
reported, to be removed.

    scripts/checkov-scan.py TEMPLATE_DIR ASSET_DIR [WITNESS_DIR]
        (cdk.sh's synth output, its Lambda assets, and its synth output of the witness stack)
"""
import json, os, subprocess, sys, tempfile, time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
scripts = os.path.join(root, "scripts")

STREAM_FUNCTIONS = ["AuditFunctionE377F5C8", "NotifyFunction0D8C391B"]
RECONCILE = ["ReconcileFunction30829CB6"]
LOG_WRITER = ["LogWriterFunction4E46BDC4"]
SCHEDULED = RECONCILE + LOG_WRITER
FUNCTIONS = STREAM_FUNCTIONS + SCHEDULED
# The witness stack (lib/witness.ts), in the auditors' account.
WITNESS = ["WitnessFunction8E205B86"]

# Accepted findings: (check id, logical IDs) → why. Logical IDs are the deployed ones (stack.test.ts
# pins those of the stateful resources); the same ID in the prod and the demo template is one entry.
ACCEPTED = {
    # Lambda: generic checks.
    ("CKV_AWS_116", tuple(STREAM_FUNCTIONS)):
        "DLQ: a function's DLQ catches asynchronous invocations only; these are invoked synchronously by "
        "their DynamoDB stream mappings, whose on-failure destination is the failure bucket (a batch still "
        "failing after bisection and retries is saved there, and every saved batch pages: DiscardedBatches).",
    ("CKV_AWS_116", tuple(SCHEDULED)):
        "DLQ: reconcile and the transparency log's writer are invoked by hourly EventBridge schedules whose "
        "event is a tick carrying no data, so a DLQ would keep nothing to replay; a failed run is redone by the "
        "next hour's (the check from its kept state, the writer from the latest checkpoint) and raises "
        "ReconcileErrors or LogWriterErrors.",
    ("CKV_AWS_117", tuple(FUNCTIONS)):
        "VPC: the functions reach no VPC resource, only AWS regional APIs (Lambda polls the stream for them; "
        "CloudWatch Logs, KMS, SNS, DynamoDB, S3, CloudWatch metrics); in a VPC they would need a NAT gateway or "
        "an interface endpoint per service for no isolation gained. What they may call is their own role's "
        "least-privilege policy (iam.test.ts, iam-lint.py).",
    ("CKV_AWS_115", tuple(STREAM_FUNCTIONS)):
        "Concurrency: bounded by the stream itself (one batch in flight per shard, parallelization factor 1). "
        "A reserved concurrency would carve capacity out of the account's pool and, set to 0, stop the trail "
        "(PutFunctionConcurrency is a watched call of the tamper rules); throttling shows as IteratorAge.",
    ("CKV_AWS_173", tuple(FUNCTIONS)):
        "Environment encryption: the variables hold no secret (metrics namespace, environment names, table, "
        "topic, log group, bucket and key names or ARNs, a prefix and the log's origin line, all in the template); Lambda encrypts them at rest with its "
        "AWS managed key. A customer-managed key would add a key that can stop the functions for nothing confidential.",
    # The witness stack (lib/witness.ts).
    ("CKV_AWS_116", tuple(WITNESS)):
        "DLQ: the witness is invoked synchronously, through its Function URL, by the log writer, which gets the "
        "answer (a cosignature, or the C2SP status of a refusal) or the error; a DLQ catches asynchronous "
        "invocations only, and the next hour's round submits a new checkpoint.",
    ("CKV_AWS_117", tuple(WITNESS)):
        "VPC: the witness reaches no VPC resource, only KMS and DynamoDB's regional APIs, and is reached through "
        "its Function URL with IAM auth (a VPC does not change who may call it: its function policy names the log "
        "writer's role alone, witness.test.ts). In a VPC it would need interface endpoints for nothing gained.",
    ("CKV_AWS_173", tuple(WITNESS)):
        "Environment encryption: the variables hold no secret (the witness key's ARN, its name, the logs' public "
        "verifier keys, the table's name, all in the template); Lambda encrypts them at rest with its AWS managed key.",
    ("CKV_AWS_158", ("WitnessFunctionLogs30515239",)):
        "The witness's function log holds the checkpoints it was shown (which the log publishes) and its answers, "
        "nothing secret; CloudWatch Logs encrypts it at rest. A customer-managed key here would be one more key "
        "that, disabled, silences the witness's log, for nothing confidential.",
    ("CKV_AWS_119", ("WitnessTableCB634BC9",)):
        "AWS managed key on purpose (witness.ts): the items are the size and root of the last checkpoint cosigned per "
        "log, which the log publishes; a customer-managed key would add a key whose disabling stops the witness. "
        "Point-in-time recovery and deletion protection keep the state, which is what matters.",
    ("CKV_AWS_26", ("WitnessAlarmTopic689FF4C4",)):
        "Deliberately unencrypted, as the main stack's alarm topic: the witness's alarm must not depend on a KMS key "
        "that can be disabled; it carries alarm states, not secrets, and refuses non-TLS publishing.",
    # S3.
    ("CKV_AWS_18", ("AccessLogBucketDA470295",)):
        "The access-log bucket itself (access-logs.ts), which holds the archive's and the failure bucket's "
        "server access logs: logged into itself it would log its own log deliveries, into another bucket it only "
        "moves the question one bucket on. Its configuration changes (policy, lifecycle, logging, deletion) page "
        "through TrailBucketChanged. SSE-S3 and no Object Lock: what the S3 User Guide documents for a server "
        "access log destination (Object Lock buckets cannot be one).",
    # SNS.
    ("CKV_AWS_26", ("AlarmTopicD01E77F9",)):
        "Deliberately unencrypted (notifications.ts): paging must not depend on a KMS key an attacker or a "
        "mistake can disable, and the tamper rules watch that very key; the topic carries alarm states and "
        "CloudTrail call summaries, not audit records, and refuses non-TLS publishing.",
    ("CKV_AWS_26", ("PipelineChangesTopicD2110303",)):
        "Deliberately unencrypted (notifications.ts), for the alarm topic's reasons: with Slack configured it "
        "carries CloudTrail call summaries of the pipeline's own deploys to the channel, not audit records, must "
        "not depend on the watched key, pages nobody, and refuses non-TLS publishing.",
    # DynamoDB.
    ("CKV_AWS_119", ("MarksTable0297FC12",)):
        "AWS managed key on purpose (marks.ts): evaluators anywhere in the account read marks with IAM alone, "
        "without kms:Decrypt on the key that protects the audit trail, and no one can disable the key under "
        "freshness reads; the items are derived scope keys, counters and timestamps the flag table already holds.",
    ("CKV_AWS_119", ("DemoTableEE720AED",)):
        "Demo only (createDemoTable=true): the trial stand-in for the user's own flag table, which attach mode "
        "(the README's deploy) does not create; AWS managed key like the marks table.",
}


def synth_demo(assets, out):
    """The demo variant and the deploy-role stack, offline, as cdk.sh synthesizes the prod one."""
    env = {k: v for k, v in os.environ.items() if k != "AWS_PROFILE"}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    cmd = ["npx", "cdk", "synth", "--quiet", "--no-notices", "-c", f"assetDir={assets}",
           "-c", "createDemoTable=true", "-c", "deployRepository=example/flagtrail", "-o", out]
    r = subprocess.run(cmd, cwd=os.path.join(root, "infra", "cdk"), env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"checkov: synthesizing the demo failed:\n{r.stdout}{r.stderr}")
    return [os.path.join(out, f) for f in ("Flagtrail-dev.template.json", "FlagtrailDeploy-dev.template.json")]


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    prod_dir, assets = sys.argv[1:3]
    witness = [os.path.join(sys.argv[3], "FlagtrailWitness-prod.template.json")] if len(sys.argv) == 4 else []
    subprocess.run([os.path.join(scripts, "setup-python.sh"), "--checkov"], check=True)
    checkov = os.path.join(root, ".venv", "checkov", "bin", "checkov")
    pin = next(l.split("==")[1].strip() for l in open(os.path.join(scripts, "requirements-checkov.txt")) if l.startswith("checkov=="))
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as demo_dir:
        templates = [os.path.join(prod_dir, "Flagtrail-prod.template.json")] + synth_demo(assets, demo_dir) + witness
        for t in templates:
            if not os.path.getsize(t):
                sys.exit(f"checkov: {t} is empty")
        synth_s = time.monotonic() - started
        cmd = [checkov, "--framework", "cloudformation", "--skip-download", "--output", "json"]
        for t in templates:
            cmd += ["--file", t]
        # BC_SKIP_MAPPING: no call to the platform for its guideline mappings (offline; BC_* IDs unused).
        r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "BC_SKIP_MAPPING": "TRUE"})
    if r.returncode not in (0, 1):  # 1: some check failed, judged below
        sys.exit(f"checkov exited {r.returncode}:\n{r.stderr}")
    reports = json.loads(r.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    if [x.get("check_type") for x in reports] != ["cloudformation"]:
        sys.exit(f"checkov: expected one cloudformation report, got {[x.get('check_type') for x in reports]}:\n{r.stderr}")
    report = reports[0]
    summary = report["summary"]
    if summary["checkov_version"] != pin:
        sys.exit(f"checkov: {summary['checkov_version']} is installed, requirements-checkov.txt pins {pin}")
    if summary["parsing_errors"]:
        sys.exit(f"checkov: {summary['parsing_errors']} template(s) could not be parsed: {report['results'].get('parsing_errors')}")

    per_file = {os.path.basename(t): {"passed": 0, "failed": 0, "resources": set()} for t in templates}
    for state in ("passed_checks", "failed_checks"):
        for c in report["results"][state]:
            f = per_file[os.path.basename(c["file_path"])]
            f[state.split("_")[0]] += 1
            f["resources"].add(c["resource"])
    used, new = set(), []
    for c in report["results"]["failed_checks"]:
        logical_id = c["resource"].split(".", 1)[1]
        key = next((k for k in ACCEPTED if k[0] == c["check_id"] and logical_id in k[1]), None)
        if key:
            used.add((key, logical_id))
        else:
            new.append(c)
    for name, f in per_file.items():
        if not f["resources"]:
            sys.exit(f"checkov: no resource of {name} was checked")
        print(f"checkov {summary['checkov_version']}, {name}: {f['passed']} checks pass, {f['failed']} fail "
              f"({f['failed'] - sum(1 for c in new if os.path.basename(c['file_path']) == name)} of them accepted)")
    for key, reason in ACCEPTED.items():
        hit = sorted(i for (k, i) in used if k == key)
        if hit:
            print(f"  accepted {key[0]} on {', '.join(hit)}: {reason}")
    stale = [(k, i) for k in ACCEPTED for i in k[1] if (k, i) not in used]
    for (check, _), logical_id in stale:
        print(f"  note: {check} on {logical_id} is accepted but no longer reported: remove it from scripts/checkov-scan.py")
    for c in new:
        print(f"NEW {c['check_id']} {c['resource']} ({os.path.basename(c['file_path'])}): {c['check_name']} — "
              f"fix it, or accept it in scripts/checkov-scan.py with its reason", file=sys.stderr)
    print(f"checkov: {time.monotonic() - started:.1f} s (of which demo synth {synth_s:.1f} s)")
    if new:
        sys.exit(f"checkov: {len(new)} finding(s) not accepted")


if __name__ == "__main__":
    main()
