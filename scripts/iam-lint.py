#!/usr/bin/env python3
"""A second opinion on the stack's IAM: runs parliament (PyPI, pinned in requirements-iam.txt) over
every identity policy of the synthesized template (inline policies, role policies, managed policies),
with CloudFormation intrinsics turned into ARN-shaped strings. Fails on any finding of severity
MEDIUM or above that is not accepted below with its reason.

    scripts/iam-lint.py TEMPLATE.json
"""
import json, subprocess, sys, tempfile, os

REGION, ACCOUNT = "eu-west-1", "123456789012"
# Findings accepted on purpose: issue code → (which actions, why).
ACCEPTED = {
    "RESOURCE_STAR": (None, "X-Ray writes, dynamodb:ListStreams and CloudWatch metric/dashboard reads have no resource-level permissions"),
    # parliament splits ARNs on ":" and a stream ARN ends in a timestamp label full of colons
    # (table/T/stream/2026-11-01T00:00:00.000): the resource is the exact stream, a false positive.
    "RESOURCE_MISMATCH": ({"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"},
                          "stream ARNs carry a timestamp label with colons, which parliament's matcher splits"),
}

template = json.load(open(sys.argv[1]))
res = template["Resources"]


def resolve(v):
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        return [resolve(x) for x in v]
    if isinstance(v, dict):
        if "Ref" in v:
            r = res.get(v["Ref"], {})
            pseudo = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::URLSuffix": "amazonaws.com"}
            if v["Ref"] in pseudo:
                return pseudo[v["Ref"]]
            if r.get("Type") == "AWS::SNS::Topic":
                return f"arn:aws:sns:{REGION}:{ACCOUNT}:{r['Properties']['TopicName']}"
            if r.get("Type") == "AWS::Logs::LogGroup":
                return r["Properties"]["LogGroupName"]
            return v["Ref"].lower()
        if "Fn::GetAtt" in v:
            rid, attr = v["Fn::GetAtt"]
            kind = res.get(rid, {}).get("Type", "")
            if kind == "AWS::Logs::LogGroup":
                return f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{res[rid]['Properties']['LogGroupName']}:*"
            if kind == "AWS::S3::Bucket":
                return f"arn:aws:s3:::{rid.lower()}"
            if kind == "AWS::DynamoDB::Table":
                table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{res[rid]['Properties'].get('TableName', rid)}"
                return table + "/stream/2026-11-01T00:00:00.000" if attr == "StreamArn" else table
            if kind == "AWS::KMS::Key":
                return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{rid}"
            if kind == "AWS::KinesisFirehose::DeliveryStream":
                return f"arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/{res[rid]['Properties']['DeliveryStreamName']}"
            return f"arn:aws:iam::{ACCOUNT}:role/{rid}"
        if "Fn::Join" in v:
            return v["Fn::Join"][0].join(str(resolve(x)) for x in v["Fn::Join"][1])
        return {k: resolve(x) for k, x in v.items()}
    return v


docs = {}
for rid, r in res.items():
    p = r.get("Properties", {})
    if r["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        docs[rid] = p["PolicyDocument"]
    if r["Type"] == "AWS::IAM::Role":
        for i, pol in enumerate(p.get("Policies", [])):
            docs[f"{rid}-{i}"] = pol["PolicyDocument"]

failed = 0
with tempfile.TemporaryDirectory() as d:
    for rid, doc in docs.items():
        with open(os.path.join(d, f"{rid}.json"), "w") as f:
            json.dump(resolve(doc), f)
    out = subprocess.run([os.path.join(os.path.dirname(sys.executable), "parliament"), "--directory", d, "--json",
                          "--minimum_severity", "MEDIUM"], capture_output=True, text=True)
    findings = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    for f in findings:
        where = os.path.basename(f.get("location", {}).get("filepath") or "")
        code = f.get("issue")
        actions, why = ACCEPTED.get(code, (set(), ""))
        detail = f.get("detail")
        flagged = {d.get("action") for d in detail} if isinstance(detail, list) else set()
        if code in ACCEPTED and (actions is None or (flagged and flagged <= actions)):
            print(f"accepted  {code} in {where}: {why}")
            continue
        failed += 1
        print(f"FINDING   {code} ({f.get('severity')}) in {where}: {f.get('detail')}")
print(f"iam-lint (parliament): {len(docs)} policies, {failed} unaccepted finding(s)")
sys.exit(1 if failed else 0)
