# The two commands of the README, and a few helpers. Everything installs what it needs itself.
.PHONY: demo test package bench fuzz propagation report-bench tlog-costs reconcile-bench tlog-writer-bench

demo:        ## the pipeline end to end on local defaults (moto), no AWS account
	scripts/demo.sh

test:        ## every test: fmt, clippy, cargo deny, unit/property/golden/end-to-end, packaging, CDK checks
	scripts/test.sh

package:     ## bootstrap zips of both Lambdas for provided.al2023, GLIBC checked
	scripts/package.sh

bench:       ## criterion benchmark with ratios to a typed serde parse
	cargo bench -p flagtrail-core --bench batch

tlog-costs:  ## transparency log at 1 M seals: proof sizes, writes and signatures per checkpoint
	cargo run --release --locked -p flagtrail-core --example tlog_costs

report-bench: ## flagtrail report and verify over 1 M generated changes: wall time, peak RSS
	scripts/report-bench.sh

tlog-writer-bench: ## the transparency log's writer at 1 M seals with a witness: wall time, peak RSS, objects per round
	scripts/tlog-writer-bench.sh

reconcile-bench: ## the completeness check at 1 M items and a year of trail, FilterLogEvents quota enforced: wall time, peak RSS, requests
	scripts/reconcile-bench.sh

propagation: ## end-to-end freshness: change → evaluator serving it (Lambda and long-running modes), one line
	scripts/propagation.sh
