#!/usr/bin/env bash
# End-to-end freshness benchmark (`make propagation`): moto, the local stack, the stream-mapping
# stand-in running notify (`flagtrail tail --follow`), and the Node consumer kit's two evaluators
# (consumers/node/bench/propagation.ts). Ends with exactly one line, `propagation: …`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export AWS_EC2_METADATA_DISABLED=true
cargo build --quiet --locked --bin flagtrail
(cd consumers/node && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
scripts/moto.sh start >/dev/null
work=$(mktemp -d)
tail_pid=
cleanup() {
  [ -n "$tail_pid" ] && kill "$tail_pid" 2>/dev/null || true
  scripts/moto.sh stop
  rm -rf "$work"
}
trap cleanup EXIT
# shellcheck disable=SC1091
source .local/moto.env
./target/debug/flagtrail local-stack --table feature-flags-propagation --prefix propagation --env-file "$work/stack.env" >/dev/null
# shellcheck disable=SC1091
source "$work/stack.env"
export FLAGTRAIL_AUDIT_LOG_GROUP FLAGTRAIL_ALERT_TOPIC_ARN FLAGTRAIL_INVALIDATION_TOPIC_ARN FLAGTRAIL_MARKS_TABLE FLAGTRAIL_TABLE
./target/debug/flagtrail tail --follow --table "$FLAGTRAIL_TABLE" >"$work/tail.log" 2>&1 &
tail_pid=$!
(cd consumers/node && node --import tsx bench/propagation.ts 2>"$work/bench.err") || { cat "$work/bench.err" >&2; tail -20 "$work/tail.log" >&2; exit 1; }
# The details (per kind of change, counters) for docs/measurements.md.
grep "^{" "$work/bench.err" >"${PROPAGATION_DETAILS:-/dev/null}" || true
