#!/usr/bin/env bash
# `make package`: the four arm64 `bootstrap` binaries and the template, in
# .aws-sam/build, ready for `sam deploy`, checked and run under qemu first.
# `sam build` runs cargo-lambda (which links with zig), all from the project
# venv.
set -euo pipefail
cd "$(dirname "$0")/.."

# Before the long build: can the bootstraps be run here (or is the check
# skipped)?
. scripts/arm64.sh

scripts/venv.sh
export PATH="$PWD/.venv/bin:$PATH" SAM_CLI_TELEMETRY=0
if command -v rustup >/dev/null; then
  rustup target add aarch64-unknown-linux-gnu >/dev/null
fi

sam build --template-file template.yaml --build-dir .aws-sam/build

# What each function must link, and must not: its own routes and SDK clients
# only (a path or SDK crate name in the binary's strings shows it linked).
links() {
  case $1 in
    RequestOtpFunction) echo "/v1/otp/request SendMessageAutoGenCode_V4_get aws-sdk-sns aws-sdk-dynamodb aws-sdk-secretsmanager" ;;
    ConfirmOtpFunction) echo "/v1/otp/confirm CheckCodeGen_V4_get aws-sdk-kms aws-sdk-dynamodb aws-sdk-secretsmanager aws-sdk-pinpointsmsvoicev2" ;;
    IssueTokenFunction) echo "/v1/oauth/token /.well-known/jwks.json aws-sdk-kms aws-sdk-dynamodb aws-sdk-secretsmanager" ;;
    DeliveryEventsFunction) echo "/v1/delivery/esms/{ticket} /DirectPublishToPhoneNumber aws-sdk-dynamodb aws-sdk-secretsmanager aws-sdk-sns aws-sdk-pinpointsmsvoicev2" ;;
  esac
}
lacks() {
  case $1 in
    RequestOtpFunction) echo "/v1/otp/confirm /v1/oauth/token /.well-known/jwks.json CheckCodeGen_V4_get aws-sdk-kms" ;;
    ConfirmOtpFunction) echo "/v2/otp/request /v1/oauth/token /.well-known/jwks.json SendMessageAutoGenCode_V4_get aws-sdk-sns" ;;
    IssueTokenFunction) echo "/v1/otp/confirm /v2/otp/request SendMessageAutoGenCode_V4_get CheckCodeGen_V4_get aws-sdk-sns aws-sdk-pinpointsmsvoicev2 /v1/delivery/esms/{ticket}" ;;
    DeliveryEventsFunction) echo "/v1/otp/request /v1/otp/confirm /v1/oauth/token CheckCodeGen_V4_get aws-sdk-kms" ;;
  esac
}

# Each function must be an aarch64 Linux executable (ELF machine 0xB7).
for fn in RequestOtpFunction ConfirmOtpFunction IssueTokenFunction DeliveryEventsFunction; do
  bin=.aws-sam/build/$fn/bootstrap
  [ -x "$bin" ] || { echo "make package: $bin is missing" >&2; exit 1; }
  machine=$(od -An -t x2 -j 18 -N 2 "$bin" | tr -d ' ')
  [ "$machine" = "00b7" ] || { echo "make package: $bin is not an arm64 binary" >&2; exit 1; }
  for marker in $(links $fn); do
    grep -qaF -- "$marker" "$bin" || { echo "make package: $fn does not link $marker" >&2; exit 1; }
  done
  for marker in $(lacks $fn); do
    if grep -qaF -- "$marker" "$bin"; then
      echo "make package: $fn links $marker, which is another function's" >&2; exit 1
    fi
  done
  size=$(wc -c <"$bin" | tr -d ' ')
  printf '%-22s %s bytes, arm64, its own routes and SDK clients only\n' "$fn" "$size"
  # DESIGN §9: each stripped bootstrap stays within 6.5 MB.
  [ "$size" -le 6500000 ] || { echo "make package: $bin is over 6.5 MB" >&2; exit 1; }
done
# What ships is run before it ships: the bootstraps under qemu-aarch64, as
# Lambda runs them, against DynamoDB Local and moto (examples/arm64_flow.rs).
if [ "$arm64_check" = skip ]; then
  printf '\n!!! ARM64_CHECK=skip: the bootstraps were NOT run before shipping !!!\n\n' >&2
else
  . scripts/engines.sh
  say "the arm64 bootstraps under qemu-aarch64: request → delivery report → status → confirm → refresh → JWKS"
  cargo run --locked --quiet --example arm64_flow -- .aws-sam/build
fi
echo "Next: sam deploy --guided (see docs/deploying.md)"
