//! The ThaiBulkSMS OTP dialect, in both versions its clients call:
//! `POST /v2/otp/request` and `/v2/otp/verify`, and `POST /v1/otp/request`
//! and `/v1/otp/verify` (the default of the vendor's npm client,
//! `thaibulksms-api`). A ThaiBulkSMS client works against this service by
//! changing only its base URL.
//!
//! `/v1/otp/request` is also the native route: a request there is
//! ThaiBulkSMS's when it carries ThaiBulkSMS's fields and none of the native
//! ones (see [`is_v1_request`]). The native API refuses unknown fields, so no
//! request the native API would accept is ever read as ThaiBulkSMS's.
//!
//! Requests are JSON, form-urlencoded, multipart/form-data, or a query string
//! with an empty body; unknown fields are ignored. Answers, as the vendor's
//! client and the apps written against it read them:
//! - v1 success `{"data":{"status":"success",…}}`; failure
//!   `{"error":{"code","message","errors":[{"message","detail":[]}]}}`.
//! - v2 success with the fields at the top level AND the same object under
//!   `data` (apps written against the vendor's README read the top level,
//!   apps written against the seed manual read `data`); failure
//!   `{"code","message","errors":[{"message","detail":[]}]}`.

use super::{
    Fields, bare_international, body_bytes, end_user_ip, fields, issuer, json_response,
    multipart_fields, query_fields, reached_at, refusal, source_ip,
};
use crate::domain::client::Overrides;
use crate::service::{
    Caller, ChallengeRef, ClientCredentials, Confirmed, OtpConfirm, OtpRequest, UnknownUsers,
};
use crate::{App, Error};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};

/// Which of the vendor's API versions a route speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Version {
    V1,
    V2,
}

/// The vendor's own texts where its documentation shows them (`Token is
/// expire.`, `Invalid Paramete.`, spelled as the vendor spells them).
const INVALID_PARAMETER: &str = "Invalid Paramete.";
const TOKEN_EXPIRED: &str = "Token is expire.";

/// HTTP status and message of each failure; docs/compatibility.md's "Migrating from
/// ThaiBulkSMS" table lists the same. Every refusal at verify is a 400, which
/// the vendor's clients read as "wrong pin".
fn status_and_message(error: &Error) -> (u16, &'static str) {
    match error {
        Error::InvalidRequest(_) | Error::InvalidField(_) | Error::InvalidIdCard => {
            (400, INVALID_PARAMETER)
        }
        Error::InvalidMobile | Error::MobileNotTextable => (400, "Invalid msisdn."),
        Error::MobileNotAllowed => (400, "This msisdn cannot receive OTP."),
        Error::SenderNotRegistered => (400, "Sender is not registered."),
        Error::InvalidClient => (401, "Invalid key or secret."),
        Error::Cooldown { .. } | Error::RateLimited { .. } => {
            (429, "Please wait before requesting a new OTP.")
        }
        Error::SmsFailed { .. } => (503, "The OTP could not be sent."),
        Error::Busy { .. } => (503, "Please try again later."),
        Error::OtpInvalid => (400, "Code is invalid."),
        Error::OtpExpired | Error::UserNotFound | Error::IdCardMismatch => (400, TOKEN_EXPIRED),
        Error::OtpAttemptsExceeded => (400, "Too many wrong codes. Please request a new OTP."),
        _ => (500, "Internal server error."),
    }
}

fn success(version: Version, data: Value) -> Response<Body> {
    let body = match version {
        Version::V1 => json!({ "data": data }),
        Version::V2 => {
            let mut body = data.clone();
            body["data"] = data;
            body
        }
    };
    json_response(200, &body, false)
}

pub(super) fn failure(version: Version, error: &Error) -> Response<Body> {
    let (status, message) = status_and_message(error);
    let mut fault = json!({
        "code": status,
        "message": message,
        "errors": [{"message": message, "detail": []}],
    });
    if let Some(incident) = error.incident() {
        fault["error_id"] = json!(incident.id);
    }
    let body = match version {
        Version::V1 => json!({ "error": fault }),
        Version::V2 => fault,
    };
    refusal(json_response(status, &body, false), error)
}

/// The request's fields in any encoding the vendor's clients use. Numbers
/// read as their text: the vendor's README passes the pin as a number.
async fn parameters(request: &Request) -> Result<Fields, Error> {
    let f = if let Some(multipart) = multipart_fields(request).await {
        multipart?
    } else if body_bytes(request)?.is_empty() {
        query_fields(request)?
    } else {
        fields(request, true)?
    };
    Ok(f.with_numbers_as_text())
}

/// Whether a request to `/v1/otp/request` is ThaiBulkSMS's: it names one of
/// `key`, `secret`, `msisdn` and none of the native `client_id`,
/// `client_secret`, `mobile_no`. Anything else, unreadable bodies included,
/// is the native API's to answer.
pub(super) async fn is_v1_request(request: &Request) -> bool {
    let Ok(f) = parameters(request).await else {
        return false;
    };
    let has = |names: [&str; 3]| names.iter().any(|n| f.has(n));
    has(["key", "secret", "msisdn"]) && !has(["client_id", "client_secret", "mobile_no"])
}

fn required(f: &Fields, name: &'static str) -> Result<String, Error> {
    f.required(
        name,
        "missing parameter",
        "parameters must be text or numbers",
    )
}

fn credentials(f: &Fields) -> Result<ClientCredentials, Error> {
    Ok(ClientCredentials {
        client_id: required(f, "key")?,
        client_secret: required(f, "secret")?,
    })
}

/// Request: `key`, `secret`, `msisdn` (`08…`, `668…` or `+668…`).
pub(super) async fn request_otp(app: &App, request: &Request, version: Version) -> Response<Body> {
    let sent = async {
        let f = parameters(request).await?;
        let otp_request = OtpRequest {
            client: Caller::Backend(credentials(&f)?),
            mobile_no: bare_international(&required(&f, "msisdn")?),
            id_card_num: None,
            sms_sender: None,
            locale: None,
            unknown_users: UnknownUsers::AnswerAsKnown,
            end_user_ip: end_user_ip(request, None)?,
            source_ip: source_ip(request),
            public_url: None,
            overrides: Overrides::default(),
        };
        app.request_otp(&reached_at(app, request, otp_request))
            .await
    }
    .await;
    match sent {
        Ok(sent) => success(
            version,
            json!({"status": "success", "token": sent.token, "refno": sent.ref_code}),
        ),
        Err(e) => failure(version, &e),
    }
}

/// Verify: `key`, `secret`, `token`, `pin`; never issues tokens.
pub(super) async fn verify_otp(app: &App, request: &Request, version: Version) -> Response<Body> {
    let verified = async {
        let f = parameters(request).await?;
        let confirm = OtpConfirm {
            client: Caller::Backend(credentials(&f)?),
            challenge: ChallengeRef::Token(required(&f, "token")?),
            otp: required(&f, "pin")?,
            wants_tokens: false,
        };
        app.confirm_otp(&confirm, &issuer(app, request)?).await
    }
    .await;
    match verified {
        Ok(Confirmed::CodeCorrect | Confirmed::Tokens(_)) => success(
            version,
            json!({"status": "success", "message": "Code is correct."}),
        ),
        Err(e) => failure(version, &e),
    }
}
