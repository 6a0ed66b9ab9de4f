"""Every request the functions sent to SNS and to End User Messaging during
`cargo test` (recorded by tests/harness/calls.rs), held to botocore's model
of that API (DESIGN §13): AWS's own description of each operation's input,
as the AWS CLI and boto3 use it.

- End User Messaging (JSON 1.0): the body is the operation's input; it is
  validated against the model's input shape, enums included.
- SNS (query protocol): the form is read back into the operation's input by
  walking the model's shapes, validated, then serialized again by botocore's
  own query serializer, which must give the very fields that were sent.

Before checking, it breaks copies of the recorded requests in the ways it
guards against and requires each to be caught.

Usage: python tests/botocore_requests.py <calls dir>  (exit 1 on any failure)
"""

import copy
import json
import pathlib
import sys
import urllib.parse

import botocore.session
from botocore.serialize import create_serializer
from botocore.validate import ParamValidator

SESSION = botocore.session.get_session()
SERVICES = {"sns": "sns", "sms-voice": "pinpoint-sms-voice-v2"}


def load_requests(directory):
    requests = []
    for path in sorted(pathlib.Path(directory).glob("*.jsonl")):
        for line in path.read_text().splitlines():
            call = json.loads(line)
            if "body" in call:
                service, operation = call["action"].split(":", 1)
                requests.append((service, operation, call["body"]))
    return requests


def query_input(shape, pairs, prefix=""):
    """The input a query-protocol form holds for `shape`, read by its model."""
    if shape.type_name == "structure":
        value = {}
        for name, member in shape.members.items():
            key = member.serialization.get("name", name)
            inner = query_input(member, pairs, f"{prefix}{key}")
            if inner is not None:
                value[name] = inner
        return value or None
    if shape.type_name == "map":
        # Each entry's key and value under the names the model gives them
        # (MessageAttributes: Name, Value; SMS attributes: key, value).
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        value, n = {}, 1
        while f"{prefix}.entry.{n}.{key_name}" in pairs:
            key = pairs[f"{prefix}.entry.{n}.{key_name}"]
            value[key] = query_input(shape.value, pairs, f"{prefix}.entry.{n}.{value_name}.")
            n += 1
        return value or None
    if shape.type_name == "list":
        value, n = [], 1
        while any(k.startswith(f"{prefix}.member.{n}") for k in pairs):
            value.append(query_input(shape.member, pairs, f"{prefix}.member.{n}"))
            n += 1
        return value or None
    key = prefix.rstrip(".")
    return pairs.get(key)


def enum_errors(value, shape, where):
    """Values outside a string shape's enum (botocore's validator checks
    types, required members and ranges, not enums)."""
    if shape.type_name == "structure" and isinstance(value, dict):
        return [e for k, v in value.items() if k in shape.members
                for e in enum_errors(v, shape.members[k], f"{where}.{k}")]
    if shape.type_name == "map" and isinstance(value, dict):
        return [e for k, v in value.items() for e in enum_errors(v, shape.value, f"{where}[{k}]")]
    if shape.type_name == "list" and isinstance(value, list):
        return [e for i, v in enumerate(value) for e in enum_errors(v, shape.member, f"{where}[{i}]")]
    enum = getattr(shape, "enum", None)
    if enum and value not in enum:
        return [f"{where}: {value!r} is not one of {enum}"]
    return []


def check_one(service, operation, body):
    model = SESSION.get_service_model(SERVICES[service])
    op = model.operation_model(operation)
    if model.protocol == "json":
        params = json.loads(body)
    else:
        pairs = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
        if pairs.pop("Action", None) != operation or pairs.pop("Version", None) != model.api_version:
            return f"{service}:{operation}: not the operation's Action and Version"
        params = query_input(op.input_shape, pairs) or {}
    report = ParamValidator().validate(params, op.input_shape)
    if report.has_errors():
        return f"{service}:{operation}: {report.generate_report()}"
    enums = enum_errors(params, op.input_shape, "input")
    if enums:
        return f"{service}:{operation}: {'; '.join(enums)}"
    if model.protocol == "query":
        serialized = create_serializer("query").serialize_to_request(params, op)["body"]
        sent = sorted(urllib.parse.parse_qsl(body, keep_blank_values=True))
        again = sorted((k, str(v)) for k, v in serialized.items())
        if sent != again:
            return f"{service}:{operation}: not what botocore sends for the same input"
    return None


def check(requests):
    return [f for f in (check_one(*r) for r in requests) if f]


def breakages(requests):
    """Requests broken as the check must notice."""
    def first(service, operation):
        return next(i for i, r in enumerate(requests)
                    if r[0] == service and operation in (None, r[1]))

    def edit(service, change, operation=None):
        broken = copy.deepcopy(requests)
        i = first(service, operation)
        s, o, body = broken[i]
        broken[i] = (s, o, change(body))
        return broken

    def json_edit(change):
        def apply(body):
            value = json.loads(body)
            change(value)
            return json.dumps(value)
        return apply

    return {
        "an unknown End User Messaging field": edit(
            "sms-voice", json_edit(lambda v: v.update(ChallengeId="ch_x"))),
        "an End User Messaging message type not in the model": edit(
            "sms-voice", json_edit(lambda v: v.update(MessageType="OTP"))),
        "End User Messaging without its destination": edit(
            "sms-voice", json_edit(lambda v: v.pop("DestinationPhoneNumber"))),
        "End User Messaging's Context not a string map": edit(
            "sms-voice", json_edit(lambda v: v.update(Context={"challenge": 1}))),
        "an SNS attribute without its data type": edit(
            "sns", lambda b: b.replace("MessageAttributes.entry.1.Value.DataType=String&", "")),
        "an SNS field not in the model": edit("sns", lambda b: b + "&SmsType=Transactional"),
        "SMS attributes under another name than the model's": edit(
            "sns", lambda b: b.replace(".key=", ".Name="), "SetSMSAttributes"),
        "SNS without its message": edit(
            "sns", lambda b: "&".join(p for p in b.split("&") if not p.startswith("Message="))),
    }


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 1
    requests = load_requests(sys.argv[1])
    kinds = {(s, o) for s, o, _ in requests}
    for needed in [("sns", "Publish"), ("sns", "SetSMSAttributes"),
                   ("sms-voice", "SendTextMessage"), ("sms-voice", "PutMessageFeedback")]:
        if needed not in kinds:
            print(f"no recorded {needed[0]}:{needed[1]} request: the tests did not record one")
            return 1
    for name, broken in breakages(requests).items():
        if not check(broken):
            print(f"the check passed requests with {name}: it cannot fail")
            return 1
    failures = check(requests)
    for failure in failures:
        print(failure)
    if failures:
        return 1
    counts = {k: sum(1 for s, o, _ in requests if (s, o) == k) for k in sorted(kinds)}
    print("botocore " + botocore.__version__ + ": " + ", ".join(
        f"{n} {s}:{o}" for (s, o), n in counts.items())
        + " requests valid against AWS's service models (SNS: re-serialized identically);"
        + f" {len(breakages(requests))} deliberate breakages all caught")
    return 0


if __name__ == "__main__":
    sys.exit(main())
