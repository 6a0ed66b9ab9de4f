"""How far Schemathesis's requests got: successes per route, from the HAR
files of its runs. Exits 1 until some login went the whole way, a code
confirmed (native or One ID) and its refresh token exchanged, so a caller
can run the stateful phase again until its links reach that far.

usage: reached.py HAR_FILE...
"""

import collections
import json
import sys
import urllib.parse

CONFIRMS = {"/v1/otp/confirm", "/api/v1/citizen/oauth/mobile-and-idcard/otp/confirm"}
REFRESH = "/v1/oauth/token"


def main(paths):
    successes = collections.Counter()
    calls = 0
    for path in paths:
        with open(path) as f:
            entries = json.load(f)["log"]["entries"]
        calls += len(entries)
        for entry in entries:
            if 200 <= entry["response"]["status"] < 300:
                successes[urllib.parse.urlsplit(entry["request"]["url"]).path] += 1
    print(f"{calls} requests; successes per route:")
    for route, count in sorted(successes.items()):
        print(f"  {count:6}  {route}")
    reached = any(successes[c] for c in CONFIRMS) and successes[REFRESH] > 0
    return 0 if reached else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
