"""A check of this API's own, for what Schemathesis cannot tell from the
document's statuses alone (docs/api.md, "The API document and clients"). It
judges a request by the document itself (tests/openapi_document.py), as it
went over the wire, not by the mode Schemathesis generated it in: values a
link carries over from an earlier, deliberately malformed request make a
"positive" follow-up malformed too.

A request the document calls well formed is never refused as malformed.
Schemathesis's `positive_data_acceptance` sees only statuses, and every
dialect also answers 400 to well-formed requests (a wrong code, a number
that is no phone number, One ID's "please wait"), so it is told to accept
400 and this check reads the refusal's own words instead: each dialect says
"malformed" in one way. eSMS, which takes any request over HTTP and refuses
in `CodeResult`, is described so by the document itself (its parameters
are plain strings): Schemathesis's own checks hold there unchanged.
"""

import json
import pathlib
import sys
import urllib.parse

import schemathesis

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
from openapi_document import Document  # noqa: E402

DOCUMENT = Document()
HERE = pathlib.Path(__file__).resolve().parent
CLIENT = json.loads((HERE / "clients.json").read_text())[0]

# The rule the document states in words because JSON Schema cannot relate a
# header to the body's credentials: a request that breaks it is malformed
# although each part of it fits the document.
STATED_IN_WORDS = {
    "use one client authentication method",
}


def _json(response):
    try:
        return response.json()
    except ValueError:
        return None


def _fits_document(response):
    """Whether the request as it went over the wire fits the document."""
    sent = response.request
    url = urllib.parse.urlsplit(sent.url)
    body = sent.body.encode() if isinstance(sent.body, str) else (sent.body or b"")
    return not DOCUMENT.request_errors(sent.method, url.path, url.query, dict(sent.headers), body)


def _malformed_refusal(case, response):
    """The answer's words when it refuses the request as malformed."""
    body = _json(response)
    if not isinstance(body, dict):
        return None
    tags = case.operation.tags or []
    # eSMS takes any request over HTTP and refuses in CodeResult what its
    # parameters' words (not their schemas) rule out: the document says so,
    # so no eSMS refusal is one of a request the document calls well-formed.
    if "eSMS" in tags:
        return None
    if "One ID" in tags:
        # One ID says "invalid request" for a malformed request and also for
        # a number that is no phone number or an unregistered sender, so only
        # requests with the test client's own number and sender can tell.
        fields = case.body if isinstance(case.body, dict) else {}
        mobile_no, sms_sender = fields.get("mobile_no"), fields.get("sms_sender")
        knows_all = (
            isinstance(mobile_no, str)
            and mobile_no in TEST_NUMBERS
            and (sms_sender is None or sms_sender in CLIENT["sender_ids"])
        )
        if body.get("errorMessage") == "invalid request" and knows_all:
            return "invalid request"
        return None
    fault = body.get("error") if isinstance(body.get("error"), dict) else body
    if fault.get("message") == "Invalid Paramete." or fault.get("error") == "invalid_request":
        return fault.get("errorMessage") or fault.get("error_description") or fault.get("message")
    return None


def _test_numbers():
    """The test client's numbers, E.164 and national: the spellings the
    dictionary file uses, which must be the client's own numbers."""
    e164 = set(CLIENT["test_numbers"])
    spelled = e164 | {"0" + n[3:] for n in e164}
    lines = (HERE / "test-numbers.txt").read_text().splitlines()
    listed = {json.loads(line) for line in lines if line and not line.startswith("#")}
    if not listed <= spelled:
        raise SystemExit(f"test-numbers.txt lists numbers clients.json does not: {sorted(listed - spelled)[:3]}")
    return spelled


TEST_NUMBERS = _test_numbers()


@schemathesis.check
def well_formed_requests_are_not_refused_as_malformed(ctx, response, case):
    refusal = _malformed_refusal(case, response)
    if refusal is not None and refusal not in STATED_IN_WORDS and _fits_document(response):
        raise AssertionError(f"A request that fits the document was refused as malformed: {refusal}")
    return None
