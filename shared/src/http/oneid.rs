//! The One ID dialect: "login by mobile and ID card". A One ID client works
//! against this service by changing only its base URL. Requests are JSON or
//! form-urlencoded; unknown fields are ignored, as One ID does.

use super::{
    Fields, end_user_ip, fields, issuer, json_response, reached_at, refusal, source_ip,
    token_fields,
};
use crate::domain::client::Overrides;
use crate::service::{
    Caller, ChallengeRef, ClientCredentials, Confirmed, OtpConfirm, OtpRequest, UnknownUsers,
};
use crate::{App, Error};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};

/// One ID's status and exact error text for each outcome.
fn status_and_text(error: &Error) -> (u16, &'static str) {
    match error {
        Error::InvalidIdCard => (400, "invalid format id_card_num"),
        Error::InvalidClient => (404, "client_id not found"),
        Error::UserNotFound => (404, "user mobile not found"),
        Error::IdCardMismatch => (404, "id_card_num mismatch"),
        Error::Cooldown { .. } | Error::RateLimited { .. } => {
            (400, "please wait about 1 minute before request OTP again")
        }
        Error::SmsFailed { .. } => (
            400,
            "sent otp fail please wait about 1 minute before request OTP again",
        ),
        Error::OtpInvalid | Error::OtpExpired | Error::OtpAttemptsExceeded => (404, "otp invalid"),
        Error::SigningFailed(_) => (400, "generate access token unsuccessful"),
        Error::RefreshTokenFailed(_) => (400, "generate refresh token unsuccessful"),
        Error::Busy { .. } => (503, "Service Unavailable"),
        Error::InvalidRequest(_)
        | Error::InvalidField(_)
        | Error::InvalidMobile
        | Error::MobileNotTextable
        | Error::MobileNotAllowed
        | Error::SenderNotRegistered => (400, "invalid request"),
        _ => (500, "Internal Server Error"),
    }
}

fn success(data: Value) -> Response<Body> {
    let body = json!({"result": "Success", "data": data, "errorMessage": null, "code": 200});
    json_response(200, &body, false)
}

pub(super) fn failure(error: &Error) -> Response<Body> {
    let (status, text) = status_and_text(error);
    let body = json!({"result": "Fail", "data": null, "errorMessage": text, "code": status});
    refusal(json_response(status, &body, false), error)
}

/// Every One ID field is a string; a missing or ill-typed one is
/// "invalid request".
fn required(f: &Fields, name: &'static str) -> Result<String, Error> {
    f.required(name, "invalid request", "invalid request")
}

fn credentials(f: &Fields) -> Result<ClientCredentials, Error> {
    Ok(ClientCredentials {
        client_id: required(f, "client_id")?,
        client_secret: required(f, "client_secret")?,
    })
}

fn parse_request(request: &Request) -> Result<OtpRequest, Error> {
    let f = fields(request, true)?;
    Ok(OtpRequest {
        client: Caller::Backend(credentials(&f)?),
        mobile_no: required(&f, "mobile_no")?,
        id_card_num: Some(required(&f, "id_card_num")?),
        sms_sender: f.optional("sms_sender", "invalid request")?,
        locale: None,
        unknown_users: UnknownUsers::Reveal,
        end_user_ip: end_user_ip(request, None)?,
        source_ip: source_ip(request),
        public_url: None,
        overrides: Overrides::default(),
    })
}

fn parse_confirm(request: &Request) -> Result<OtpConfirm, Error> {
    let f = fields(request, true)?;
    Ok(OtpConfirm {
        client: Caller::Backend(credentials(&f)?),
        challenge: ChallengeRef::MobileAndRef {
            mobile_no: required(&f, "mobile_no")?,
            ref_code: required(&f, "ref_code")?,
        },
        otp: required(&f, "otp")?,
        wants_tokens: true,
    })
}

/// `POST /api/v1/citizen/oauth/mobile-and-idcard`: `data.ref_code` on
/// success. One ID also returns the code itself; this service never does.
pub(super) async fn request_otp(app: &App, request: &Request) -> Response<Body> {
    let sent = async {
        app.request_otp(&reached_at(app, request, parse_request(request)?))
            .await
    }
    .await;
    match sent {
        Ok(sent) => success(json!({"ref_code": sent.ref_code})),
        Err(e) => failure(&e),
    }
}

/// `POST /api/v1/citizen/oauth/mobile-and-idcard/otp/confirm`: One ID's
/// token object on success.
pub(super) async fn confirm_otp(app: &App, request: &Request) -> Response<Body> {
    let confirmed = async {
        app.confirm_otp(&parse_confirm(request)?, &issuer(app, request)?)
            .await
    }
    .await;
    match confirmed {
        Ok(Confirmed::Tokens(t)) => success(token_fields(app, &t)),
        // One ID always issues tokens; a client set up without them still
        // hears the plain confirmation rather than a made-up token.
        Ok(Confirmed::CodeCorrect) => success(json!({"message": "Code is correct."})),
        Err(e) => failure(&e),
    }
}
