#!/usr/bin/env bash
# The API document against the code, with tools that read only the document:
# openapi-spec-validator checks openapi.json is valid OpenAPI 3.1 and that the
# local server serves it; Schemathesis (pinned in tools/requirements.txt) runs
# first as anyone would, with its defaults and no configuration, then with
# tests/schemathesis/ (credentials, test numbers, the hooks' checks): every
# operation, positive and negative, through its examples, coverage, fuzzing
# and stateful phases against the local server, then the stateful phase again
# for the login chains until its links have confirmed a code and refreshed the
# tokens. make test runs it bounded; make fuzz with API_CHECK_EXAMPLES raised.
set -euo pipefail
cd "$(dirname "$0")/.."

examples=${API_CHECK_EXAMPLES:-60}
# Each stateful round draws its links at random: most runs reach the end of
# the chain in 1 to 6 rounds, one here took 25, so the cap is well above.
rounds=${API_CHECK_ROUNDS:-60}

say() { printf '\n== %s\n' "$*"; }
die() { printf '\n%s: %s\n' "$(basename "$0")" "$*" >&2; exit 1; }

scripts/venv.sh
.venv/bin/openapi-spec-validator openapi.json

work=$(mktemp -d)
server=
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

say "the local server with the Schemathesis client (tests/schemathesis/clients.json)"
# `make test` names the binary its tests ran; alone, this builds `make run`'s.
if [ -z "${OTP_LOCAL_BIN:-}" ]; then
  cargo build --locked -q -p otp-local
  OTP_LOCAL_BIN=target/debug/otp-local
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
PORT=$port OTP_DEMO_CLIENT_ID=api-check-demo OTP_DEMO_CLIENT_SECRET=api-check-demo-secret \
  OTP_LOCAL_CLIENTS=tests/schemathesis/clients.json "$OTP_LOCAL_BIN" >"$work/server.log" 2>&1 &
server=$!
url="http://127.0.0.1:$port"
for _ in $(seq 1 60); do curl -s -o /dev/null "$url/openapi.json" && break; sleep 0.5; done
curl -s "$url/openapi.json" | cmp -s - openapi.json || die "GET /openapi.json does not serve openapi.json (log: $(cat "$work/server.log"))"
echo "GET $url/openapi.json serves openapi.json"

schemathesis() {
  SCHEMATHESIS_TELEMETRY=false .venv/bin/schemathesis --no-color \
    --config-file tests/schemathesis/schemathesis.toml run openapi.json --url "$url" "$@"
}

say "Schemathesis as anyone runs it: its defaults, every check, no configuration, no hooks"
# The document's examples name a client `demo`; the server's is another, so
# that this pass, like any third party's, holds no credentials.
SCHEMATHESIS_TELEMETRY=false .venv/bin/schemathesis --no-color run openapi.json --url "$url" --checks all

say "Schemathesis: every operation, every phase, $examples examples each"
schemathesis --max-examples "$examples" --phases examples,coverage,fuzzing,stateful

say "Schemathesis: the login chains' links (request → confirm → refresh → revoke)"
chain=(--include-operation-id requestOtp --include-operation-id confirmOtp
  --include-operation-id refreshTokens --include-operation-id revokeToken
  --include-operation-id oneIdRequestOtp --include-operation-id oneIdConfirmOtp)
for round in $(seq 1 "$rounds"); do
  schemathesis --max-examples "$examples" --phases stateful --mode positive "${chain[@]}" \
    --report har --report-har-path "$work/chain-$round.har" >"$work/chain-$round.log" 2>&1 ||
    { cat "$work/chain-$round.log"; die "Schemathesis failed in the stateful round $round"; }
  if .venv/bin/python tests/schemathesis/reached.py "$work"/chain-*.har >"$work/reached.txt"; then
    cat "$work/reached.txt"
    echo "the links reached a confirmed code and a refreshed token in $round stateful rounds"
    exit 0
  fi
done
cat "$work/reached.txt"
die "in $rounds stateful rounds Schemathesis's links never went from a code to a refreshed token"
