// Where this app signs its users in: the service's issuer (its base URL) and
// the app's public client id. These are `make run`'s; a deployed stack's
// issuer is its API's base URL (the stack's ApiUrl output).
window.OTP_LOGIN = {
  issuer: "http://127.0.0.1:3000",
  clientId: "demo-spa",
};
