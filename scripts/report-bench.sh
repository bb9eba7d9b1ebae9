#!/usr/bin/env bash
# Scale benchmark of the auditor's commands (`make report-bench`): a replayed trail of
# REPORT_BENCH_CHANGES generated changes (default 1,000,000, in batches of 10,000, sealed), then
# `flagtrail report --csv` and `flagtrail verify` over it, each timed by GNU time. Prints wall time,
# peak RSS and the RSS per million changes; a benchmark, not a test: nothing here asserts a figure.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
changes=${REPORT_BENCH_CHANGES:-1000000}
batch=10000
work=${REPORT_BENCH_DIR:-$(mktemp -d)}
cargo build --release --locked -q -p flagtrail-cli --manifest-path "$root/Cargo.toml"
bin="$root/target/release/flagtrail"
if [ ! -s "$work/trail/audit.jsonl" ]; then # REPORT_BENCH_DIR of an earlier run: its trail is reused
mkdir -p "$work/in"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/seal.pem" 2>/dev/null
openssl pkey -in "$work/seal.pem" -pubout -out "$work/seal.pub.pem"
for ((i = 0; i * batch < changes; i++)); do
  "$bin" gen-events --records "$batch" --seed "$((i + 1))" --out "$work/in/batch-$(printf %05d "$i").json"
done
"$bin" replay --quiet --out "$work/trail" --seal-key "$work/seal.pem" "$work/in" >/dev/null
rm -rf "$work/in"
fi
bytes=$(stat -c %s "$work/trail/audit.jsonl")
measure() { # name, command…
  local name=$1
  shift
  /usr/bin/time -f '%e %M' -o "$work/time" "$@" >"$work/$name.out" || true
  # GNU time adds a line before its own when the command exits non-zero (report does on findings).
  read -r wall rss < <(tail -n 1 "$work/time")
  echo "$name: ${wall} s wall, peak RSS $((rss / 1024)) MiB ($(awk -v r="$rss" -v n="$changes" 'BEGIN{printf "%.1f", r / 1024 / (n / 1e6)}') MiB per million changes); $(tail -n 1 "$work/$name.out")"
}
echo "trail: $changes changes, $((bytes / 1024 / 1024)) MiB of audit.jsonl in $work/trail"
measure report "$bin" report "$work/trail" --public-key "$work/seal.pub.pem" --out "$work/report.html" --csv "$work/report.csv"
echo "report: $(($(wc -l <"$work/report.csv") - 1)) CSV rows, HTML $(($(stat -c %s "$work/report.html") / 1024)) KiB"
measure verify "$bin" verify "$work/trail" --public-key "$work/seal.pub.pem"
