#!/usr/bin/env bash
# `make bench`: DESIGN §9's budgets, measured on release builds (as deployed)
# against DynamoDB Local and moto, started as for the tests. BENCHMARKS.md
# reports what it prints; `make package` prints the arm64 binary sizes.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/engines.sh

say "release builds: the four functions and the hello-world yardstick"
cargo build --release --locked -p request-otp -p confirm-otp -p issue-token -p delivery-events -p hello-lambda

say "handler CPU per route"
cargo bench --locked --bench handler_cpu
say "sequential AWS round trips per route"
cargo bench --locked --bench aws_round_trips
say "cold start and peak memory"
cargo bench --locked --bench cold_start
say "one client's bursts and sustained load, through DynamoDB's conflict rule"
cargo bench --locked --bench load
say "what one login consumes: DynamoDB capacity units, KMS, SNS and Secrets Manager calls"
cargo bench --locked --bench cost
say "SMS pumping through the hosted page, full size: 10,000 sends from 1,000 addresses to one whole number range"
# A test, not a bench: debug is enough (its time is the proofs of work).
OTP_PAGE_ATTACK_SENDS=10000 cargo test --locked --test page_attack -- --nocapture 2>&1 | grep -E 'page sends|test result'
