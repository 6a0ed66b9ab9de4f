//! The native v1 dialect: JSON in, JSON out, in the One ID style envelope.

use super::{
    Fields, end_user_ip, fields, issuer, json_response, reached_at, refusal, source_ip,
    token_fields,
};
use crate::clock::rfc3339_utc;
use crate::domain::client::Overrides;
use crate::service::{
    Caller, ChallengeRef, ClientCredentials, Confirmed, DeliveredBy, DeliveryStatus, OtpConfirm,
    OtpRequest, OtpStatus, UnknownUsers,
};
use crate::{App, Error};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};

fn success(data: Value) -> Response<Body> {
    json_response(
        200,
        &json!({"result": "Success", "data": data, "code": 200}),
        false,
    )
}

/// `{"result":"Fail","errorMessage",…,"error",…,"code",…}`, plus
/// `Retry-After` for rate limits and `errorId` for internal errors.
pub(super) fn failure(error: &Error) -> Response<Body> {
    let mut body = json!({
        "result": "Fail",
        "errorMessage": error.message(),
        "error": error.code(),
        "code": error.status(),
    });
    if let Some(incident) = error.incident() {
        body["errorId"] = json!(incident.id);
    }
    refusal(json_response(error.status(), &body, false), error)
}

fn credentials(f: &Fields) -> Result<ClientCredentials, Error> {
    Ok(ClientCredentials {
        client_id: f.required(
            "client_id",
            "client_id is required",
            "client_id must be a string",
        )?,
        client_secret: f.required(
            "client_secret",
            "client_secret is required",
            "client_secret must be a string",
        )?,
    })
}

fn parse_request(request: &Request) -> Result<OtpRequest, Error> {
    let f = fields(request, false)?.only(&[
        "client_id",
        "client_secret",
        "mobile_no",
        "id_card_num",
        "sms_sender",
        "locale",
        "end_user_ip",
    ])?;
    Ok(OtpRequest {
        client: Caller::Backend(credentials(&f)?),
        mobile_no: f.required(
            "mobile_no",
            "mobile_no is required",
            "mobile_no must be a string",
        )?,
        id_card_num: f.optional("id_card_num", "id_card_num must be a string")?,
        unknown_users: UnknownUsers::AnswerAsKnown,
        end_user_ip: end_user_ip(
            request,
            f.optional("end_user_ip", "end_user_ip must be a string")?,
        )?,
        source_ip: source_ip(request),
        public_url: None,
        overrides: Overrides::default(),
        sms_sender: f.optional("sms_sender", "sms_sender must be a string")?,
        locale: f.optional("locale", "locale must be a string")?,
    })
}

/// The challenge a confirm or a status question names: by `token`, or by
/// `mobile_no` and `ref_code`.
fn challenge_ref(f: &Fields) -> Result<ChallengeRef, Error> {
    let token = f.optional("token", "token must be a string")?;
    let mobile_no = f.optional("mobile_no", "mobile_no must be a string")?;
    let ref_code = f.optional("ref_code", "ref_code must be a string")?;
    match (token, mobile_no, ref_code) {
        (Some(token), None, None) => Ok(ChallengeRef::Token(token)),
        (None, Some(mobile_no), Some(ref_code)) => Ok(ChallengeRef::MobileAndRef {
            mobile_no,
            ref_code,
        }),
        _ => Err(Error::InvalidRequest(
            "give either token, or mobile_no and ref_code",
        )),
    }
}

fn parse_confirm(request: &Request) -> Result<OtpConfirm, Error> {
    let f = fields(request, false)?.only(&[
        "client_id",
        "client_secret",
        "mobile_no",
        "ref_code",
        "token",
        "otp",
    ])?;
    let challenge = challenge_ref(&f)?;
    Ok(OtpConfirm {
        client: Caller::Backend(credentials(&f)?),
        challenge,
        otp: f.required("otp", "otp is required", "otp must be a string")?,
        wants_tokens: true,
    })
}

fn parse_status(request: &Request) -> Result<OtpStatus, Error> {
    let f = fields(request, false)?.only(&[
        "client_id",
        "client_secret",
        "mobile_no",
        "ref_code",
        "token",
    ])?;
    let challenge = challenge_ref(&f)?;
    Ok(OtpStatus {
        client: credentials(&f)?,
        challenge,
    })
}

pub(super) async fn request_otp(app: &App, request: &Request) -> Response<Body> {
    let sent = async {
        app.request_otp(&reached_at(app, request, parse_request(request)?))
            .await
    }
    .await;
    match sent {
        Ok(sent) => {
            let mut data = json!({
                "ref_code": sent.ref_code,
                "token": sent.token,
                "expires_in": sent.expires_in,
                "resend_after": sent.resend_after,
            });
            if let Some(code) = sent.test_code {
                data["code"] = json!(code);
            }
            success(data)
        }
        Err(e) => failure(&e),
    }
}

/// `POST /v1/otp/status`: `{"delivery", "reason", "provider", "updated_at",
/// "delivered"}`.
pub(super) async fn otp_status(app: &App, request: &Request) -> Response<Body> {
    match async { app.otp_status(&parse_status(request)?).await }.await {
        Ok(DeliveryStatus { event, delivered }) => success(json!({
            "delivery": event.state.as_str(),
            "reason": event.reason,
            "provider": event.provider,
            "updated_at": rfc3339_utc(event.at_ms),
            "delivered": delivered.map(DeliveredBy::as_str),
        })),
        Err(e) => failure(&e),
    }
}

pub(super) async fn confirm_otp(app: &App, request: &Request) -> Response<Body> {
    let confirmed = async {
        app.confirm_otp(&parse_confirm(request)?, &issuer(app, request)?)
            .await
    }
    .await;
    match confirmed {
        Ok(Confirmed::CodeCorrect) => success(json!({"message": "Code is correct."})),
        Ok(Confirmed::Tokens(t)) => success(token_fields(app, &t)),
        Err(e) => failure(&e),
    }
}
