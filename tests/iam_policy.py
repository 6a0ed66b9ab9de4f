"""What the documented IAM policies (docs/iam/) are held to: an identity
policy, read as (action, kind of resource) grants over the resources it may
name, against the calls a real client made, recorded as the same pairs.
Every call must be granted on the kind of resource IAM evaluates it on, and
nothing granted that no call needs."""

import sys

from template_checks import proven_failures


def as_list(value):
    return value if isinstance(value, list) else [value]


def grants(policy, kinds):
    """What `policy` grants, as (action, kind) pairs, `kinds` mapping each
    resource it may name to its kind; and what is wrong with how it says
    so."""
    granted, found = set(), []
    for statement in policy["Statement"]:
        sid = statement.get("Sid")
        if statement.get("Effect") != "Allow":
            found.append(f"statement {sid} is not an Allow")
        for resource in as_list(statement["Resource"]):
            kind = kinds.get(resource)
            if kind is None:
                found.append(f"statement {sid} names {resource}, none of the resources it may name")
                continue
            for action in as_list(statement["Action"]):
                granted.add((action, kind))
    return granted, found


def problems(policy, calls, kinds, callers):
    """What is wrong with `policy` for `calls` (a set of (action, kind)),
    `callers` naming what made them."""
    granted, found = grants(policy, kinds)
    for action, kind in sorted(calls):
        if (action, kind) not in granted and (action, "*") not in granted:
            found.append(f"{action} on the {kind} is called but not granted")
    for action, kind in sorted(granted - calls):
        where = "any resource" if kind == "*" else f"the {kind}"
        found.append(f"{action} on {where} is granted but {callers} never call it")
    return found


def remove_a_grant(broken):
    """A breakage: the first statement loses its first action."""
    broken["Statement"][0]["Action"].pop(0)


def add_a_grant(action):
    """A breakage: the first statement gains `action`."""
    def breakage(broken):
        broken["Statement"][0]["Action"].append(action)
    breakage.__name__ = f"add_{action}"
    return breakage


def held(policy_path, policy, breakages, check):
    """Whether `policy` passes `check` (a list of problems), after proving
    `check` catches each of `breakages`; the problems printed."""
    found = proven_failures(policy_path.name, policy, breakages, check)
    if found is None:
        return False
    for problem in found:
        print(f"{policy_path.name}: {problem}", file=sys.stderr)
    return not found
