"""The send hook against a receiver built on Standard Webhooks' own library
(`standardwebhooks`, pinned in tools/requirements.txt), DESIGN §13.

Starts the local server with a client whose providers are a webhook (this
receiver) and then `sns` (the local outbox stands in for it), and checks:

- every request the service sends verifies with the library, carries the
  design's `otp.send` body, and its code confirms at the API;
- a receiver that fails once gets a retry with the same `webhook-id`, also
  verified, and the code is sent once (nothing in the outbox);
- a copy with a tampered body, timestamp or signature is refused by the
  library;
- a receiver that keeps failing, or answers 4xx, moves the SAME code to the
  next provider (the outbox);
- the metrics count sends and failures by provider.

Usage: python tests/webhook_receiver.py <otp-local binary>  (exit 1 on failure)
"""

import base64
import datetime
import http.server
import json
import sys
import threading
import urllib.request

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from yardstick import check, failures, local_server

SECRET = "whsec_" + base64.b64encode(b"a send hook's key, 32 bytes long").decode()
CLIENT_ID = "hooked"
CLIENT_SECRET = "hooked-local-secret-0123"


class Receiver(http.server.BaseHTTPRequestHandler):
    # What to answer next: a list of statuses, then 204.
    plan = []
    received = []
    verifier = Webhook(SECRET)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            payload = self.verifier.verify(body, headers)
            verified = True
        except WebhookVerificationError as e:
            payload, verified = str(e), False
        Receiver.received.append({"headers": headers, "body": body, "payload": payload, "verified": verified})
        status = Receiver.plan.pop(0) if Receiver.plan else 204
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def call(url, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url + path, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def main():
    binary = sys.argv[1]
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hook_url = f"http://127.0.0.1:{receiver.server_address[1]}/otp-hook"

    clients = [{
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "default_calling_code": "66",
        "sender_ids": ["OTPHook"],
        "sms_providers": [
            {"kind": "webhook", "url": hook_url, "secret": {"signing_secret": SECRET}},
            {"kind": "sns"},
        ],
    }]
    try:
        with local_server(binary, clients) as (url, log_path):
            run(url)
    finally:
        receiver.shutdown()
    server_log = log_path.read_text()
    check(SECRET not in server_log and SECRET[6:] not in server_log, "the signing secret is in no log line")
    if failures:
        print(server_log)
        print(f"\n{len(failures)} failed: {failures}")
        sys.exit(1)
    print("\nthe send hook: every request verified by standardwebhooks; retries, tampering and failover as designed")


def request_code(url, phone):
    return call(url, "/v1/otp/request", {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "mobile_no": phone})


def outbox(url):
    return call(url, "/_local/outbox")[1]


def other_key_signature(headers, body):
    other = Webhook("whsec_" + base64.b64encode(b"another key, also 32 bytes long!").decode())
    sent_at = datetime.datetime.fromtimestamp(int(headers["webhook-timestamp"]), tz=datetime.timezone.utc)
    return other.sign(headers["webhook-id"], sent_at, body.decode())


def run(url):
    # 1. A send: verified, the design's body, and its code confirms.
    status, answer = request_code(url, "0811111111")
    check(status == 200, f"a code request through the hook answers 200 ({status} {answer})")
    check(len(Receiver.received) == 1, "the hook was called once")
    first = Receiver.received[-1]
    check(first["verified"], f"standardwebhooks verifies the request ({first['payload']})")
    payload = first["payload"] if first["verified"] else {}
    # DESIGN §13.1's fields, and §13.3's URL for the receiver's delivery reports.
    fields = {"type", "challenge_id", "client_id", "phone_e164", "calling_code", "locale", "code",
              "ref_code", "expires_at", "message", "sender_id", "delivery_callback_url"}
    check(set(payload) == fields, f"the body has exactly the design's fields ({sorted(payload)})")
    check(payload.get("type") == "otp.send" and payload.get("phone_e164") == "+66811111111"
          and payload.get("client_id") == CLIENT_ID and payload.get("calling_code") == "66"
          and payload.get("sender_id") == "OTPHook", "the body names the event, the number, the client and the sender")
    check(first["headers"]["webhook-id"] == payload.get("challenge_id"), "webhook-id is the challenge id")
    check(payload.get("ref_code") == answer["data"]["ref_code"], "the body's ref_code is the one answered")
    check(payload.get("code", "x") in payload.get("message", ""), "the message holds the code")
    check(outbox(url) == [], "nothing went to the next provider")
    # The receiver reports the SMS delivered to the URL the event gave it;
    # the status then says so (the URL's ticket is its only credential).
    callback = payload.get("delivery_callback_url") or ""
    check(callback.startswith(url + "/v1/delivery/webhook/"), f"the event names the service's callback URL ({callback})")
    status, taken = call(url, callback[len(url):], {"delivery": "delivered"}) if callback.startswith(url) else (0, None)
    check(status == 200, f"the receiver's delivery report is taken ({status} {taken})")
    status, told = call(url, "/v1/otp/status", {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                                "token": answer["data"]["token"]})
    check(status == 200 and told["data"]["delivery"] == "delivered" and told["data"]["provider"] == "webhook",
          f"the status tells the receiver's report ({status} {told})")
    status, confirmed = call(url, "/v1/otp/confirm", {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                                       "token": answer["data"]["token"], "otp": payload.get("code")})
    check(status == 200, f"the hook's code confirms ({status} {confirmed})")

    # 2. Tampered copies of that request: the library refuses each.
    headers, body = first["headers"], first["body"]
    tampered = [
        ("a changed body", body.replace(b"+66811111111", b"+66822222222"), headers),
        ("a changed timestamp", body, {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) + 1)}),
        ("a changed id", body, {**headers, "webhook-id": headers["webhook-id"] + "x"}),
        ("another key's signature", body, {**headers, "webhook-signature": other_key_signature(headers, body)}),
    ]
    for what, tampered_body, tampered_headers in tampered:
        try:
            Receiver.verifier.verify(tampered_body, tampered_headers)
            refused = False
        except WebhookVerificationError:
            refused = True
        check(refused, f"standardwebhooks refuses {what}")

    # 3. The receiver fails once: a retry with the same id, verified; sent once.
    Receiver.received.clear()
    Receiver.plan = [503]
    status, answer = request_code(url, "0812222222")
    check(status == 200, f"a hook that fails once still sends ({status})")
    ids = [r["headers"]["webhook-id"] for r in Receiver.received]
    check(len(ids) == 2 and ids[0] == ids[1], f"the retry carries the same webhook-id ({ids})")
    check(all(r["verified"] for r in Receiver.received), "standardwebhooks verifies the retry too")
    check(outbox(url) == [], "a retried send is not sent by the next provider too")

    # 4. The receiver keeps failing, or refuses: the SAME code goes to the next provider.
    for plan, what in [([500, 500], "keeps failing"), ([400], "refuses the send")]:
        Receiver.received.clear()
        Receiver.plan = list(plan)
        phone = "0813333333" if plan[0] == 500 else "0814444444"
        before = len(outbox(url))
        status, answer = request_code(url, phone)
        check(status == 200, f"a hook that {what} fails over ({status})")
        sent = outbox(url)[before:]
        hooked_codes = {r["payload"]["code"] for r in Receiver.received if r["verified"]}
        check(len(Receiver.received) == len(plan), f"a hook that {what} is called {len(plan)} time(s)")
        check(len(sent) == 1 and {sent[0]["code"]} == hooked_codes,
              f"the next provider sent the same code the hook was given ({what})")

    # 5. The metrics count by provider.
    summary = call(url, "/_local/metrics?summary=1")[1]
    by = lambda metric: summary.get(metric, {}).get("by", {})
    check(by("CodesSent").get(f"Client={CLIENT_ID},CallingCode=66,Provider=webhook") == 2.0,
          f"two codes counted as sent by the hook ({by('CodesSent')})")
    check(by("CodesSent").get(f"Client={CLIENT_ID},CallingCode=66,Provider=sns") == 2.0,
          "two codes counted as sent by the next provider")
    check(by("SmsProviderFailures").get(f"Client={CLIENT_ID},CallingCode=66,Provider=webhook") == 2.0,
          f"two hook failures counted ({by('SmsProviderFailures')})")


if __name__ == "__main__":
    main()
