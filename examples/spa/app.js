// A single-page app signing its users in through the OTP service's hosted
// page: the authorization code flow with PKCE (RFC 7636, S256), the answer's
// `state` and `iss` checked (RFC 9207), the code exchanged and the tokens
// refreshed and revoked from the browser (the token endpoint answers any
// origin). No secret, no backend. Tokens are kept in memory only: a page
// reload signs the user out, and no other script on the origin finds them
// in storage.
"use strict";

const { issuer, clientId } = window.OTP_LOGIN;
const redirectUri = window.location.origin + window.location.pathname;
let tokens = null;

function base64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString() {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

async function discovery() {
  const answer = await fetch(issuer + "/.well-known/openid-configuration");
  if (!answer.ok) {
    throw new Error("discovery answered " + answer.status);
  }
  return answer.json();
}

function say(text) {
  document.getElementById("status").textContent = text;
}

async function signIn() {
  const metadata = await discovery();
  const verifier = randomString();
  const state = randomString();
  const challenge = base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  sessionStorage.setItem("login", JSON.stringify({ verifier, state }));
  const url = new URL(metadata.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: clientId,
    redirect_uri: redirectUri,
    state,
    code_challenge: challenge,
    code_challenge_method: "S256",
    ui_locales: document.getElementById("locale").value,
  }).toString();
  window.location.assign(url.toString());
}

// Form-encoded posts without credentials: CORS simple requests, no preflight.
async function tokenRequest(endpoint, fields) {
  const answer = await fetch(endpoint, { method: "POST", body: new URLSearchParams(fields) });
  const body = await answer.json();
  if (!answer.ok) {
    throw new Error(body.error_description || body.error || "the service answered " + answer.status);
  }
  return body;
}

function claims(accessToken) {
  const payload = accessToken.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  return JSON.parse(atob(payload));
}

function show() {
  document.getElementById("signed-out").hidden = tokens !== null;
  document.getElementById("signed-in").hidden = tokens === null;
  if (tokens) {
    const { sub, exp } = claims(tokens.access_token);
    document.getElementById("who").textContent =
      "Signed in as " + sub + " until " + new Date(exp * 1000).toLocaleTimeString() + ".";
  }
}

// Back from the hosted page: the answer must be to this browser's own
// request (state) from the expected server (iss) before its code is used.
async function finishSignIn(params) {
  const login = JSON.parse(sessionStorage.getItem("login") || "null");
  sessionStorage.removeItem("login");
  window.history.replaceState(null, "", redirectUri);
  if (!login || params.get("state") !== login.state) {
    throw new Error("this answer is not to a sign-in this browser started");
  }
  const metadata = await discovery();
  if (params.get("iss") !== metadata.issuer) {
    throw new Error("the answer names another server");
  }
  if (params.has("error")) {
    throw new Error(params.get("error_description") || params.get("error"));
  }
  tokens = await tokenRequest(metadata.token_endpoint, {
    grant_type: "authorization_code",
    code: params.get("code"),
    redirect_uri: redirectUri,
    code_verifier: login.verifier,
    client_id: clientId,
  });
  say("Signed in.");
}

async function refresh() {
  const metadata = await discovery();
  tokens = await tokenRequest(metadata.token_endpoint, {
    grant_type: "refresh_token",
    refresh_token: tokens.refresh_token,
    client_id: clientId,
  });
  say("Tokens refreshed.");
}

async function signOut() {
  const metadata = await discovery();
  await tokenRequest(metadata.revocation_endpoint, {
    token: tokens.refresh_token,
    token_type_hint: "refresh_token",
    client_id: clientId,
  });
  tokens = null;
  say("Signed out.");
}

function guarded(action) {
  return () => action().then(show, (error) => say("Sign-in failed: " + error.message));
}

document.getElementById("sign-in").addEventListener("click", guarded(signIn));
document.getElementById("refresh").addEventListener("click", guarded(refresh));
document.getElementById("sign-out").addEventListener("click", guarded(signOut));

const params = new URLSearchParams(window.location.search);
if (params.has("state")) {
  guarded(() => finishSignIn(params))();
}
