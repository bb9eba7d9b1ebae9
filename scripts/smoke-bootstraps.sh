#!/usr/bin/env bash
# Runs the packaged bootstraps (target/lambda/*/bootstrap.zip) through a minimal Lambda Runtime API
# against moto on sample events: the artifacts that get deployed, not just the debug builds.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; scripts/moto.sh stop; rm -rf "$work"' EXIT
for fn in audit notify reconcile; do
  python3 -c "import zipfile,sys; zipfile.ZipFile(sys.argv[1]).extract('bootstrap', sys.argv[2])" "target/lambda/$fn/bootstrap.zip" "$work/$fn"
  chmod +x "$work/$fn/bootstrap"
done
scripts/moto.sh start >/dev/null
# shellcheck disable=SC1091
source .local/moto.env
./target/debug/flagtrail local-stack --env-file "$work/stack.env" >/dev/null
# shellcheck disable=SC1091
source "$work/stack.env"
# The completeness check first, on the empty table and trail: it must run and report nothing (a
# finding or an error fails the smoke test).
echo '{"version":"0","detail-type":"Scheduled Event","source":"aws.events","detail":{}}' >"$work/schedule.json"
python3 scripts/invoke-bootstrap.py "$work/reconcile/bootstrap" "$work/schedule.json"
python3 scripts/invoke-bootstrap.py "$work/audit/bootstrap" events/batch-mixed.json events/batch-with-undecodable-record.json
python3 scripts/invoke-bootstrap.py "$work/notify/bootstrap" events/batch-mixed.json events/killswitch-global-on-prod.json

# The transparency log's writer and a witness. Their keys are KMS ECC_NIST_EDWARDS25519, which
# moto refuses: each gets the Ed25519 KMS stand-in (shared/devtools/src/kms.rs), ready once it has
# answered GetPublicKey with the key's vkey.
for fn in log-writer witness; do
  python3 -c "import zipfile,sys; zipfile.ZipFile(sys.argv[1]).extract('bootstrap', sys.argv[2])" "target/lambda/$fn/bootstrap.zip" "$work/$fn"
  chmod +x "$work/$fn/bootstrap"
done
first_line() { # file → its first line, once written (10 s at most)
  for _ in $(seq 100); do [ -s "$1" ] && head -n 1 "$1" && return; sleep 0.1; done
  echo "nothing from $1" >&2
  return 1
}
origin=flagtrail/smoke/seals
./target/debug/kms-ed25519-stand-in --seed 1 >"$work/kms-log" &
./target/debug/kms-ed25519-stand-in --seed 2 >"$work/kms-witness" &
log_kms=$(first_line "$work/kms-log" | awk '{print $NF}')
witness_kms=$(first_line "$work/kms-witness" | awk '{print $NF}')
log_vkey=$(AWS_ENDPOINT_URL_KMS=$log_kms ./target/debug/flagtrail vkey --kms-key alias/checkpoints --name "$origin")
# The writer's witness over HTTP (the CLI's), its key in the second stand-in.
AWS_ENDPOINT_URL_KMS=$witness_kms ./target/debug/flagtrail witness --kms-key alias/witness --log-vkey "$log_vkey" \
  --log-origin "$origin" --state "$work/witness.json" >"$work/witness-http" &
read -r _ witness_vkey _ _ witness_url < <(first_line "$work/witness-http")
# The log's bucket and the witness's table, with the venv's boto3 (moto's own dependency).
.venv/bin/python - <<'PY'
import boto3, os
session = boto3.Session(region_name=os.environ["AWS_REGION"])
session.client("s3").create_bucket(Bucket="smoke-log")
session.client("dynamodb").create_table(TableName="smoke-witness", BillingMode="PAY_PER_REQUEST",
    AttributeDefinitions=[{"AttributeName": "origin", "AttributeType": "S"}],
    KeySchema=[{"AttributeName": "origin", "KeyType": "HASH"}])
PY
# One round over the seals the audit bootstrap wrote above: the checkpoint cosigned by the witness.
FLAGTRAIL_LOG_BUCKET=smoke-log FLAGTRAIL_CHECKPOINT_KEY_ID=alias/checkpoints FLAGTRAIL_LOG_ORIGIN=$origin \
  FLAGTRAIL_WITNESSES="$witness_url $witness_vkey" AWS_ENDPOINT_URL_KMS=$log_kms BOOTSTRAP_EXPECT='"cosigned":1' \
  python3 scripts/invoke-bootstrap.py "$work/log-writer/bootstrap" "$work/schedule.json"
# The witness bootstrap behind a Function URL: the checkpoint the round wrote, from size 0.
.venv/bin/python - "$work/add-checkpoint.json" <<'PY'
import boto3, json, os, sys
session = boto3.Session(region_name=os.environ["AWS_REGION"])
note = session.client("s3").get_object(Bucket="smoke-log", Key="log/checkpoint")["Body"].read().decode()
http = {"method": "POST", "path": "/add-checkpoint", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "smoke"}
event = {"version": "2.0", "rawPath": "/add-checkpoint", "rawQueryString": "", "headers": {"content-type": "text/plain"},
         "requestContext": {"accountId": "123456789012", "requestId": "smoke", "timeEpoch": 0, "http": http},
         "body": "old 0\n\n" + note, "isBase64Encoded": False}
json.dump(event, open(sys.argv[1], "w"))
PY
FLAGTRAIL_WITNESS_KEY_ID=alias/witness FLAGTRAIL_WITNESS_LOG_KEYS=$log_vkey FLAGTRAIL_WITNESS_TABLE=smoke-witness \
  AWS_ENDPOINT_URL_KMS=$witness_kms BOOTSTRAP_EXPECT='"statusCode":200' \
  python3 scripts/invoke-bootstrap.py "$work/witness/bootstrap" "$work/add-checkpoint.json"
