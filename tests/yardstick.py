"""What the yardstick scripts share: one line per check, the failures kept
for the exit status, and the local server (`make run`'s binary) started on
a free port of 127.0.0.1 with the clients they need."""

import contextlib
import json
import os
import pathlib
import socket
import subprocess
import tempfile
import time
import urllib.request

failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def local_server(binary, clients):
    """The local server with `clients` (OTP_LOCAL_CLIENTS), once it answers:
    its URL and the path of its log, which outlives it."""
    work = pathlib.Path(tempfile.mkdtemp())
    (work / "clients.json").write_text(json.dumps(clients))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = work / "server.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [binary], env={**os.environ, "PORT": str(port), "OTP_LOCAL_CLIENTS": str(work / "clients.json")},
            stdout=log, stderr=subprocess.STDOUT)
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen(url + "/openapi.json", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            yield url, log_path
        finally:
            server.terminate()
            server.wait()
