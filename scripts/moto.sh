#!/usr/bin/env bash
# Starts/stops the local AWS stand-in (moto) on a free 127.0.0.1 port.
#   scripts/moto.sh start   → writes .local/moto.env (AWS_ENDPOINT_URL, dummy credentials) and .local/moto.pid
#   scripts/moto.sh stop    → stops it by its pid
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
state="$root/.local"
mkdir -p "$state"
case "${1:-}" in
  start)
    "$root/scripts/setup-python.sh"
    if [ -f "$state/moto.pid" ] && kill -0 "$(cat "$state/moto.pid")" 2>/dev/null; then
      echo "moto already running (pid $(cat "$state/moto.pid"))"; exit 0
    fi
    # The server binds a kernel-chosen port itself and prints it (scripts/moto-serve.py): no window
    # in which another process can take the port, and whatever answers on it is this moto.
    : >"$state/moto.port"
    "$root/.venv/bin/python" "$root/scripts/moto-serve.py" >"$state/moto.port" 2>"$state/moto.log" &
    echo $! >"$state/moto.pid"
    port=$(python3 - "$state/moto.port" "$(cat "$state/moto.pid")" <<'PY'
import os, sys, time, urllib.request
path, pid = sys.argv[1], int(sys.argv[2])
def alive():
    try:
        os.kill(pid, 0); return True
    except OSError:
        return False
deadline = time.time() + 120
while time.time() < deadline and alive():
    port = open(path).read().strip()
    if port:
        try:
            body = urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=5).read()
            if b"Moto" in body:
                print(port); sys.exit(0)
        except Exception:
            pass
    time.sleep(0.05)
sys.exit("moto did not answer as itself; see .local/moto.log")
PY
)
    cat >"$state/moto.env" <<ENV
export AWS_ENDPOINT_URL=http://127.0.0.1:$port
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
ENV
    echo "moto on http://127.0.0.1:$port (pid $(cat "$state/moto.pid"))"
    ;;
  stop)
    if [ -f "$state/moto.pid" ]; then
      kill "$(cat "$state/moto.pid")" 2>/dev/null || true
      rm -f "$state/moto.pid" "$state/moto.env"
    fi
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
