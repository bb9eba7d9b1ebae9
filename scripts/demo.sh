#!/usr/bin/env bash
# The end-to-end demo on local defaults, no AWS account: starts moto, applies real flag changes,
# runs both pipelines over the stream, shows what each user receives, and cleans up.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo build --quiet --bin flagtrail
scripts/moto.sh start
trap 'scripts/moto.sh stop' EXIT
# shellcheck disable=SC1091
source .local/moto.env
./target/debug/flagtrail demo
echo
echo "== 8. a Lambda-mode evaluator (consumers/node) beside the live pipeline"
scripts/with-local-pipeline.sh demo-evaluator node --import tsx bench/demo-evaluator.ts
