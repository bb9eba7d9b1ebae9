#!/usr/bin/env bash
# Creates the project-local Python venv (.venv) with pinned moto; `--lambda` adds cargo-lambda + zig,
# `--cfn` adds cfn-lint, `--iam` the IAM linter (parliament).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip
fi
want() { "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$1"; }
[ -x "$venv/bin/moto_server" ] || want "$root/scripts/requirements-moto.txt"
for extra in "$@"; do
  case "$extra" in
    --lambda) [ -x "$venv/bin/cargo-lambda" ] || want "$root/scripts/requirements-lambda.txt" ;;
    --cfn) [ -x "$venv/bin/cfn-lint" ] || want "$root/scripts/requirements-cfn.txt" ;;
    --iam) [ -x "$venv/bin/parliament" ] || want "$root/scripts/requirements-iam.txt" ;;
  esac
done
