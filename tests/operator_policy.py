"""The operators' IAM policy (docs/iam/operator-policy.json) against the AWS
calls otp-admin made while tests/docs_examples.py ran every documented
otp-admin command (recorded there, a JSON line per action and kind of
resource): every call is granted on the kind of resource IAM evaluates it
on, nothing is granted that no documented command calls, and the policy
names the stack's own resources only, each exactly (keys only behind the
stack's aliases). Neither DynamoDB Local nor moto enforces IAM, so a
missing grant would otherwise first show as AccessDenied in an operator's
terminal.

Before checking, it breaks copies of the policy in the ways it guards
against and requires each to be caught (`template_checks.proven_failures`).

Usage: python tests/operator_policy.py <recorded calls> [policy]
"""

import json
import pathlib
import sys

import iam_policy

ROOT = pathlib.Path(__file__).resolve().parent.parent

# The only resources the policy may name, each exactly: the stack's table,
# its server secret, its SMS providers' secrets, its signing-key aliases,
# and the keys behind them.
ARN = "arn:${Partition}:%s:${Region}:${Account}:"
KINDS = {
    "*": "*",
    ARN % "dynamodb" + "table/${TableName}": "table",
    "${ServerSecretArn}": "server secret",
    ARN % "secretsmanager" + "secret:${StackName}/sms-provider/*": "provider secret",
    ARN % "kms" + "${SigningKeyAlias}*": "alias",
    ARN % "kms" + "key/*": "key",
}
# Reading a key is granted only for the keys behind the stack's aliases.
KEY_READS = {"kms:DescribeKey", "kms:GetPublicKey"}
BEHIND_THE_ALIASES = {"ForAnyValue:StringLike": {"kms:ResourceAliases": "${SigningKeyAlias}*"}}


def problems(policy, calls):
    found = iam_policy.problems(policy, calls, KINDS, "the documented otp-admin commands")
    for statement in policy["Statement"]:
        keys = ARN % "kms" + "key/*" in iam_policy.as_list(statement["Resource"])
        reads = KEY_READS & set(iam_policy.as_list(statement["Action"]))
        if keys and reads and statement.get("Condition") != BEHIND_THE_ALIASES:
            found.extend(f"{action} is granted on keys that are not behind the stack's aliases"
                         for action in sorted(reads))
    return found


def main(argv):
    recorded = pathlib.Path(argv[0])
    policy_path = pathlib.Path(argv[1]) if len(argv) > 1 else ROOT / "docs/iam/operator-policy.json"
    calls = {(c["action"], c["resource"]) for c in map(json.loads, recorded.read_text().splitlines())}
    if not calls:
        print("no otp-admin call was recorded: the check would pass any policy", file=sys.stderr)
        return 1
    policy = json.loads(policy_path.read_text())

    def widen_the_table_to_every_table(broken):
        broken["Statement"][0]["Resource"] = ARN % "dynamodb" + "table/*"

    def read_keys_without_the_aliases_condition(broken):
        for statement in broken["Statement"]:
            statement.pop("Condition", None)

    def every_secret_of_the_account(broken):
        for statement in broken["Statement"]:
            if statement["Sid"] == "SmsProviderSecrets":
                statement["Resource"] = ARN % "secretsmanager" + "secret:*"

    breakages = [iam_policy.remove_a_grant, iam_policy.add_a_grant("dynamodb:BatchWriteItem"),
                 widen_the_table_to_every_table, read_keys_without_the_aliases_condition,
                 every_secret_of_the_account]
    if not iam_policy.held(policy_path, policy, breakages, lambda p: problems(p, calls)):
        return 1
    actions = sorted({a for a, _ in calls})
    print(f"{policy_path.name}: grants exactly the {len(actions)} actions the documented otp-admin "
          f"commands called, on the resources they touched; {len(breakages)} deliberate breakages caught")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
