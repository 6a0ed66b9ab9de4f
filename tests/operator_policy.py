"""The operators' IAM policy (docs/iam/operator-policy.json) against the AWS
calls otp-admin made while tests/docs_examples.py ran every documented
otp-admin command (recorded there, a JSON line per action and kind of
resource): every call is granted on the kind of resource IAM evaluates it
on, and nothing is granted that no documented command calls. Neither
DynamoDB Local nor moto enforces IAM, so a missing grant would otherwise
first show as AccessDenied in an operator's terminal.

Before checking, it breaks copies of the policy (a grant removed, one
added) and requires each to be caught.

Usage: python tests/operator_policy.py <recorded calls> [policy]
"""

import copy
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def kind_of(resource: str) -> str:
    if resource == "*":
        return "*"
    if ":table/" in resource:
        return "table"
    if resource == "${ServerSecretArn}":
        return "server secret"
    if ":key/" in resource:
        return "key"
    if "${SigningKeyAlias}" in resource:
        return "alias"
    raise ValueError(f"a resource of no known kind: {resource}")


def grants(policy) -> set:
    granted = set()
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow", statement
        actions = statement["Action"]
        resources = statement["Resource"]
        for action in actions if isinstance(actions, list) else [actions]:
            for resource in resources if isinstance(resources, list) else [resources]:
                granted.add((action, kind_of(resource)))
    return granted


def problems(policy, calls: set) -> list:
    granted = grants(policy)
    found = [f"{action} on the {kind} is called but not granted"
             for action, kind in sorted(calls)
             if (action, kind) not in granted and (action, "*") not in granted]
    found += [f"{action} on {'any resource' if kind == '*' else 'the ' + kind} is granted but no documented command calls it"
              for action, kind in sorted(granted - calls)]
    return found


def main(argv) -> int:
    recorded = pathlib.Path(argv[0])
    policy_path = pathlib.Path(argv[1]) if len(argv) > 1 else ROOT / "docs/iam/operator-policy.json"
    calls = {(c["action"], c["resource"]) for c in map(json.loads, recorded.read_text().splitlines())}
    if not calls:
        print("no otp-admin call was recorded: the check would pass any policy", file=sys.stderr)
        return 1
    policy = json.loads(policy_path.read_text())

    removed = copy.deepcopy(policy)
    removed["Statement"][0]["Action"] = removed["Statement"][0]["Action"][1:]
    added = copy.deepcopy(policy)
    added["Statement"][0]["Action"].append("dynamodb:BatchWriteItem")
    for name, broken in [("a grant removed", removed), ("a grant added", added)]:
        if not problems(broken, calls):
            print(f"{policy_path}: {name} is not caught: the check cannot fail", file=sys.stderr)
            return 1

    found = problems(policy, calls)
    for problem in found:
        print(f"{policy_path.name}: {problem}", file=sys.stderr)
    if found:
        return 1
    actions = sorted({a for a, _ in calls})
    print(f"{policy_path.name}: grants exactly the {len(actions)} actions the documented "
          f"otp-admin commands called, on the resources they touched; 2 deliberate breakages caught")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
