#!/usr/bin/env bash
# Renders `flagtrail report` of the sample trail (every event in events/, replayed and sealed) in
# headless Chromium and saves the screenshot the README shows (docs/report.png), to look at the
# report as a person would. Needs Debian's chromium (`apt-get install chromium`); not part of the tests.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/docs/report.png}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build --locked -q -p flagtrail-cli --manifest-path "$root/Cargo.toml"
bin="$root/target/debug/flagtrail"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/seal.pem" 2>/dev/null
openssl pkey -in "$work/seal.pem" -pubout -out "$work/seal.pub.pem"
"$bin" replay --quiet --out "$work/trail" --seal-key "$work/seal.pem" "$root/events" >/dev/null
"$bin" report "$work/trail" --public-key "$work/seal.pub.pem" --out "$work/report.html" --csv "$work/report.csv" || true
chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars --window-size=1200,2400 \
  --screenshot="$out" "file://$work/report.html" 2>/dev/null
echo "screenshot: $out"
