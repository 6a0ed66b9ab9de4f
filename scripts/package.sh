#!/usr/bin/env bash
# `make package`: the three arm64 `bootstrap` binaries and the template, in
# .aws-sam/build, ready for `sam deploy`. `sam build` runs cargo-lambda (which
# links with zig), all from the project venv.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/venv.sh
export PATH="$PWD/.venv/bin:$PATH" SAM_CLI_TELEMETRY=0
if command -v rustup >/dev/null; then
  rustup target add aarch64-unknown-linux-gnu >/dev/null
fi

sam build --template-file template.yaml --build-dir .aws-sam/build

# Each function must be an aarch64 Linux executable (ELF machine 0xB7).
for fn in RequestOtpFunction ConfirmOtpFunction IssueTokenFunction; do
  bin=.aws-sam/build/$fn/bootstrap
  [ -x "$bin" ] || { echo "make package: $bin is missing" >&2; exit 1; }
  machine=$(od -An -t x2 -j 18 -N 2 "$bin" | tr -d ' ')
  [ "$machine" = "00b7" ] || { echo "make package: $bin is not an arm64 binary" >&2; exit 1; }
  size=$(stat -c %s "$bin")
  printf '%-22s %s bytes, arm64\n' "$fn" "$size"
  # DESIGN §9: each function's stripped binary stays within 8 MB.
  [ "$size" -le 8000000 ] || { echo "make package: $bin is over 8 MB" >&2; exit 1; }
done
echo "Next: sam deploy --guided (see README, Deploying)"
