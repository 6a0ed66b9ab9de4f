// The hosted page's script, served from the page's own origin (its CSP
// allows no other, and no inline script). It solves the proof of work a
// code request needs (ALTCHA's challenge: the SHA-256 of the salt and a
// number), again when the service asks for a dearer one, counts down to
// the next resend, and fills in the code where the browser reads it from
// the SMS (WebOTP). Nothing here is needed to read the page, only to ask
// for a text.
"use strict";

async function sha256Hex(text) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function solve(challenge) {
  for (let n = 0; n <= challenge.maxnumber; n++) {
    if ((await sha256Hex(challenge.salt + n)) === challenge.challenge) {
      return n;
    }
  }
  return null;
}

for (const form of document.querySelectorAll("form[data-pow]")) {
  form.addEventListener("submit", async (event) => {
    const field = form.querySelector("input[name=altcha]");
    if (field.value) {
      return;
    }
    event.preventDefault();
    const status = document.getElementById("status");
    for (const button of form.querySelectorAll("button")) {
      button.disabled = true;
    }
    if (status) {
      status.textContent = form.dataset.working;
    }
    const challenge = JSON.parse(form.dataset.pow);
    const number = await solve(challenge);
    field.value = btoa(JSON.stringify({
      algorithm: challenge.algorithm,
      challenge: challenge.challenge,
      number: number,
      salt: challenge.salt,
      signature: challenge.signature,
    }));
    form.submit();
  });
}

// A number of a range asked for often this minute came back for a dearer
// proof: solved and sent again without waiting for a click.
for (const form of document.querySelectorAll("form[data-again]")) {
  form.requestSubmit();
}

const countdown = document.getElementById("countdown");
if (countdown) {
  const resend = document.getElementById("resend");
  let left = Number(countdown.dataset.seconds);
  const tick = () => {
    if (left <= 0) {
      countdown.textContent = "";
      resend.disabled = false;
      return;
    }
    countdown.textContent = countdown.dataset.template.replace("{seconds}", String(left));
    left -= 1;
    setTimeout(tick, 1000);
  };
  resend.disabled = true;
  tick();
}

const otp = document.getElementById("otp");
if (otp && "OTPCredential" in window) {
  navigator.credentials
    .get({ otp: { transport: ["sms"] } })
    .then((credential) => {
      if (credential && credential.code) {
        otp.value = credential.code;
        otp.form.submit();
      }
    })
    .catch(() => {});
}
