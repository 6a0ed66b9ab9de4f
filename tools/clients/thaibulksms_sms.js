// Sends one SMS with ThaiBulkSMS's own npm client (`thaibulksms-api`, pinned
// in tools/package.json), its `api` option pointed at a recording stub, so
// that tests/provider_apis.rs can hold our ThaiBulkSMS adapter's request to
// the vendor's, field for field. Prints what the client resolved with.
//
// Usage: node tools/clients/thaibulksms_sms.js <api base URL> <key> <secret> <JSON body>

'use strict';
const thaibulksms = require('thaibulksms-api');

const [api, apiKey, apiSecret, body] = process.argv.slice(2);
if (!api || !apiKey || !apiSecret || !body) {
  console.error('usage: thaibulksms_sms.js <api base URL> <key> <secret> <JSON body>');
  process.exit(2);
}
setTimeout(() => {
  console.error('the client did not settle within 30 s');
  process.exit(3);
}, 30000).unref();

thaibulksms.sms({ apiKey, apiSecret, api })
  .sendSMS(JSON.parse(body))
  .then((answer) => console.log(JSON.stringify({ resolved: answer })))
  .catch((error) => {
    console.log(JSON.stringify({ rejected: String(error.status || error) }));
    process.exit(1);
  });
