#!/usr/bin/env bash
# The layering cannot erode: the pure core's normal dependency tree holds no async runtime, no AWS
# SDK and no HTTP stack, and no Lambda binary links the dev tooling. Fails naming what crept in.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
core=$(cargo tree --locked -e normal -p flagtrail-core --prefix none --format '{p}' | sort -u)
bad=$(grep -E '^(tokio|hyper|aws-sdk-|aws-config|aws-smithy-|lambda_runtime|reqwest) ' <<<"$core" || true)
if [ -n "$bad" ]; then
  echo "layering: flagtrail-core must stay pure, but its normal dependencies include:"; echo "$bad"; fail=1
fi
for bin in flagtrail-audit flagtrail-notify flagtrail-reconcile flagtrail-log-writer; do
  if cargo tree --locked -e normal -p "$bin" --prefix none --format '{p}' | grep -q '^flagtrail-devtools '; then
    echo "layering: $bin links flagtrail-devtools (dev tooling must stay out of the Lambda binaries)"; fail=1
  fi
done
[ "$fail" = 0 ] && echo "layering OK: flagtrail-core has $(wc -l <<<"$core") crates in its tree, none async/AWS/HTTP; no Lambda links devtools"
exit "$fail"
