"""The deployers' IAM policy (docs/iam/deployer-policy.json) against what the
SAM CLI itself calls: `sam deploy` of template.yaml with the command line
docs/deploying.md gives (an artifacts bucket and prefix, a CloudFormation
service role), twice (the stack created, then updated), then `sam delete`,
with every AWS call the SAM CLI makes recorded
(tests/sam_cli/sitecustomize.py). S3 is moto's;
CloudFormation is a stand-in that answers as CloudFormation documents it and
applies nothing, since no local engine runs the SAM transform. The
functions' code is a placeholder: what the SAM CLI calls does not depend on
it.

IAM evaluates what no recorded call names, added as AWS documents it: a
change set of a template with a transform needs
`cloudformation:CreateChangeSet` on the transform too; a call that hands
CloudFormation a role (`RoleARN`) needs `iam:PassRole` on that role;
CloudFormation reads the `TemplateURL` with the caller's credentials
(`s3:GetObject`); `HeadObject` is authorised as `s3:GetObject`.

Before checking, it breaks copies of the policy in the ways it guards
against and requires each to be caught.

Needs moto at AWS_ENDPOINT_URL_SECRETS_MANAGER's address (scripts/test.sh
starts it). Usage: python tests/deployer_policy.py [policy]
"""

import json
import os
import pathlib
import shlex
import subprocess
import sys
import tempfile

import boto3
import iam_policy
from cfnlint.decode import decode
from samtranslator.translator.transform import transform

ROOT = pathlib.Path(__file__).resolve().parent.parent
SAM_TRANSFORM = "AWS::Serverless-2016-10-31"

ARN = "arn:${Partition}:cloudformation:${Region}:"
KINDS = {
    ARN + "${Account}:stack/${StackName}/*": "stack",
    ARN + "${Account}:stack/${StackName}-*-CompanionStack/*": "SAM CLI's companion stack",
    ARN + "aws:transform/Serverless-2016-10-31": "SAM transform",
    "arn:${Partition}:s3:::${ArtifactsBucket}/${StackName}/*": "artifacts",
    "arn:${Partition}:s3:::${ArtifactsBucket}": "artifacts bucket (its listing under the stack's prefix)",
    "arn:${Partition}:iam::${Account}:role/${CloudFormationRoleName}": "CloudFormation role",
}
# The only conditions the policy may (and must) carry: the role is passed to
# CloudFormation only, and the bucket listed under the stack's prefix only.
TO_CLOUDFORMATION = {"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}}
UNDER_THE_PREFIX = {"StringLike": {"s3:prefix": "${StackName}/*"}}
# The S3 operations the SAM CLI calls, by the IAM action that authorises them.
S3_ACTIONS = {"HeadObject": "s3:GetObject", "GetObject": "s3:GetObject",
              "PutObject": "s3:PutObject", "DeleteObject": "s3:DeleteObject"}


def template_with_placeholder_code(work):
    """template.yaml, as `sam build` leaves it but for the code: each
    function's a placeholder file."""
    template, matches = decode(str(ROOT / "template.yaml"))
    if matches or template is None:
        raise SystemExit(f"template.yaml cannot be read: {matches}")
    code = work / "code"
    code.mkdir()
    (code / "bootstrap").write_text("a placeholder: what the SAM CLI calls does not depend on the code\n")
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = str(code)
            resource.pop("Metadata", None)
    path = work / "template.json"
    path.write_text(json.dumps(template))
    return path, template.get("Transform") == SAM_TRANSFORM


def documented_deploy():
    """The `sam deploy` command line docs/deploying.md gives for deploying
    with this policy, as its flags."""
    text = (ROOT / "docs/deploying.md").read_text()
    lines = [line for line in text.splitlines() if line.startswith("sam deploy ") and "--role-arn" in line]
    if len(lines) != 1:
        raise SystemExit(f"docs/deploying.md gives {len(lines)} `sam deploy … --role-arn` lines, not one")
    words = shlex.split(lines[0])[2:]
    flags = dict(zip(words[::2], words[1::2]))
    for needed in ["--stack-name", "--s3-bucket", "--s3-prefix", "--role-arn", "--capabilities"]:
        if needed not in flags:
            raise SystemExit(f"docs/deploying.md's `sam deploy` line has no {needed}: {lines[0]}")
    return words, flags


def sam_calls(work, template, words, flags):
    """Runs the SAM CLI as a deployer does; the calls it made, as recorded."""
    record = work / "calls.jsonl"
    moto = os.environ["AWS_ENDPOINT_URL_SECRETS_MANAGER"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests/sam_cli"), "OTP_SAM_CALLS": str(record),
           "AWS_ENDPOINT_URL_S3": moto, "SAM_CLI_TELEMETRY": "0", "SAM_CLI_POLL_DELAY": "0.1"}
    boto3.client("s3", endpoint_url=moto).create_bucket(Bucket=flags["--s3-bucket"])
    sam = str(ROOT / ".venv/bin/sam")
    region = ["--region", os.environ.get("AWS_REGION", "us-east-1")]
    deploy = [sam, "deploy", *words, "--template-file", str(template), *region,
              "--no-confirm-changeset", "--no-progressbar"]
    delete = [sam, "delete", "--stack-name", flags["--stack-name"], "--s3-bucket", flags["--s3-bucket"],
              "--s3-prefix", flags["--s3-prefix"], *region, "--no-prompts"]
    for command in [deploy, deploy, delete]:
        ran = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, cwd=work)
        if ran.returncode != 0:
            raise SystemExit(f"{' '.join(command[1:3])} failed:\n{ran.stdout}\n{ran.stderr}")
    return [json.loads(line) for line in record.read_text().splitlines()]


def as_iam(calls, transformed, flags):
    """The recorded calls as the (action, kind) pairs IAM evaluates."""
    artifacts = (flags["--s3-bucket"], flags["--s3-prefix"] + "/")
    evaluated = set()
    for call in calls:
        service, operation, params = call["service"], call["operation"], call["params"]
        if service == "cloudformation":
            companion = params.get("StackName", "").endswith("-CompanionStack")
            evaluated.add((f"cloudformation:{operation}",
                           "SAM CLI's companion stack" if companion else "stack"))
            if operation == "CreateChangeSet" and transformed:
                evaluated.add(("cloudformation:CreateChangeSet", "SAM transform"))
            if params.get("RoleARN"):
                evaluated.add(("iam:PassRole", "CloudFormation role"))
            if params.get("TemplateURL"):
                evaluated.add(("s3:GetObject", "artifacts"))
        elif (service == "s3" and operation in S3_ACTIONS and params.get("Bucket") == artifacts[0]
              and params.get("Key", "").startswith(artifacts[1])):
            evaluated.add((S3_ACTIONS[operation], "artifacts"))
        elif (service == "s3" and operation == "ListObjectsV2" and params.get("Bucket") == artifacts[0]
              and params.get("Prefix", "").startswith(artifacts[1])):
            evaluated.add(("s3:ListBucket", KINDS["arn:${Partition}:s3:::${ArtifactsBucket}"]))
        else:
            raise SystemExit(f"a call this check does not know how IAM evaluates: {call}")
    return evaluated


def resource_types(template_path):
    """The resource types CloudFormation manages for the stack: the
    template's after the SAM transform (its code placed in S3, as `sam
    deploy` uploads it)."""
    template = json.loads(template_path.read_text())
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://artifacts/code"

    class NoManagedPolicies:
        def load(self):
            return {}

    # The translator finds its Region only as boto3 does by default.
    os.environ.setdefault("AWS_DEFAULT_REGION", os.environ.get("AWS_REGION", "us-east-1"))
    expanded = transform(template, {}, NoManagedPolicies())
    return sorted({r["Type"] for r in expanded["Resources"].values()})


def documented_types():
    text = (ROOT / "docs/deploying.md").read_text()
    listed = text.split("checked by tests/deployer_policy.py -->\n", 1)[1].split("\n<!--", 1)[0]
    return [t.strip() for t in listed.split(",")]


def problems(policy, calls):
    found = iam_policy.problems(policy, calls, KINDS, "`sam deploy` and `sam delete`")
    for statement in policy["Statement"]:
        actions = iam_policy.as_list(statement["Action"])
        if "iam:PassRole" in actions and statement.get("Condition") != TO_CLOUDFORMATION:
            found.append("iam:PassRole is granted for services other than CloudFormation")
        elif "s3:ListBucket" in actions and statement.get("Condition") != UNDER_THE_PREFIX:
            found.append("s3:ListBucket is granted beyond the stack's prefix")
        elif not {"iam:PassRole", "s3:ListBucket"} & set(actions) and "Condition" in statement:
            found.append(f"statement {statement.get('Sid')} has a condition this check does not know")
    return found


def main(argv):
    policy_path = pathlib.Path(argv[0]) if argv else ROOT / "docs/iam/deployer-policy.json"
    with tempfile.TemporaryDirectory() as work:
        template, transformed = template_with_placeholder_code(pathlib.Path(work))
        types = resource_types(template)
        words, flags = documented_deploy()
        recorded = sam_calls(pathlib.Path(work), template, words, flags)
    if documented_types() != types:
        print(f"docs/deploying.md lists the stack's resource types as {documented_types()}; "
              f"after the SAM transform they are {types}", file=sys.stderr)
        return 1
    calls = as_iam(recorded, transformed, flags)
    policy = json.loads(policy_path.read_text())

    def every_stack_of_the_account(broken):
        broken["Statement"][0]["Resource"] = ARN + "${Account}:stack/*"

    def list_the_whole_bucket(broken):
        for statement in broken["Statement"]:
            if "s3:ListBucket" in statement["Action"]:
                statement.pop("Condition")

    def every_object_of_the_bucket(broken):
        for statement in broken["Statement"]:
            if statement["Resource"] == "arn:${Partition}:s3:::${ArtifactsBucket}/${StackName}/*":
                statement["Resource"] = "arn:${Partition}:s3:::${ArtifactsBucket}/*"

    def pass_the_role_to_any_service(broken):
        for statement in broken["Statement"]:
            statement.pop("Condition", None)

    def forget_the_transform(broken):
        broken["Statement"] = [s for s in broken["Statement"]
                               if s["Resource"] != ARN + "aws:transform/Serverless-2016-10-31"]

    breakages = [iam_policy.remove_a_grant, iam_policy.add_a_grant("cloudformation:UpdateTerminationProtection"),
                 every_stack_of_the_account, every_object_of_the_bucket, list_the_whole_bucket,
                 pass_the_role_to_any_service, forget_the_transform]
    if not iam_policy.held(policy_path, policy, breakages, lambda p: problems(p, calls)):
        return 1
    operations = sorted({(c["service"], c["operation"]) for c in recorded})
    print(f"{policy_path.name}: grants exactly the {len({a for a, _ in calls})} actions IAM evaluates for "
          f"the SAM CLI's {len(recorded)} calls ({len(operations)} operations) in `sam deploy` twice and "
          f"`sam delete`, on the resources they touched; {len(breakages)} deliberate breakages caught; "
          f"docs/deploying.md lists the {len(types)} resource types the stack's service role manages")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
