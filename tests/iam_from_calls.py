"""Least privilege proven from behaviour (DESIGN §7): each function's policy in
template.yaml against the AWS calls the functions really made during
`cargo test`, as tests/harness/calls.rs recorded them (one JSON line per
action, with the function and the resource it touched).

- Every recorded action is granted to its function, on a statement whose
  resource is the one the call touched (the table, the server secret, the
  signing key through the alias the call named, the SMS providers' secrets
  under the stack's name, End User Messaging's resources of the account,
  or, for SNS, any resource: publishing to a phone number has no ARN).
- Nothing is granted that no test performed, unless NOT_EXERCISED names it
  with the reason.

Neither DynamoDB Local nor moto enforces IAM, so a missing permission would
otherwise first show in AWS, as AccessDenied and a 500. Before checking, it
breaks copies of the template and of the recorded calls in the ways it
guards against and requires each to be caught.

Usage: python tests/iam_from_calls.py <calls dir> [template]  (exit 1 on any failure)
"""

import json
import pathlib
import sys

from template_checks import proven_failures, read_template

ROOT = pathlib.Path(__file__).resolve().parent.parent
FUNCTIONS = ["RequestOtpFunction", "ConfirmOtpFunction", "IssueTokenFunction",
             "DeliveryEventsFunction"]
# Granted although no test performs it, with the reason. Empty: every grant
# is exercised.
NOT_EXERCISED = {}
ALIAS_ROLES = {"current": "", "next": "-next", "previous": "-previous"}


def as_list(value):
    return value if isinstance(value, list) else [value]


def load_calls(directory):
    calls = set()
    for path in sorted(pathlib.Path(directory).glob("*.jsonl")):
        for line in path.read_text().splitlines():
            call = json.loads(line)
            resource = call["resource"]
            calls.add((call["function"], call["action"], resource["kind"], resource.get("role")))
    return calls


def refers_to(value, resource):
    """Whether a policy Resource value names the template resource."""
    if isinstance(value, dict):
        return value.get("Ref") == resource or (
            "Fn::GetAtt" in value and as_list(value["Fn::GetAtt"])[0].split(".")[0] == resource
        )
    return False


def alias_variants(statement):
    """The alias suffixes ('', '-next', '-previous') a KMS statement's
    condition allows, as Ref/Sub of SigningKeyAlias."""
    condition = statement.get("Condition", {}).get("ForAnyValue:StringEquals", {})
    variants = set()
    for value in as_list(condition.get("kms:ResourceAliases", [])):
        if value == {"Ref": "SigningKeyAlias"}:
            variants.add("")
        elif isinstance(value, dict) and "Fn::Sub" in value:
            text = value["Fn::Sub"]
            if isinstance(text, str) and text.startswith("${SigningKeyAlias}"):
                variants.add(text[len("${SigningKeyAlias}"):])
    return variants


# The providers' secrets, as otp-admin names them: the stack's own.
PROVIDER_SECRETS = ("arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}"
                    ":secret:${AWS::StackName}/sms-provider/*")
SMS_VOICE_RESOURCES = "arn:${AWS::Partition}:sms-voice:${AWS::Region}:${AWS::AccountId}:*"


def covers(statement, kind, role):
    """Whether an Allow statement's resource is the one a call of this kind
    touched."""
    resources = as_list(statement.get("Resource"))
    if kind == "table":
        return len(resources) == 1 and refers_to(resources[0], "Table")
    if kind == "index":
        return resources == [{"Fn::Sub": "${Table.Arn}/index/" + role}]
    if kind == "secret":
        return len(resources) == 1 and refers_to(resources[0], "ServerSecret")
    if kind == "edge secret":
        return len(resources) == 1 and refers_to(resources[0], "EdgeOriginSecret")
    if kind in ("alias", "key behind an alias"):
        key_arns = [r for r in resources if isinstance(r, dict) and "Fn::Sub" in r
                    and str(r["Fn::Sub"]).endswith(":key/*")]
        if len(resources) != 1 or not key_arns:
            return False
        variants = alias_variants(statement)
        return ALIAS_ROLES[role] in variants if kind == "alias" else bool(variants)
    if kind == "phone number":
        return resources == ["*"]
    if kind == "provider secret":
        return resources == [{"Fn::Sub": PROVIDER_SECRETS}]
    if kind == "sms-voice resource of the account":
        return resources == [{"Fn::Sub": SMS_VOICE_RESOURCES}]
    if kind == "sms attributes of the account":
        # SetSMSAttributes has no resource type: IAM takes only "*".
        return resources == ["*"]
    if kind == "role handed to SNS":
        passed_to = statement.get("Condition", {}).get("StringEquals", {}).get(
            "iam:PassedToService")
        return (len(resources) == 1 and refers_to(resources[0], "SnsDeliveryStatusRole")
                and passed_to == "sns.amazonaws.com")
    if kind == "sms-voice message":
        # PutMessageFeedback has no resource type: IAM takes only "*".
        return resources == ["*"]
    return False


def granted(template):
    """(function, action) → the Allow statements granting it."""
    grants = {}
    for function in FUNCTIONS:
        props = template["Resources"][function]["Properties"]
        for policy in props.get("Policies", []):
            if not isinstance(policy, dict) or "Statement" not in policy:
                # A SAM policy template or a managed policy: what it grants
                # cannot be checked here, so it is refused.
                grants.setdefault((function, "<unchecked policy>"), []).append(policy)
                continue
            for statement in policy["Statement"]:
                # A statement granted only with a condition of the stack
                # (the edge's secret): the tests exercise the stack with it.
                if "Fn::If" in statement:
                    statement = statement["Fn::If"][1]
                if statement.get("Effect") != "Allow":
                    continue
                for action in as_list(statement["Action"]):
                    grants.setdefault((function, action), []).append(statement)
    return grants


def check(template, calls):
    failures = []
    grants = granted(template)
    for function, action in grants:
        if action == "<unchecked policy>":
            failures.append(f"{function}: a policy that is not a plain statement list")
    for function, action, kind, role in sorted(calls, key=str):
        statements = grants.get((function, action), [])
        if not statements:
            failures.append(f"{function} calls {action}, which its policy does not grant")
        elif not any(covers(s, kind, role) for s in statements):
            where = f"{kind} ({role})" if role else kind
            failures.append(f"{function} calls {action} on the {where}, not granted there")
    performed = {(function, action) for function, action, _, _ in calls}
    for function, action in grants:
        if action == "<unchecked policy>" or (function, action) in performed:
            continue
        if (function, action) not in NOT_EXERCISED:
            failures.append(f"{function} is granted {action}, which no test performs")
    return failures


def statements_of(t, function):
    return t["Resources"][function]["Properties"]["Policies"][0]["Statement"]


def without_the_transactions_put(t, calls):
    # The confirm's transaction puts the refresh family: DynamoDB authorises
    # that part by PutItem.
    statement = statements_of(t, "ConfirmOtpFunction")[0]
    statement["Action"] = [a for a in as_list(statement["Action"]) if a != "dynamodb:PutItem"]


def a_query_granted_on_the_table_not_its_index(t, calls):
    for statement in statements_of(t, "DeliveryEventsFunction"):
        if statement.get("Action") == "dynamodb:Query":
            statement["Resource"] = {"Fn::GetAtt": ["Table", "Arn"]}


def table_wildcard(t, calls):
    statements_of(t, "ConfirmOtpFunction")[0]["Resource"] = {
        "Fn::Sub": "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/*"}


def every_resource_as_a_list(t, calls):
    statements_of(t, "IssueTokenFunction")[0]["Resource"] = ["*"]


def a_sam_policy_template(t, calls):
    t["Resources"]["IssueTokenFunction"]["Properties"]["Policies"].append(
        {"DynamoDBCrudPolicy": {"TableName": {"Ref": "Table"}}})


def an_unused_grant(t, calls):
    statements_of(t, "RequestOtpFunction")[0]["Action"] = (
        as_list(statements_of(t, "RequestOtpFunction")[0]["Action"]) + ["dynamodb:DeleteItem"])


def sign_without_the_next_alias(t, calls):
    for statement in statements_of(t, "ConfirmOtpFunction"):
        condition = statement.get("Condition", {}).get("ForAnyValue:StringEquals", {})
        if "kms:ResourceAliases" in condition:
            condition["kms:ResourceAliases"] = [
                v for v in condition["kms:ResourceAliases"]
                if v != {"Fn::Sub": "${SigningKeyAlias}-next"}]


def secret_of_another_resource(t, calls):
    statements_of(t, "IssueTokenFunction")[1]["Resource"] = {"Ref": "SigningKey"}


def every_secret_of_the_account(t, calls):
    for statement in statements_of(t, "RequestOtpFunction"):
        if statement.get("Resource") == {"Fn::Sub": PROVIDER_SECRETS}:
            statement["Resource"] = {"Fn::Sub": PROVIDER_SECRETS.replace("${AWS::StackName}/", "")}


def the_delivery_status_role_handed_to_any_service(t, calls):
    for statement in statements_of(t, "DeliveryEventsFunction"):
        if "Fn::If" in statement and statement["Fn::If"][1].get("Action") == "iam:PassRole":
            del statement["Fn::If"][1]["Condition"]


def a_call_no_policy_grants(t, calls):
    calls.add(("IssueTokenFunction", "sns:Publish", "phone number", None))


BREAKAGES = [
    without_the_transactions_put, table_wildcard, a_query_granted_on_the_table_not_its_index,
    every_resource_as_a_list, a_sam_policy_template,
    an_unused_grant, sign_without_the_next_alias, secret_of_another_resource,
    every_secret_of_the_account, a_call_no_policy_grants,
    the_delivery_status_role_handed_to_any_service,
]


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 1
    calls = load_calls(sys.argv[1])
    if not calls:
        print(f"{sys.argv[1]}: no recorded AWS calls: the tests did not record them")
        return 1
    path = pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else ROOT / "template.yaml")
    template = read_template(path)
    breakages = [lambda subject, b=b: b(*subject) for b in BREAKAGES]
    for wrapped, breakage in zip(breakages, BREAKAGES):
        wrapped.__name__ = breakage.__name__
    failures = template and proven_failures(
        path.name, (template, calls), breakages, lambda subject: check(*subject))
    if failures is None:
        return 1
    for failure in failures:
        print(f"{path.name}: {failure}")
    if failures:
        return 1
    per_function = {f: sorted({a for g, a, _, _ in calls if g == f}) for f in FUNCTIONS}
    for function, actions in per_function.items():
        print(f"{function}: {', '.join(actions)}")
    print(f"{path.name}: every policy grants exactly the {len({(f, a) for f, a, _, _ in calls})}"
          f" function actions the tests performed, on the resources they touched;"
          f" {len(BREAKAGES)} deliberate breakages all caught")
    return 0


if __name__ == "__main__":
    sys.exit(main())
