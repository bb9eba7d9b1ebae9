#!/usr/bin/env bash
# Runs the packaged bootstraps (target/lambda/*/bootstrap.zip) through a minimal Lambda Runtime API
# against moto on sample events: the artifacts that get deployed, not just the debug builds.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
work=$(mktemp -d)
trap 'scripts/moto.sh stop; rm -rf "$work"' EXIT
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
