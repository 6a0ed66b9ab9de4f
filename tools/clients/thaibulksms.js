// Drives ThaiBulkSMS's own npm client (`thaibulksms-api`, pinned in
// tools/package.json) against a running local server, changing nothing but
// its `api` option, and prints what the client returned or threw at each
// step as one JSON report. local/tests/vendor_clients.rs checks the report.
//
// Usage: node tools/clients/thaibulksms.js <base URL> <key> <secret> <v1 msisdn> <v2 msisdn>
// A client that crashes on an answer (a TypeError in its error handling
// leaves an unhandled rejection) ends this process with a non-zero status.

'use strict';
const thaibulksms = require('thaibulksms-api');

const [base, apiKey, apiSecret, ...numbers] = process.argv.slice(2);
if (!base || !apiKey || !apiSecret || numbers.length !== 2) {
  console.error('usage: thaibulksms.js <base URL> <key> <secret> <v1 msisdn> <v2 msisdn>');
  process.exit(2);
}
// A promise the client never settles must not hang the test.
setTimeout(() => {
  console.error('the client did not settle within 30 s');
  process.exit(3);
}, 30000).unref();

// What a call gave the caller: its value, or the error it rejected with.
async function outcome(call) {
  try {
    return { resolved: await call() };
  } catch (error) {
    if (error instanceof Error) {
      return { threw: `${error.name}: ${error.message}` };
    }
    return { rejected: error };
  }
}

// The code the local server "sent" to `to` (E.164), from its outbox.
async function codeFor(to) {
  const response = await fetch(`${base}/_local/outbox`);
  const sent = (await response.json()).filter((sms) => sms.to === to);
  if (sent.length === 0) throw new Error(`no SMS to ${to} in the outbox`);
  return sent[sent.length - 1].code;
}

function e164(msisdn) {
  const digits = msisdn.replace(/\D/g, '');
  return digits.startsWith('0') ? `+66${digits.slice(1)}` : `+${digits}`;
}

async function flow(version, msisdn) {
  const otp = thaibulksms.otp({ apiKey, apiSecret, version, api: base });
  const report = { request: await outcome(() => otp.request(msisdn)) };
  const answer = report.request.resolved || {};
  const token = version === 'v1' ? (answer.data || {}).token : answer.token;
  if (typeof token !== 'string') return report;
  const pin = await codeFor(e164(msisdn));
  const wrong = pin === '000000' ? '111111' : '000000';
  report.wrongPin = await outcome(() => otp.verify(token, wrong));
  report.rightPin = await outcome(() => otp.verify(token, pin));
  report.spentToken = await outcome(() => otp.verify(token, pin));
  return report;
}

(async () => {
  const report = {
    v1: await flow('v1', numbers[0]),
    v2: await flow('v2', numbers[1]),
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
})();
