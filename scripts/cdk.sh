#!/usr/bin/env bash
# The CDK app's checks, offline and without credentials: install (pinned, from package-lock),
# typecheck, node --test (assertions + cdk-nag), `cdk synth --quiet` of the main stack and of the
# auditors' witness stack (`-c witness=true`), cfn-lint, parliament and checkov on the templates.
# Uses target/lambda/{audit,notify,reconcile,log-writer,witness}/bootstrap.zip when `make package` has built them, otherwise
# placeholder archives (synthesis only hashes them).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/infra/cdk"
scripts="$root/scripts"
"$scripts/setup-python.sh" --cfn --iam
[ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund --loglevel=error
npx tsc --noEmit
node --import tsx --test test/*.test.ts
assets="$root/target/lambda"
missing=0
for fn in audit notify reconcile log-writer witness; do [ -f "$assets/$fn/bootstrap.zip" ] || missing=1; done
if [ "$missing" = 1 ]; then
  assets=$(mktemp -d)
  python3 - "$assets" <<'PY'
import sys, zipfile, os
for fn in ("audit", "notify", "reconcile", "log-writer", "witness"):
    os.makedirs(os.path.join(sys.argv[1], fn))
    with zipfile.ZipFile(os.path.join(sys.argv[1], fn, "bootstrap.zip"), "w") as z:
        z.writestr("bootstrap", "placeholder: run make package for the real bootstrap")
PY
  echo "cdk: no packaged bootstraps in target/lambda, synthesizing with placeholders"
fi
out=$(mktemp -d)
# No credentials and no account lookups: synth is offline.
env -u AWS_PROFILE AWS_EC2_METADATA_DISABLED=true npx cdk synth --quiet --no-notices -c assetDir="$assets" -c stage=prod \
  -c tableName=feature-flags-prod \
  -c tableStreamArn=arn:aws:dynamodb:eu-west-1:123456789012:table/feature-flags-prod/stream/2026-11-01T00:00:00.000 \
  -c alertEmail=oncall@example.com -c slackWorkspaceId=T0123ABCD -c slackChannelId=C0123ABCD -c dataProtection=true \
  -c deployRoleArns=arn:aws:iam::123456789012:role/cdk-hnb659fds-cfn-exec-role-123456789012-eu-west-1 -o "$out" 2>&1 | grep -v "feature flags are not configured" || true
test -s "$out/Flagtrail-prod.template.json" || { echo "cdk synth produced no template"; exit 1; }
# The README's deploy command, with cdk.json's context applied: it attaches to the existing table
# (no flag table in the template) and both mappings read the given stream.
python3 - "$out/Flagtrail-prod.template.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))["Resources"]
tables = [r["Properties"].get("TableName") for r in t.values() if r["Type"] == "AWS::DynamoDB::Table"]
assert tables == ["flagtrail-prod-marks"], f"the README's deploy command creates tables {tables}"
arns = sorted(r["Properties"]["EventSourceArn"] for r in t.values() if r["Type"] == "AWS::Lambda::EventSourceMapping")
want = "arn:aws:dynamodb:eu-west-1:123456789012:table/feature-flags-prod/stream/2026-11-01T00:00:00.000"
assert arns == [want, want], f"mappings read {arns}"
PY
# The witness stack as the auditors deploy it (docs/integrity.md, "A witness in the auditors'
# account"): the log's vkey (its checkpoint key's, origin flagtrail/prod/seals) and the log
# writer's role, in the log owner's account. Its own directory: a second synth into the first
# would replace its manifest.
wout=$(mktemp -d)
env -u AWS_PROFILE AWS_EC2_METADATA_DISABLED=true npx cdk synth --quiet --no-notices -c assetDir="$assets" -c stage=prod \
  -c witness=true -c 'logVkey=flagtrail/prod/seals+e2e2486a+AYqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c' \
  -c logWriterRoleArn=arn:aws:iam::123456789012:role/Flagtrail-prod-LogWriterRoleF7D5E3B1-AbCdEfGh1234 \
  -c witnessName=witness.auditors.example/flagtrail -c alertEmail=audit@example.com -o "$wout" 2>&1 | grep -v "feature flags are not configured" || true
test -s "$wout/FlagtrailWitness-prod.template.json" || { echo "cdk synth produced no witness template"; exit 1; }
test ! -e "$wout/Flagtrail-prod.template.json" || { echo "-c witness=true synthesized the main stack too"; exit 1; }
# W3005: CDK adds an explicit DependsOn on the role beside the GetAtt; redundant, harmless.
"$root/.venv/bin/cfn-lint" --ignore-checks W3005 -- "$out"/Flagtrail-prod.template.json "$wout"/FlagtrailWitness-prod.template.json
# A second opinion on the IAM policies: parliament, with every accepted finding justified.
"$root/.venv/bin/python" "$scripts/iam-lint.py" "$out"/Flagtrail-prod.template.json
"$root/.venv/bin/python" "$scripts/iam-lint.py" "$wout"/FlagtrailWitness-prod.template.json
# A second, independent scanner: checkov over these templates and the demo's, each accepted finding with its reason.
python3 "$scripts/checkov-scan.py" "$out" "$assets" "$wout"
# The GitHub Actions workflows' structure (actionlint is not installable here; see the script).
"$root/.venv/bin/python" "$scripts/check-workflows.py"
# Pages reach on-call: the template's own topics and filter policies on moto (in process).
"$root/.venv/bin/python" "$scripts/alarm-routing-test.py" "$out"/Flagtrail-prod.template.json
echo "cdk: synth + cfn-lint + alarm routing OK ($out, witness $wout)"
