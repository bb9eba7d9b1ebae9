#!/usr/bin/env bash
# End-to-end freshness benchmark (`make propagation`): a live local pipeline
# (scripts/with-local-pipeline.sh) and the Node consumer kit's two evaluators
# (consumers/node/bench/propagation.ts). Ends with exactly one line, `propagation: …`;
# PROPAGATION_DETAILS=FILE keeps the per-kind figures and counters (JSON).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
err=$(mktemp)
trap 'rm -f "$err"' EXIT
# shellcheck disable=SC2016
if ! "$root/scripts/with-local-pipeline.sh" propagation sh -c 'exec node --import tsx bench/propagation.ts 2>"$1"' sh "$err"; then
  cat "$err" >&2
  exit 1
fi
grep '^{' "$err" >"${PROPAGATION_DETAILS:-/dev/null}" || true
