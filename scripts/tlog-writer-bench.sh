#!/usr/bin/env bash
# Scale benchmark of the transparency log's single writer (`make tlog-writer-bench`): one round of
# `flagtrail log-append` (the code the log-writer function runs) over a log of TLOG_BENCH_SEALS
# seals (default 1,000,000) in a local folder store, with a witness in the process (its state in a
# file) cosigning every checkpoint. Three rounds, each timed by GNU time:
#   1. the whole trail into an empty log (every bundle, tile and the first checkpoint);
#   2. the hourly round with nothing new (a checkpoint cosigned again: the cadence);
#   3. the hourly round with 100 new seals (new tiles, a consistency proof for the witness).
# A round resumes from the stored checkpoint by reading every entry bundle back, so rounds 2 and 3
# show what that costs at this size. The folder store reads from the local disk: S3's per-GET
# latency is not in these figures (the GET count is printed beside them).
# Prints wall time, peak RSS and objects of each round; a benchmark, not a test: nothing asserts a figure.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seals=${TLOG_BENCH_SEALS:-1000000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build --release --locked -q -p flagtrail-cli --manifest-path "$root/Cargo.toml"
bin="$root/target/release/flagtrail"
for name in log witness; do
  openssl genpkey -algorithm ed25519 -out "$work/$name.pem" 2>/dev/null
done
trail() { # count → a trail of that many seal records (what seals_in_order reads)
  python3 - "$1" >"$work/trail.jsonl" <<'PY'
import hashlib, sys
for i in range(int(sys.argv[1])):
    print('{"recordType":"seal","sealId":"%s"}' % hashlib.sha256(b"seal %d" % i).hexdigest())
PY
}
round() { # name
  /usr/bin/time -f '%e %M' -o "$work/time" "$bin" log-append --dir "$work/trail.jsonl" --to "$work/store" \
    --log-key "$work/log.pem" --witness-key "$work/witness.pem" --witness-state "$work/witness.json" >"$work/$1.out" 2>&1
  read -r wall rss < <(tail -n 1 "$work/time")
  printf '%-34s %8s s %8d MiB  %s\n' "$1" "$wall" $((rss / 1024)) "$(head -n 1 "$work/$1.out")"
}
mkdir -p "$work/store"
echo "transparency log writer, $seals seals, folder store, witness in process ($(nproc) CPUs)"
trail "$seals"
round "1. whole trail into an empty log"
round "2. nothing new (cadence)"
trail $((seals + 100))
round "3. 100 new seals"
bundles=$(find "$work/store/log/tile/entries" -type f | wc -l)
tiles=$(find "$work/store/log/tile" -type f | wc -l)
echo "objects: $tiles tile files ($bundles entry bundles: the GETs each round makes to resume), $(du -sh "$work/store/log" | cut -f1) on disk"
