"""The document must not drift from the code: every answer the handlers gave
in the tests (recorded by tests/harness/answers.rs) must be one openapi.json
describes for its operation (status, content type, required headers, body),
and every request the service accepted one the document allows. The tests
reach what Schemathesis cannot: every fault of every dependency in every
dialect, rotations, races and every refusal. Like the template checks, it
first proves it notices each of a set of breakages of the document.

usage: openapi_from_answers.py DIR   (the OTP_API_ANSWERS directory)
"""

import base64
import collections
import json
import pathlib
import sys

from openapi_document import PATH, Document
from template_checks import proven_failures


def load_answers(directory):
    return [
        json.loads(line)
        for path in sorted(pathlib.Path(directory).glob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def response_errors(document, operation, answer):
    response = operation["responses"].get(str(answer["status"]))
    if response is None:
        return [f"status {answer['status']} not documented"]
    response = document.resolve(response)
    headers = {k.lower(): v for k, v in answer["headers"].items()}
    found = []
    for name, header in response.get("headers", {}).items():
        header = document.resolve(header)
        value = headers.get(name.lower())
        if value is None:
            if header.get("required"):
                found.append(f"header {name} missing")
            continue
        found += [f"header {name}: {e}" for e in document.errors(header["schema"], value)]
    media_type = headers.get("content-type", "").split(";")[0].strip()
    if not response.get("content") and not answer["body"]:
        return found
    content = response.get("content", {}).get(media_type)
    if content is None:
        return found + [f"content type {media_type!r} not documented"]
    if not media_type.endswith("json"):
        # The hosted page's HTML, script and style sheet: text.
        return found + [f"body {e}" for e in document.errors(content["schema"], answer["body"])]
    try:
        body = json.loads(answer["body"])
    except ValueError:
        return found + ["body is not JSON"]
    return found + [f"body {e}" for e in document.errors(content["schema"], body)]


def not_served_here(answer):
    """A function asked for another function's route: the native 404."""
    try:
        return answer["status"] == 404 and json.loads(answer["body"]).get("error") == "not_found"
    except (ValueError, AttributeError):
        return False


def accepted(operation, answer):
    """Whether the service did what the request asked: a 2xx, and for eSMS,
    which answers every business result 200, `CodeResult` 100."""
    if not 200 <= answer["status"] < 300:
        return False
    if "eSMS" in operation.get("tags", []):
        return json.loads(answer["body"]).get("CodeResult") == "100"
    return True


def request_body(answer):
    encoded = answer["request_body"]
    return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))


def check(raw, answers, seen=None):
    """What in `answers` the document `raw` does not describe, counted."""
    document = Document(raw)
    problems = collections.Counter()
    for answer in answers:
        operation = document.operation(answer["method"], answer["path"])
        if operation is None or not_served_here(answer):
            # Unknown routes and methods, and another function's route, are
            # the native 404/405: outside the document by nature.
            if answer["status"] not in (404, 405):
                problems[f"{answer['method']} {answer['path']}: {answer['status']} for a route the document lacks"] += 1
            continue
        label = f"{answer['method']} {answer['path']} {answer['status']}"
        if seen is not None:
            seen[label] += 1
        for error in response_errors(document, operation, answer):
            problems[f"{label}: answer {error}"] += 1
        if accepted(operation, answer):
            for error in document.request_errors(
                answer["method"], answer["path"], answer["query"], answer["request_headers"], request_body(answer),
                succeeded=True,
            ):
                problems[f"{label}: accepted request {error}"] += 1
    return problems


def schemas(raw):
    return raw["components"]["schemas"]


def a_status_undocumented(raw):
    del raw["paths"]["/v1/otp/request"]["post"]["responses"]["429"]


def a_field_no_answer_has(raw):
    schemas(raw)["TokenFields"]["required"].append("id_token")


def a_narrower_request_field(raw):
    schemas(raw)["NativeOtpRequest"]["properties"]["mobile_no"]["maxLength"] = 5


def a_stricter_header(raw):
    raw["components"]["headers"]["NoStore"]["schema"] = {"const": "no-cache"}


def an_error_code_unlisted(raw):
    schemas(raw)["NativeFailure"]["properties"]["error"]["enum"].remove("rate_limited")


def a_media_type_undocumented(raw):
    del raw["paths"]["/v1/oauth/token"]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]


def an_esms_code_unlisted(raw):
    schemas(raw)["EsmsAnswer"]["properties"]["CodeResult"]["enum"].remove("117")


def a_query_parameter_case_sensitive(raw):
    del raw["paths"]["/MainService.svc/json/SendMessageAutoGenCode_V4_get"]["get"]["x-parameter-names-any-case"]


BREAKAGES = [
    a_status_undocumented, a_field_no_answer_has, a_narrower_request_field, a_stricter_header,
    an_error_code_unlisted, a_media_type_undocumented, an_esms_code_unlisted, a_query_parameter_case_sensitive,
]


def main(directory):
    answers = load_answers(directory)
    if not answers:
        print(f"{directory}: no answers recorded: the check would prove nothing", file=sys.stderr)
        return 1
    raw = json.loads(PATH.read_text())
    seen = collections.Counter()
    # The document itself is checked last, as itself (the breakages get
    # copies): that pass also counts what the tests answered.
    problems = proven_failures(
        "openapi.json", raw, BREAKAGES, lambda doc: check(doc, answers, seen if doc is raw else None))
    if problems is None:
        return 1
    print(f"{len(answers)} answers of the tests held to openapi.json; per operation and status:")
    for label, count in sorted(seen.items()):
        print(f"  {count:6}  {label}")
    for path, methods in raw["paths"].items():
        for method, operation in methods.items():
            for status in operation["responses"]:
                if not seen[f"{method.upper()} {path} {status}"]:
                    print(f"  (no test answered {method.upper()} {path} {status})")
    if problems:
        print(f"\n{sum(problems.values())} answers or requests the document does not describe:", file=sys.stderr)
        for problem, count in sorted(problems.items()):
            print(f"  {count:6}  {problem}", file=sys.stderr)
        return 1
    print(f"every answer is one the document describes and every accepted request one it allows; "
          f"{len(BREAKAGES)} deliberate breakages of the document all caught")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
