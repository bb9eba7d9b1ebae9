#!/usr/bin/env bash
# Runs a command of the Node consumer kit beside a live local pipeline: moto, the local stack
# (flag table with its stream, marks table, topics), and the stream-mapping stand-in running both
# functions (`flagtrail tail --follow`). The command runs in consumers/node with AWS_ENDPOINT_URL
# and the stack's FLAGTRAIL_* variables; everything is torn down afterwards.
#   scripts/with-local-pipeline.sh NAME COMMAND...     (NAME names the table and topics)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
name=$1
shift
export AWS_EC2_METADATA_DISABLED=true
# The AWS SDK for JavaScript warns on every start that releases after January 2027 need Node 22
# (noted in consumers/node/README.md); the demo and the benchmark do not repeat it.
export NODE_NO_WARNINGS=1
cargo build --quiet --locked --bin flagtrail
(cd consumers/node && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
scripts/moto.sh start >/dev/null
work=$(mktemp -d)
tail_pid=
cleanup() {
  if [ -n "$tail_pid" ]; then kill "$tail_pid" 2>/dev/null || true; fi
  scripts/moto.sh stop
  rm -rf "$work"
}
trap cleanup EXIT
# shellcheck disable=SC1091
source .local/moto.env
./target/debug/flagtrail local-stack --table "feature-flags-$name" --prefix "$name" --env-file "$work/stack.env" >/dev/null
# shellcheck disable=SC1091
source "$work/stack.env"
export FLAGTRAIL_AUDIT_LOG_GROUP FLAGTRAIL_ALERT_TOPIC_ARN FLAGTRAIL_INVALIDATION_TOPIC_ARN FLAGTRAIL_MARKS_TABLE FLAGTRAIL_TABLE FLAGTRAIL_SEAL_KEY_ID
./target/debug/flagtrail tail --follow --table "$FLAGTRAIL_TABLE" >"$work/tail.log" 2>&1 &
tail_pid=$!
if ! (cd consumers/node && "$@"); then
  echo "--- the stream-mapping stand-in's log (last lines):" >&2
  tail -20 "$work/tail.log" >&2
  exit 1
fi
