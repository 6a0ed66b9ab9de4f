"""The hosted page (DESIGN §14) held to OAuth clients nobody here wrote:
Authlib's `OAuth2Session` (PKCE S256, public client, no secret) does
discovery, the authorization request, the token exchange from the page's
redirect, a refresh and a revocation, and the access token is verified against
the JWKS with joserfc (Authlib's JOSE library); ALTCHA's own Python library solves the page's
proof of work. The page's two forms are posted as a browser posts them, the
code read from the local server's outbox.

Starts the local server with a public single-page-app client whose redirect
URI is a loopback address (the client never listens: the redirect is read,
as an app would).

Usage: python tests/oauth_client.py <otp-local binary>  (exit 1 on failure)
"""

import base64
import html
import json
import os
import re
import sys
import urllib.parse

import altcha
import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet
from yardstick import check, failures, local_server
from authlib.oauth2.rfc7636 import create_s256_code_challenge

CLIENT_ID = "spa-yardstick"
REDIRECT_URI = "http://127.0.0.1/callback"
PHONE = "0812345670"
def field(page, name):
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    return html.unescape(found.group(1)) if found else None


def solved(page):
    """The page's challenge, solved by ALTCHA's own solver, sent as its widget sends it."""
    challenge = json.loads(html.unescape(re.search(r'data-pow="([^"]*)"', page).group(1)))
    solution = altcha.solve_challenge_v1(
        challenge["challenge"], challenge["salt"], challenge["algorithm"], challenge["maxnumber"])
    payload = {"algorithm": challenge["algorithm"], "challenge": challenge["challenge"],
               "number": solution.number, "salt": challenge["salt"], "signature": challenge["signature"]}
    return base64.b64encode(json.dumps(payload).encode()).decode()


def run(url):
    discovery = requests.get(url + "/.well-known/openid-configuration", timeout=5).json()
    check(discovery.get("code_challenge_methods_supported") == ["S256"]
          and discovery.get("response_types_supported") == ["code"]
          and discovery.get("authorization_response_iss_parameter_supported") is True
          and "none" in discovery.get("token_endpoint_auth_methods_supported", []),
          "discovery advertises the code flow with S256, iss in the response and public clients")
    client = OAuth2Session(CLIENT_ID, redirect_uri=REDIRECT_URI, code_challenge_method="S256",
                           token_endpoint_auth_method="none")
    verifier = "v" * 10 + os.urandom(32).hex()
    uri, state = client.create_authorization_url(
        discovery["authorization_endpoint"], code_verifier=verifier, ui_locales="vi")
    check(create_s256_code_challenge(verifier) in uri, "Authlib sends its S256 challenge")

    browser = requests.Session()
    page = browser.get(uri, timeout=5, allow_redirects=False)
    check(page.status_code == 200 and 'lang="vi"' in page.text,
          f"the authorization request opens the page, in Vietnamese ({page.status_code})")
    sent = browser.post(url + "/oauth2/authorize/code", timeout=30, data={
        "page": field(page.text, "page"), "altcha": solved(page.text), "mobile_no": PHONE})
    check(sent.status_code == 200 and 'autocomplete="one-time-code"' in sent.text,
          f"with ALTCHA's solution the page texts a code and asks for it ({sent.status_code})")
    outbox = requests.get(url + "/_local/outbox", timeout=5).json()
    code = outbox[-1]["code"]
    done = browser.post(url + "/oauth2/authorize/confirm", timeout=10, allow_redirects=False, data={
        "page": field(sent.text, "page"), "token": field(sent.text, "token"),
        "mobile_no": PHONE, "otp": code})
    location = done.headers.get("location", "")
    check(done.status_code == 303 and location.startswith(REDIRECT_URI + "?"),
          f"the right code sends the browser back to the app ({done.status_code})")
    answer = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    check(answer.get("state") == state, "state comes back unchanged")
    check(answer.get("iss") == discovery["issuer"], "iss names the issuer (RFC 9207)")

    token = client.fetch_token(discovery["token_endpoint"], authorization_response=location,
                               code_verifier=verifier)
    check("access_token" in token and "refresh_token" in token,
          "Authlib exchanges the code with its verifier and no secret")
    keys = KeySet.import_key_set(requests.get(discovery["jwks_uri"], timeout=5).json())
    claims = jwt.decode(token["access_token"], keys).claims
    jwt.JWTClaimsRegistry(iss={"essential": True, "value": discovery["issuer"]},
                          aud={"essential": True, "value": CLIENT_ID}).validate(claims)
    check(claims["iss"] == discovery["issuer"] and claims["aud"] == CLIENT_ID,
          "the access token verifies against the JWKS, for this issuer and this app")
    refreshed = client.refresh_token(discovery["token_endpoint"], refresh_token=token["refresh_token"])
    check(refreshed.get("refresh_token") not in (None, token["refresh_token"]),
          "Authlib refreshes by the client's id alone, and gets a new refresh token")
    revoked = client.revoke_token(discovery["revocation_endpoint"], token=refreshed["refresh_token"],
                                  token_type_hint="refresh_token")
    after = requests.post(discovery["token_endpoint"], timeout=5, data={
        "grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"], "client_id": CLIENT_ID})
    check(revoked.status_code == 200 and after.json().get("error") == "invalid_grant",
          "Authlib revokes the refresh token, which then refreshes nothing")
    again = requests.post(discovery["token_endpoint"], timeout=5, data={
        "grant_type": "authorization_code", "code": answer["code"], "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier, "client_id": CLIENT_ID})
    check(again.status_code == 400 and again.json().get("error") == "invalid_grant",
          "the code works once")


def main():
    binary = sys.argv[1]
    clients = [{
        "client_id": CLIENT_ID,
        "default_calling_code": "66",
        "public": True,
        "hosted_page": True,
        "redirect_uris": [REDIRECT_URI],
    }]
    with local_server(binary, clients) as (url, log_path):
        run(url)
    if failures:
        print(log_path.read_text(), file=sys.stderr)
        return 1
    print("the hosted page: Authlib's OAuth2Session logs a public app in with PKCE, refreshes, "
          "and verifies the token against the JWKS; ALTCHA's solver solves its proof of work")
    return 0


if __name__ == "__main__":
    sys.exit(main())
