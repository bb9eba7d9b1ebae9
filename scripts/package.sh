#!/usr/bin/env bash
# Builds the Lambdas with `cargo lambda build --release` (zig cross-linking, from PyPI, pinned),
# zips them as bootstrap archives, and checks each needs GLIBC <= 2.34 (provided.al2023).
# Output: target/lambda/{audit,notify,reconcile,log-writer,witness}/bootstrap.zip (witness: the auditors' stack)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/setup-python.sh --lambda
export PATH="$root/.venv/bin:$PATH"
arch="${FLAGTRAIL_LAMBDA_ARCH:-x86_64}"   # or arm64 (then --arm64)
flag=""; [ "$arch" = "arm64" ] && flag="--arm64"
cargo lambda build --release $flag --output-format zip -p flagtrail-audit -p flagtrail-notify -p flagtrail-reconcile -p flagtrail-log-writer -p flagtrail-witness
python3 - "$root/target/lambda" <<'PY'
import re, subprocess, sys, zipfile, io, os, tempfile
root = sys.argv[1]
worst = (0, 0)
for fn in ("audit", "notify", "reconcile", "log-writer", "witness"):
    z = os.path.join(root, fn, "bootstrap.zip")
    with zipfile.ZipFile(z) as zf:
        data = zf.read("bootstrap")
    with tempfile.NamedTemporaryFile(delete=False) as t:
        t.write(data)
    out = subprocess.run(["readelf", "--dyn-syms", "-W", t.name], capture_output=True, text=True, check=True).stdout
    os.unlink(t.name)
    versions = {tuple(int(x) for x in v.split(".")) for v in re.findall(r"GLIBC_([0-9.]+)", out)}
    need = max(versions) if versions else (0,)
    print(f"{fn}: bootstrap.zip {os.path.getsize(z) / 1e6:.1f} MB, needs GLIBC {'.'.join(map(str, need))}")
    if need > (2, 34):
        sys.exit(f"{fn} needs GLIBC {need}, provided.al2023 has 2.34")
PY
