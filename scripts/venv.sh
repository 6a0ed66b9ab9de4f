#!/usr/bin/env bash
# Creates or refreshes the project venv (.venv) from tools/requirements.txt;
# a stamp named after the file's hash skips the work when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v python3 >/dev/null || { echo "Python 3 is required for the project venv" >&2; exit 1; }
# Hashed by Python: macOS has no sha256sum.
stamp=.venv/.requirements-$(python3 -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest()[:16])' tools/requirements.txt)
if [ ! -f "$stamp" ]; then
  rm -rf .venv
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r tools/requirements.txt
  touch "$stamp"
fi
