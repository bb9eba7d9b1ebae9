#!/usr/bin/env bash
# Scale benchmark of the transparency log's single writer (`make tlog-writer-bench`): rounds of the
# function's `LogWriter` (shared/runtime/examples/tlog_writer_round.rs, one process a round) over a
# log of TLOG_BENCH_SEALS seals (default 1,000,000) in a local folder store, a witness in the
# process (its state in a file) cosigning every checkpoint. The trail a round reads is what the
# function reads: the seals of the last 14 days and an hour, here a fortnight at 1 M seals a year
# (TLOG_BENCH_WINDOW, default 38,356). Four rounds, each timed by GNU time:
#   1. the seals older than the window into an empty log (every bundle, tile, the first checkpoint);
#   2. two weeks later, the window's seals, all new;
#   3. an hour later, nothing new (the cadence: the window again, every seal of it a leaf already);
#   4. an hour later, 100 new seals.
# A round resumes from the right edge (the checkpoint, the partial bundle, a tile per level) and
# reads back the bundles appended since the window began, so rounds 2-4 cost what the window holds,
# not the log. The folder store reads from the local disk: S3's per-GET latency is not in these
# figures (the read count is printed beside them).
# Prints wall time, peak RSS and objects of each round; a benchmark, not a test: nothing asserts a figure.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seals=${TLOG_BENCH_SEALS:-1000000}
window=${TLOG_BENCH_WINDOW:-38356}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build --release --locked -q -p flagtrail-runtime --example tlog_writer_round --manifest-path "$root/Cargo.toml"
bin="$root/target/release/examples/tlog_writer_round"
lookback=$((14 * 86400 + 3600))
round() { # name first count at [since]
  local name=$1
  shift
  /usr/bin/time -f '%e %M' -o "$work/time" "$bin" "$work" "$@" >"$work/out" 2>&1 || { cat "$work/out"; exit 1; }
  read -r wall rss < <(tail -n 1 "$work/time")
  printf '%-44s %8s s %8d MiB  %s\n' "$name" "$wall" $((rss / 1024)) "$(head -n 1 "$work/out")"
}
t0=1700000000
old=$((seals - window))
echo "transparency log writer, $seals seals, a trail window of $window, folder store, witness in process ($(nproc) CPUs)"
round "1. $old older seals into an empty log" 0 "$old" "$t0"
t=$((t0 + lookback + 3 * 3600 + 1))
round "2. a fortnight's $window seals, all new" "$old" "$window" "$t" $((t - lookback))
t=$((t + 3600))
round "3. an hour on, nothing new (cadence)" "$old" "$window" "$t" $((t - lookback))
t=$((t + 3600))
round "4. an hour on, 100 new seals" "$old" $((window + 100)) "$t" $((t - lookback))
bundles=$(find "$work/log/tile/entries" -type f | wc -l)
tiles=$(find "$work/log/tile" -type f | wc -l)
echo "objects: $tiles tile files ($bundles entry bundles), $(du -sh "$work/log" | cut -f1) on disk"
