.PHONY: run test package bench fuzz

# The whole API on 127.0.0.1:$(PORT) with an embedded store; SMS are printed.
run:
	cargo run --locked -p otp-local

# Installs and starts DynamoDB Local and moto, runs every check, stops them.
test:
	scripts/test.sh

# The arm64 Lambda bundles and template in .aws-sam/build, for `sam deploy`,
# run under qemu-aarch64 against DynamoDB Local and moto before they ship.
package:
	scripts/package.sh

# DESIGN §9's budgets, measured on release builds; see BENCHMARKS.md.
bench:
	scripts/bench.sh

# Longer runs of every fuzz target (request parsers and every route's
# handler), and of Schemathesis against the API document.
fuzz:
	PROPTEST_CASES=50000 cargo test --locked -p otp-shared fuzz_
	PROPTEST_CASES=50000 cargo test --locked --test fuzz
	PROPTEST_CASES=50000 cargo test --locked --test fuzz_flows -- --nocapture
	API_CHECK_EXAMPLES=1000 scripts/api_check.sh
