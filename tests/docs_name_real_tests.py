"""SECURITY.md maps every rule to the tests that hold it (its tables' last
column): each test it names must exist, so that a renamed or removed test cannot leave a rule claiming a
proof it no longer has.

Usage: python tests/docs_name_real_tests.py [FILE ...] (default SECURITY.md)
"""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

# A test's name as the documents spell it, alone or after its module
# (`storage::rule_5_8_…`, `attacks::*::…`): snake case with three words at
# least, in backticks.
NAMED = re.compile(r"`(?:[\w*]+::)*([a-z][a-z0-9]*(?:_[a-z0-9]+){2,})`")
DEFINED = re.compile(r"\b(?:async\s+)?fn\s+([a-z0-9_]+)|^def\s+([a-z0-9_]+)", re.M)


def defined_names() -> set[str]:
    names = set()
    for pattern in ("**/*.rs", "**/*.py"):
        for path in ROOT.glob(pattern):
            if any(part in {"target", ".venv", "node_modules"} for part in path.parts):
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            names.update(a or b for a, b in DEFINED.findall(text))
    return names


def main(files: list[str]) -> int:
    defined = defined_names()
    missing = []
    for name in files or ["SECURITY.md"]:
        text = (ROOT / name).read_text(encoding="utf-8")
        for line_number, line in enumerate(text.splitlines(), 1):
            # The tests are a table's last column.
            cells = line.strip().strip("|").split("|")
            if not line.startswith("|") or len(cells) < 2:
                continue
            for test in NAMED.findall(cells[-1]):
                if test not in defined:
                    missing.append(f"{name}:{line_number}: no test named {test}")
    for line in missing:
        print(line, file=sys.stderr)
    if missing:
        return 1
    print(f"every test {', '.join(files or ['SECURITY.md'])} names exists")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
