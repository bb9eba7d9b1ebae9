#!/usr/bin/env bash
# The auditor's `flagtrail` as the release ships it for Linux, checked locally: a release build
# linked against glibc 2.28 with zig (`cargo lambda build`, the project's pinned cross-linker), its
# GLIBC requirement read from the binary and printed, and `flagtrail --version` and a `report` run
# inside a bare root holding only the binary and the libraries it loads (chroot, when root is
# available; otherwise the ldd/GLIBC checks alone, said so).
# Output: target/auditor/flagtrail
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/setup-python.sh --lambda
export PATH="$root/.venv/bin:$PATH"
glibc=2.28
cargo lambda build --release --locked -p flagtrail-cli --bin flagtrail --target "x86_64-unknown-linux-gnu.$glibc" >/dev/null
bin=target/lambda/flagtrail/bootstrap # where cargo lambda puts every binary it builds
mkdir -p target/auditor
cp "$bin" target/auditor/flagtrail
bin=target/auditor/flagtrail
need=$(readelf --dyn-syms -W "$bin" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n 1)
echo "auditor binary: $(du -h "$bin" | cut -f1), needs GLIBC $need (at most $glibc allowed)"
[ "$(printf '%s\n%s\n' "$need" "$glibc" | sort -V | tail -n 1)" = "$glibc" ] || { echo "needs GLIBC $need > $glibc"; exit 1; }
if [ "$(id -u)" -ne 0 ]; then
  echo "auditor binary: not root, no bare-root run (GLIBC check only)"
  exit 0
fi
bare=$(mktemp -d)
trap 'rm -rf "$bare"' EXIT
mkdir -p "$bare/bin" "$bare/tmp" "$bare/trail"
cp "$bin" "$bare/bin/flagtrail"
# Only what the dynamic loader needs: the libraries ldd names, at the same paths.
for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
  mkdir -p "$bare$(dirname "$lib")"
  cp -L "$lib" "$bare$lib"
done
target/debug/flagtrail replay --quiet --out "$bare/trail" events >/dev/null 2>&1 || cargo run -q --locked --bin flagtrail -- replay --quiet --out "$bare/trail" events >/dev/null
chroot "$bare" /bin/flagtrail --version
chroot "$bare" /bin/flagtrail report /trail --out /tmp/r.html --csv /tmp/r.csv | sed 's/^/auditor binary in a bare root: /' || true
test -s "$bare/tmp/r.html" && test -s "$bare/tmp/r.csv"
echo "auditor binary: ran in a bare root of $(find "$bare" -type f | wc -l) files"
