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
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$root/.venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$state/moto.log" 2>&1 &
    echo $! >"$state/moto.pid"
    python3 - "$port" <<'PY'
import sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/moto-api/"
for _ in range(200):
    try:
        urllib.request.urlopen(url, timeout=1); sys.exit(0)
    except Exception:
        time.sleep(0.1)
sys.exit("moto did not answer on " + url)
PY
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
