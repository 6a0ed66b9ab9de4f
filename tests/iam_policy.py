"""What the documented IAM policies (docs/iam/) are held to: an identity
policy, read as (action, kind of resource) grants over the resources it may
name, against the calls a real client made, recorded as the same pairs.
Every call must be granted on the kind of resource IAM evaluates it on, and
nothing granted that no call needs."""


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
