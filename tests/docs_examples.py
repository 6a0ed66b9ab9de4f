"""Every shell example in README.md and docs/*.md, run as a reader would run
it, so that the documents cannot drift from the service.

- A block of `curl` commands to http://127.0.0.1:3000 runs, in the order of
  the document, against a fresh local server (`make run`'s binary, with the
  demo client `demo` / `demo-secret`, one server per document). Each answer
  shown after a command (the next `json` block, or JSON lines inside the
  block) is the answer's shape: the same keys at every level, the same
  types, the same protocol words and numbers; values that differ from run to
  run (codes, reference codes, tokens, times, anything shortened with `…`)
  are compared by type, and learnt: later commands that quote them get the
  values of this run. A code a command types (`otp`, `pin`, `Code`) that no
  earlier answer showed is the one the local outbox last received, as a
  reader reads it from the terminal. The status is 2xx, or 4xx where the
  shown answer is a refusal.
- The blocks of `otp-admin` commands run, line by line and in order, against
  a fresh table in DynamoDB Local (one per document), with a signing key
  alias and the server secret in moto (the environment `make test` exports),
  and a `users.csv` and a `providers.json` in their working directory; every
  command must succeed.
- Any other block (deploying, `sam local`, the deployed API's `$API`) needs
  AWS or Docker: it is listed as not run, with the reason, never silently.

With `--record FILE`, the AWS calls the otp-admin examples made are written
to FILE (a JSON line per action and kind of resource), for
tests/operator_policy.py.

Usage: python tests/docs_examples.py [--record FILE] LOCAL_SERVER_BINARY OTP_ADMIN_BINARY [FILE ...]
"""

from __future__ import annotations

import http.server
import json
import os
import threading
import pathlib
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

import boto3

ROOT = pathlib.Path(__file__).resolve().parent.parent
LOCAL = "http://127.0.0.1:3000"
ADMIN = "cargo run -p otp-admin --"

# Strings that differ from run to run (codes, reference codes, tokens,
# times, messages that quote them) are compared by type; other strings, the
# protocol's own words, exactly, and so are the result codes of the keys
# in EXACT, digits though they are.
GENERATED = re.compile(r"\d|…|^[A-Z0-9]{6}$")
EXACT = {"CodeResult"}


def fenced_blocks(text: str):
    """(language, lines, first line number) of each fenced block."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = re.match(r"^```(\w*)\s*$", lines[i])
        if not opening:
            i += 1
            continue
        start = i + 1
        j = start
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        yield opening.group(1), lines[start:j], start + 1
        i = j + 1


def commands_and_answers(lines: list[str]):
    """The block's commands (continuation lines joined, comments dropped),
    each with the JSON answers shown on the lines after it."""
    steps: list[list] = []
    pending = ""
    for line in lines:
        stripped = line.strip()
        if pending:
            pending += " " + stripped.rstrip("\\").strip()
            if not stripped.endswith("\\"):
                steps.append([pending, None])
                pending = ""
            continue
        if not stripped or stripped.startswith("#"):
            continue
        if stripped[0] in "{[" and steps:
            steps[-1][1] = json.loads(stripped)
            continue
        if stripped.endswith("\\"):
            pending = stripped.rstrip("\\").strip()
        else:
            steps.append([stripped, None])
    return steps


def without_comment(command: str) -> str:
    """`command` without a trailing `# …` comment outside quotes."""
    quote = None
    for i, c in enumerate(command):
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "#" and i > 0 and command[i - 1] == " ":
            return command[:i].rstrip()
    return command


def examples(path: pathlib.Path):
    """Each shell block of the document: (line, kind, steps), kind `local`,
    `admin` or the reason it is not run."""
    found = []
    pending_answer_for = None
    for language, lines, line in fenced_blocks(path.read_text(encoding="utf-8")):
        if language == "json" and pending_answer_for is not None:
            steps = pending_answer_for
            steps[-1][1] = json.loads("\n".join(lines))
            pending_answer_for = None
            continue
        pending_answer_for = None
        if language != "sh":
            continue
        steps = [[without_comment(c), a] for c, a in commands_and_answers(lines)]
        commands = [c for c, _ in steps]
        if commands and all(c.startswith("curl ") and LOCAL in c for c in commands):
            kind = "local"
            pending_answer_for = steps
        elif commands and all(c.startswith(ADMIN) for c in commands):
            kind = "admin"
        elif any("$API" in c for c in commands):
            kind = "not run: calls the deployed API ($API)"
        elif any(re.match(r"(sam|aws) ", c) for c in commands):
            kind = "not run: deploys to AWS or needs Docker (sam, aws)"
        elif any("examples/spa" in c for c in commands):
            kind = "not run: serves the example app (tests/browser_flow.py signs in with it in Chromium)"
        elif any(c.startswith("make ") or " make run" in c for c in commands):
            kind = "not run: the make targets themselves (make test runs this check)"
        elif commands and commands[0].startswith("python3 -m venv .gen"):
            kind = "not run: generates a client in a venv of its own (pip)"
        else:
            raise Mismatch(
                f"{path.name}:{line}: a shell example of no kind this check knows: "
                "run it here, or say why it cannot run"
            )
        found.append((line, kind, steps))
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_json(url: str):
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.loads(answer.read())


class Mismatch(Exception):
    pass


def compare(shown, got, path="$"):
    """Whether `got` has the shape of `shown` (see the module's doc)."""
    if isinstance(shown, dict):
        if not isinstance(got, dict):
            raise Mismatch(f"{path}: shown an object, got {json.dumps(got)}")
        if set(shown) != set(got):
            raise Mismatch(
                f"{path}: shown the keys {sorted(shown)}, got {sorted(got)}"
            )
        for key in shown:
            if key in EXACT and shown[key] != got[key]:
                raise Mismatch(f"{path}.{key}: shown {shown[key]!r}, got {got[key]!r}")
            compare(shown[key], got[key], f"{path}.{key}")
    elif isinstance(shown, list):
        if not isinstance(got, list) or (shown and not got):
            raise Mismatch(f"{path}: shown {json.dumps(shown)}, got {json.dumps(got)}")
        for i, (a, b) in enumerate(zip(shown, got)):
            compare(a, b, f"{path}[{i}]")
    elif isinstance(shown, str):
        if not isinstance(got, str):
            raise Mismatch(f"{path}: shown a string, got {json.dumps(got)}")
        if not GENERATED.search(shown) and shown != got:
            raise Mismatch(f"{path}: shown {shown!r}, got {got!r}")
    elif isinstance(shown, bool) or shown is None:
        if shown != got:
            raise Mismatch(f"{path}: shown {json.dumps(shown)}, got {json.dumps(got)}")
    elif isinstance(shown, (int, float)):
        if shown != got:
            raise Mismatch(f"{path}: shown {shown}, got {json.dumps(got)}")


def learn(shown, got, learnt: dict):
    """Records each generated value shown with the one this run got."""
    if isinstance(shown, dict) and isinstance(got, dict):
        for key in shown:
            if key in got:
                learn(shown[key], got[key], learnt)
    elif isinstance(shown, list) and isinstance(got, list):
        for a, b in zip(shown, got):
            learn(a, b, learnt)
    elif isinstance(shown, str) and isinstance(got, str) and shown != got:
        learnt[shown] = got


def is_refusal(shown) -> bool:
    return isinstance(shown, dict) and (
        "error" in shown or shown.get("result") == "Fail"
    )


TYPED_CODE = re.compile(r'("otp":")(\d{4,10})(")|(\bpin=)(\d{4,10})|(\bCode=)(\d{4,10})')


def run_local(binary: str, blocks, where: str) -> int:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, PORT=str(port), OTP_DEMO_CLIENT_ID="demo",
               OTP_DEMO_CLIENT_SECRET="demo-secret")
    server = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                http_json(f"{base}/_local/outbox")
                break
            except OSError:
                time.sleep(0.1)
        learnt: dict[str, str] = {}
        ran = 0
        for line, steps in blocks:
            for command, shown in steps:
                for documented in sorted(learnt, key=len, reverse=True):
                    command = command.replace(documented, learnt[documented])

                def typed(match):
                    outbox = http_json(f"{base}/_local/outbox")
                    code = outbox[-1]["code"] if outbox else "000000"
                    prefix = match.group(1) or match.group(4) or match.group(6)
                    suffix = match.group(3) or ""
                    return f"{prefix}{code}{suffix}"

                command = TYPED_CODE.sub(typed, command)
                command = command.replace(LOCAL, base)
                done = subprocess.run(
                    ["bash", "-c", command + " -w '\\n%{http_code}'"],
                    capture_output=True, text=True, timeout=30,
                )
                body, _, status = done.stdout.rpartition("\n")
                context = f"{where}:{line}: {command}"
                if done.returncode != 0 or not status.isdigit():
                    raise Mismatch(f"{context}\n  failed: {done.stderr.strip()}")
                status = int(status)
                expected = range(400, 500) if is_refusal(shown) else range(200, 300)
                if status not in expected:
                    raise Mismatch(f"{context}\n  answered {status}: {body}")
                if shown is not None:
                    try:
                        got = json.loads(body)
                    except ValueError:
                        raise Mismatch(f"{context}\n  answered no JSON: {body}")
                    try:
                        compare(shown, got)
                    except Mismatch as e:
                        raise Mismatch(f"{context}\n  {e}\n  answer: {body}")
                    learn(shown, got, learnt)
                ran += 1
        return ran
    finally:
        server.terminate()
        server.wait(timeout=10)


# The providers' secrets of the stack the documents name (`--stack otp`).
PROVIDER_SECRETS = "otp/sms-provider/"


class Recorder:
    """A reverse proxy in front of one engine (DynamoDB Local or moto) that
    records each AWS call otp-admin makes: the IAM action, and the kind of
    resource IAM evaluates it on (the table, a signing-key alias, the key
    behind it, the server secret, an SMS provider's secret, or none: `*`)."""

    PREFIXES = {"DynamoDB_20120810": "dynamodb", "TrentService": "kms",
                "secretsmanager": "secretsmanager"}

    def __init__(self, upstream: str, names: dict, calls: set):
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                recorder.record(self.headers.get("X-Amz-Target", ""), body)
                request = urllib.request.Request(
                    upstream + self.path, data=body, method="POST",
                    headers={k: v for k, v in self.headers.items() if k.lower() != "host"},
                )
                try:
                    with urllib.request.urlopen(request, timeout=30) as answer:
                        status, headers, payload = answer.status, answer.headers, answer.read()
                except urllib.error.HTTPError as refused:
                    status, headers, payload = refused.code, refused.headers, refused.read()
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.names, self.calls = names, calls
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def record(self, target: str, body: bytes):
        service, _, operation = target.partition(".")
        action = f"{self.PREFIXES.get(service, service)}:{operation}"
        fields = json.loads(body or b"{}")
        kinds = set()
        if fields.get("TableName") == self.names["table"]:
            kinds.add("table")
        if fields.get("SecretId") == self.names["secret"]:
            kinds.add("server secret")
        if str(fields.get("SecretId") or fields.get("Name") or "").startswith(PROVIDER_SECRETS):
            kinds.add("provider secret")
        if "AliasName" in fields:
            kinds.add("alias" if fields["AliasName"].startswith(self.names["alias"]) else "another alias")
        # A key named by an alias is still the key to IAM; alias changes
        # need the key they point at too.
        if "KeyId" in fields or "TargetKeyId" in fields or operation == "DeleteAlias":
            kinds.add("key")
        for kind in kinds or {"*"}:
            self.calls.add((action, kind))

    def stop(self):
        self.server.shutdown()


def run_admin(binary: str, blocks, where: str, calls: set) -> int:
    endpoint = os.environ["AWS_ENDPOINT_URL_DYNAMODB"]
    moto = os.environ["AWS_ENDPOINT_URL_KMS"]
    region = os.environ["AWS_REGION"]
    dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, region_name=region)
    kms = boto3.client("kms", endpoint_url=moto, region_name=region)
    secrets = boto3.client("secretsmanager", endpoint_url=moto, region_name=region)
    table = f"docs-{uuid.uuid4().hex[:12]}"
    dynamodb.create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    key = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    alias = f"alias/{table}"
    kms.create_alias(AliasName=alias, TargetKeyId=key)
    secret = secrets.create_secret(
        Name=f"{table}-server-secret",
        SecretString="ZG9jcy1leGFtcGxlcy1zZXJ2ZXItc2VjcmV0LTMyLWJ5dGVzLWxvbmc",
    )["ARN"]
    # The documents' `providers set` stores its secret anew each run (a
    # secret left by an earlier run would spare it the CreateSecret call).
    try:
        secrets.delete_secret(SecretId=f"{PROVIDER_SECRETS}shop/esms", ForceDeleteWithoutRecovery=True)
    except secrets.exceptions.ResourceNotFoundException:
        pass
    names = {"table": table, "alias": alias, "secret": secret}
    recorders = [Recorder(endpoint, names, calls), Recorder(moto, names, calls)]
    env = dict(os.environ, OTP_TABLE_NAME=table, OTP_SIGNING_KEY_ALIAS=alias,
               OTP_SERVER_SECRET_ARN=secret,
               AWS_ENDPOINT_URL_DYNAMODB=recorders[0].url,
               AWS_ENDPOINT_URL_KMS=recorders[1].url,
               AWS_ENDPOINT_URL_SECRETS_MANAGER=recorders[1].url)
    ran = 0
    try:
        with tempfile.TemporaryDirectory() as cwd:
            pathlib.Path(cwd, "users.csv").write_text(
                "mobile,id_card,username,account_id\n"
                "0812345678,1234567890121,somchai,shop-0001\n0899999999\n"
            )
            pathlib.Path(cwd, "providers.json").write_text(json.dumps([
                {"kind": "esms", "secret": {"api_key": "DOCS0KEY", "secret_key": "DOCS0SECRET"}},
                {"kind": "sns"},
            ]))
            for line, steps in blocks:
                for command, _ in steps:
                    run = command.replace(ADMIN, binary)
                    done = subprocess.run(["bash", "-c", run], cwd=cwd, env=env,
                                          capture_output=True, text=True, timeout=60)
                    if done.returncode != 0:
                        raise Mismatch(
                            f"{where}:{line}: {command}\n  exit {done.returncode}: "
                            f"{done.stderr.strip()}"
                        )
                    ran += 1
    finally:
        for recorder in recorders:
            recorder.stop()
    return ran


def main(argv: list[str]) -> int:
    record = None
    if argv[:1] == ["--record"]:
        record, argv = argv[1], argv[2:]
    local, admin, *files = argv
    local = str(pathlib.Path(local).resolve())
    admin = str(pathlib.Path(admin).resolve())
    paths = [pathlib.Path(f) for f in files] or [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    ran = 0
    not_run = []
    calls: set = set()
    try:
        for path in paths:
            where = str(path.resolve().relative_to(ROOT)) if path.resolve().is_relative_to(ROOT) else str(path)
            found = examples(path)
            local_blocks = [(line, steps) for line, kind, steps in found if kind == "local"]
            if local_blocks:
                ran += run_local(local, local_blocks, where)
            admin_blocks = [(line, steps) for line, kind, steps in found if kind == "admin"]
            if admin_blocks:
                ran += run_admin(admin, admin_blocks, where, calls)
            not_run += [f"{where}:{line}: {kind}" for line, kind, _ in found
                        if kind not in ("local", "admin")]
    except Mismatch as e:
        print(f"a documented example does not do what its document says:\n{e}", file=sys.stderr)
        return 1
    if ran == 0:
        print("no example ran: the check would pass any document", file=sys.stderr)
        return 1
    if record:
        pathlib.Path(record).write_text(
            "".join(json.dumps({"action": a, "resource": k}) + "\n" for a, k in sorted(calls))
        )
    print(f"{ran} documented commands ran as documented ({len(paths)} documents)")
    for block in not_run:
        print(f"  {block}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
