"""Loaded by the SAM CLI's Python when tests/deployer_policy.py runs it (this
folder first on PYTHONPATH): records every AWS call the SAM CLI makes
(a JSON line each, to OTP_SAM_CALLS), and answers its CloudFormation calls
with a stand-in, since no local engine runs CloudFormation with the SAM
transform (moto's CloudFormation neither expands `AWS::Serverless` nor
reads a template from a local S3 endpoint). The stand-in keeps one stack
per name (kept beside the record, so that one SAM CLI run finds what
another did), answers as CloudFormation documents it (a change set created,
then executed; the stack's status; its events; a deletion) and applies
nothing. Every other call (S3) goes where the SDK's endpoint says: moto.
Nothing happens without OTP_SAM_CALLS."""

import datetime
import json
import os
import pickle
import urllib.parse
import uuid

RECORD = os.environ.get("OTP_SAM_CALLS")

if RECORD:
    import botocore.client
    import botocore.session
    from botocore.exceptions import ClientError

    ACCOUNT = "123456789012"
    STATE = RECORD + ".stacks"

    def load():
        try:
            with open(STATE, "rb") as saved:
                return pickle.load(saved)  # this run's own file
        except FileNotFoundError:
            return {}

    stacks = load()

    def now():
        return datetime.datetime.now(datetime.timezone.utc)

    def missing(operation, name):
        raise ClientError({"Error": {"Code": "ValidationError",
                                     "Message": f"Stack with id {name} does not exist"}}, operation)

    def stack_of(operation, params):
        name = params["StackName"]
        stack = stacks.get(name) or next((s for s in stacks.values() if s["StackId"] == name), None)
        if stack is None or stack["StackStatus"] == "DELETE_COMPLETE":
            missing(operation, name)
        return stack

    def event(stack, status):
        stack["events"].insert(0, {
            "StackId": stack["StackId"], "EventId": str(uuid.uuid4()), "StackName": stack["StackName"],
            "LogicalResourceId": stack["StackName"], "PhysicalResourceId": stack["StackId"],
            "ResourceType": "AWS::CloudFormation::Stack", "Timestamp": now(), "ResourceStatus": status})

    def cloudformation(region, operation, params):
        if operation == "DescribeStacks":
            stack = stack_of(operation, params)
            return {"Stacks": [{k: v for k, v in stack.items() if k not in ("events", "change_sets")}]}
        if operation == "CreateChangeSet":
            name = params["StackName"]
            if params.get("ChangeSetType") == "CREATE":
                stacks[name] = {"StackName": name, "CreationTime": now(), "StackStatus": "REVIEW_IN_PROGRESS",
                                "StackId": f"arn:aws:cloudformation:{region}:{ACCOUNT}:stack/{name}/{uuid.uuid4()}",
                                "Outputs": [], "Tags": params.get("Tags", []), "EnableTerminationProtection": False,
                                "Parameters": [], "events": [], "change_sets": {}}
            stack = stack_of(operation, params)
            change_set_id = f"arn:aws:cloudformation:{region}:{ACCOUNT}:changeSet/{params['ChangeSetName']}/{uuid.uuid4()}"
            stack["change_sets"][change_set_id] = params.get("ChangeSetType", "UPDATE")
            stack["TemplateURL"] = params["TemplateURL"]
            stack["Parameters"] = [{"ParameterKey": p["ParameterKey"], "ParameterValue": p.get("ParameterValue", "")}
                                   for p in params.get("Parameters", [])]
            if params.get("ChangeSetType") == "CREATE":
                event(stack, "REVIEW_IN_PROGRESS")
            return {"Id": change_set_id, "StackId": stack["StackId"]}
        if operation == "DescribeChangeSet":
            stack = stack_of(operation, params)
            return {"ChangeSetName": params["ChangeSetName"], "ChangeSetId": params["ChangeSetName"],
                    "StackId": stack["StackId"], "StackName": stack["StackName"], "Status": "CREATE_COMPLETE",
                    "ExecutionStatus": "AVAILABLE", "CreationTime": now(),
                    "Changes": [{"Type": "Resource", "ResourceChange": {
                        "Action": "Add", "LogicalResourceId": "Table", "ResourceType": "AWS::DynamoDB::Table",
                        "Replacement": "N/A"}}]}
        if operation == "ExecuteChangeSet":
            stack = stack_of(operation, params)
            kind = stack["change_sets"].get(params["ChangeSetName"], "UPDATE")
            stack["StackStatus"] = f"{kind}_COMPLETE"
            event(stack, stack["StackStatus"])
            return {}
        if operation == "DescribeStackEvents":
            return {"StackEvents": stack_of(operation, params)["events"]}
        if operation == "GetTemplateSummary":
            stack = stack_of(operation, params)
            return {"Parameters": [{"ParameterKey": p["ParameterKey"]} for p in stack["Parameters"]]}
        if operation == "GetTemplate":
            # The template as uploaded, read from S3 unrecorded, so that
            # `sam delete` finds the artifacts it names.
            url = urllib.parse.urlsplit(stack_of(operation, params)["TemplateURL"])
            bucket, key = url.path.lstrip("/").split("/", 1)
            s3 = botocore.session.get_session().create_client("s3", region_name=region)
            body = original(s3, "GetObject", {"Bucket": bucket, "Key": key})["Body"].read()
            return {"TemplateBody": body.decode()}
        if operation == "DeleteStack":
            stack = stacks.get(params["StackName"])
            if stack is not None:
                stack["StackStatus"] = "DELETE_COMPLETE"
                event(stack, "DELETE_COMPLETE")
            return {}
        raise ClientError({"Error": {"Code": "InvalidAction",
                                     "Message": f"the stand-in does not answer {operation}"}}, operation)

    original = botocore.client.BaseClient._make_api_call

    def make_api_call(self, operation, params):
        service = self.meta.service_model.endpoint_prefix
        with open(RECORD, "a") as out:
            out.write(json.dumps({"service": service, "operation": operation,
                                  "params": {k: v for k, v in params.items() if isinstance(v, str)}}) + "\n")
        if service == "cloudformation":
            answer = cloudformation(self.meta.region_name, operation, params)
            with open(STATE, "wb") as saved:
                pickle.dump(stacks, saved)
            return answer
        return original(self, operation, params)

    botocore.client.BaseClient._make_api_call = make_api_call
