"""What the yardstick scripts share: one line per check, the failures kept
for the exit status, and a free port on 127.0.0.1 for the local server."""

import socket

failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
