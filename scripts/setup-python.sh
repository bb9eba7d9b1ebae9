#!/usr/bin/env bash
# Creates the project-local Python venv (.venv) with pinned moto; `--lambda` adds cargo-lambda + zig,
# `--cfn` adds cfn-lint, `--iam` the IAM linter (parliament), `--checkov` checkov in a venv of its own
# (.venv/checkov: its pins of boto3, botocore and networkx would downgrade moto's and cfn-lint's).
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
    --checkov)
      # Reinstalled when the pin changes (the copy of the requirements beside it differs).
      req="$root/scripts/requirements-checkov.txt"
      if ! cmp -s "$req" "$venv/checkov/requirements.txt"; then
        [ -x "$venv/checkov/bin/python" ] || python3 -m venv "$venv/checkov"
        "$venv/checkov/bin/pip" install --quiet --disable-pip-version-check -r "$req"
        cp "$req" "$venv/checkov/requirements.txt"
      fi ;;
  esac
done
