#!/usr/bin/env bash
# Every test of the project, as CI runs it. Installs what it needs (pinned moto in .venv).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CI="${CI:-}" INSTA_UPDATE=no
# No test may reach a real AWS endpoint or the instance-metadata service.
export AWS_EC2_METADATA_DISABLED=true AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1

echo "== python venv (moto)"
scripts/setup-python.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== layering (pure core: no tokio/aws-sdk/hyper; no devtools in the Lambdas)"
scripts/check-layers.sh

echo "== build the Lambda binaries (the Runtime API tests drive them)"
# --tests: one feature resolution (dev-dependencies included) for the bins and the tests, so the
# dependency graph is compiled once, not twice.
cargo build --workspace --bins --tests --locked

echo "== cargo deny (licenses, sources, bans)"
command -v cargo-deny >/dev/null || cargo install cargo-deny --version 0.20.2 --locked --quiet
cargo deny --log-level error check licenses sources bans

echo "== cargo test"
cargo test --workspace --locked

echo "== replay of events/ from the command line"
out=$(mktemp -d)
./target/debug/flagtrail replay events/ --out "$out" --quiet
for f in audit alerts invalidations metrics; do test -s "$out/$f.jsonl" || { echo "missing $f.jsonl"; exit 1; }; done
rm -rf "$out"

echo "== Lambda packaging (cargo lambda build --release, GLIBC <= 2.34)"
if [ "${FLAGTRAIL_SKIP_PACKAGE:-}" = "1" ]; then
  echo "skipped (FLAGTRAIL_SKIP_PACKAGE=1)"
else
  scripts/package.sh
  echo "== the packaged bootstraps through the Runtime API, against moto"
  scripts/smoke-bootstraps.sh
  echo "== the auditor's binary as released for Linux (glibc 2.28), run in a bare root"
  scripts/auditor-binary.sh
fi

echo "== Node consumer kit (@flagtrail/consumer): strict typecheck, tests against moto"
(cd consumers/node && npm ci --no-audit --no-fund --loglevel=error && npm test)

echo "== CDK app: typecheck, node --test, cdk-nag, synth, cfn-lint"
scripts/cdk.sh
