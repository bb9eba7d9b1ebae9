#!/usr/bin/env bash
# Scale benchmark of the completeness check (`make reconcile-bench`): `flagtrail reconcile --state`
# against a local stand-in (shared/devtools/src/bin/scale-stand-in.rs) serving a table of
# RECONCILE_BENCH_ITEMS items (default 1,000,000) and a year of trail, RECONCILE_BENCH_RECORDS
# records (default 3,650,000: 10,000 changes a day), with FilterLogEvents' 1 MB pages and its quota
# of 5 requests a second, and Scan's 1 MB pages with read units. Two runs, each timed by GNU time:
#   1. the first run: the whole trail into a new state, and the first of 24 table slices. It runs
#      with the quota lifted (the stand-in's and the client's), since at the quota it is bound by it:
#      the figure printed beside it is pages ÷ 2 requests a second, the client's default pace;
#   2. an hourly run an hour later (417 new records), at the quota and with the function's defaults
#      (2 FilterLogEvents a second, 50 read units a second, slice 2 of 24), with one item written
#      behind the trail's back in that slice: it must name exactly that item.
# Prints wall time, peak RSS and requests of each; a benchmark, not a test: nothing asserts a figure.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
items=${RECONCILE_BENCH_ITEMS:-1000000}
records=${RECONCILE_BENCH_RECORDS:-3650000}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
cargo build --release --locked -q -p flagtrail-cli -p flagtrail-devtools --manifest-path "$root/Cargo.toml"
bin="$root/target/release"
now_ms=$(($(date +%s) * 1000))
step=$((365 * 86400 * 1000 / records))
t0=$((now_ms - records * step))
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
start_stand_in() { # records, filter tps, extra…
  rm -f "$work/port"
  "$bin/scale-stand-in" --items "$items" --records "$1" --t0-ms "$t0" --step-ms "$step" --filter-tps "$2" --port-file "$work/port" "${@:3}" &
  stand_in=$!
  for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
  export AWS_ENDPOINT_URL="http://127.0.0.1:$(cat "$work/port")"
  # Ready when it answers as itself.
  for _ in $(seq 100); do curl -sf "$AWS_ENDPOINT_URL/stats" >/dev/null && break; sleep 0.1; done
}
measure() { # name, command…
  local name=$1
  shift
  /usr/bin/time -f '%e %M' -o "$work/time" "$@" >"$work/$name.out" 2>&1 || true
  read -r wall rss < <(tail -n 1 "$work/time")
  local stats
  stats=$(curl -s "$AWS_ENDPOINT_URL/stats")
  echo "$name: ${wall} s wall, peak RSS $((rss / 1024)) MiB; requests $stats"
  echo "  $(tail -n 1 "$work/$name.out")"
  grep -E '^(unaudited|version gap|missing)' "$work/$name.out" | head -5 | sed 's/^/  finding: /' || true
}
state="$work/state.jsonl.gz"
echo "table: $items items; trail: $records records over a year (one every $((step / 1000)) s)"
start_stand_in "$records" 0
measure first-run "$bin/flagtrail" reconcile --table flags --log-group /flagtrail/audit --state "$state" \
  --grace 0 --segments 24 --log-requests-per-second 0
pages=$(curl -s "$AWS_ENDPOINT_URL/stats" | sed -E 's/.*"filter":([0-9]+).*/\1/')
echo "  at the quota the same run makes $pages FilterLogEvents pages: >= $((pages / 2)) s at 2 a second, >= $((pages / 5)) s at the quota's 5"
echo "  state: $(($(stat -c %s "$state") / 1024 / 1024)) MiB gzip'd"
kill "$stand_in"; wait "$stand_in" 2>/dev/null || true
hour=$((3600 * 1000 / step))
behind=$(((items / 24 - 1) * 24 + 1)) # k mod 24 == 1: in slice 2 of 24
start_stand_in "$((records + hour))" 5 --behind "$behind"
measure hourly-run "$bin/flagtrail" reconcile --table flags --log-group /flagtrail/audit --state "$state" \
  --grace 0 --segments 24 --read-units-per-second 50
echo "  expected: exactly one finding, PK=FLAG#prod#f$behind"
