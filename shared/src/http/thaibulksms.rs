//! The ThaiBulkSMS OTP dialect (`/v2/otp/request`, `/v2/otp/verify`). A
//! ThaiBulkSMS client works against this service by changing only its base
//! URL. Requests are form-urlencoded or JSON; unknown fields are ignored.
//! Every answer is wrapped as `{"data":{"status":…,…}}`.

use super::{Fields, bare_international, fields, issuer, json_response, source_ip};
use crate::domain::client::Overrides;
use crate::service::{
    ChallengeRef, ClientCredentials, Confirmed, OtpConfirm, OtpRequest, UnknownUsers,
};
use crate::{App, Error};
use lambda_http::http::{HeaderValue, header};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};

/// HTTP status, `data.status` and `data.message` for each failure; the table
/// in the README's "Migrating from ThaiBulkSMS" lists the same.
fn status_and_pair(error: &Error) -> (u16, &'static str, &'static str) {
    match error {
        Error::InvalidRequest(_) | Error::InvalidIdCard => {
            (400, "invalid_parameter", "Invalid parameters.")
        }
        Error::InvalidMobile => (400, "invalid_msisdn", "Invalid msisdn."),
        Error::MobileNotAllowed => (400, "msisdn_not_allowed", "This msisdn cannot receive OTP."),
        Error::SenderNotRegistered => (400, "invalid_sender", "Sender is not registered."),
        Error::InvalidClient => (401, "invalid_key", "Invalid key or secret."),
        Error::Cooldown { .. } | Error::RateLimited { .. } => (
            429,
            "too_many_requests",
            "Please wait before requesting a new OTP.",
        ),
        Error::SmsFailed => (503, "send_failed", "The OTP could not be sent."),
        Error::OtpInvalid => (400, "invalid_pin", "Code is invalid."),
        Error::OtpExpired | Error::UserNotFound | Error::IdCardMismatch => {
            (400, "expired", "Token is expired or already used.")
        }
        Error::OtpAttemptsExceeded => (
            400,
            "too_many_attempts",
            "Too many wrong codes. Please request a new OTP.",
        ),
        _ => (500, "error", "Internal server error."),
    }
}

fn answer(status: u16, data: Value) -> Response<Body> {
    json_response(status, &json!({ "data": data }), false)
}

fn failure(error: &Error) -> Response<Body> {
    let (status, code, message) = status_and_pair(error);
    let mut data = json!({"status": code, "message": message});
    if let Some(incident) = error.incident() {
        data["error_id"] = json!(incident.id);
    }
    let mut response = answer(status, data);
    if let Some(secs) = error.retry_after() {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

fn required(f: &Fields, name: &'static str) -> Result<String, Error> {
    f.required(name, "missing parameter", "parameters must be strings")
}

fn credentials(f: &Fields) -> Result<ClientCredentials, Error> {
    Ok(ClientCredentials {
        client_id: required(f, "key")?,
        client_secret: required(f, "secret")?,
    })
}

/// `POST /v2/otp/request` with `key`, `secret`, `msisdn`:
/// `{"data":{"status":"success","token":…,"refno":…}}`.
pub(super) async fn request_otp(app: &App, request: &Request) -> Response<Body> {
    let sent = async {
        let f = fields(request, true)?;
        let otp_request = OtpRequest {
            client: credentials(&f)?,
            mobile_no: bare_international(&required(&f, "msisdn")?),
            id_card_num: None,
            sms_sender: None,
            locale: None,
            unknown_users: UnknownUsers::AnswerAsKnown,
            source_ip: source_ip(request),
            overrides: Overrides::default(),
        };
        app.request_otp(&otp_request).await
    }
    .await;
    match sent {
        Ok(sent) => answer(
            200,
            json!({"status": "success", "token": sent.token, "refno": sent.ref_code}),
        ),
        Err(e) => failure(&e),
    }
}

/// `POST /v2/otp/verify` with `key`, `secret`, `token`, `pin`:
/// `{"data":{"status":"success","message":"Code is correct."}}`.
pub(super) async fn verify_otp(app: &App, request: &Request) -> Response<Body> {
    let verified = async {
        let f = fields(request, true)?;
        let confirm = OtpConfirm {
            client: credentials(&f)?,
            challenge: ChallengeRef::Token(required(&f, "token")?),
            otp: required(&f, "pin")?,
            wants_tokens: false,
        };
        app.confirm_otp(&confirm, &issuer(app, request)).await
    }
    .await;
    match verified {
        Ok(Confirmed::CodeCorrect | Confirmed::Tokens(_)) => answer(
            200,
            json!({"status": "success", "message": "Code is correct."}),
        ),
        Err(e) => failure(&e),
    }
}
