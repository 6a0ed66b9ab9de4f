//! The eSMS.vn dialect: GENCODE (`SendMessageAutoGenCode_V4_get` with a query
//! string, `_V4_post` with a JSON body) and CHECKCODE (`CheckCodeGen_V4_get`,
//! `_V4_post`). An eSMS client works against this service by changing only
//! its base URL. Unknown parameters are ignored, as eSMS does.

use super::{Fields, bare_international, fields, issuer, json_response, query_fields, source_ip};
use crate::domain::client::Overrides;
use crate::domain::code::Charset;
use crate::service::{
    ChallengeRef, ClientCredentials, Confirmed, OtpConfirm, OtpRequest, UnknownUsers,
};
use crate::{App, Error};
use lambda_http::http::{HeaderValue, Method, header};
use lambda_http::{Body, Request, Response};
use serde_json::json;

/// This service never regenerates a live code: a request within the cooldown
/// is refused, and after it a new code replaces the old one.
const COUNT_REGENERATE: u64 = 0;

/// `CodeResult` and `ErrorMessage` of each failure (the README's
/// "Migrating from eSMS" table lists the same). Only "100" and "101" are
/// eSMS's own; the others are this service's.
fn code_result(error: &Error) -> (&'static str, &'static str) {
    match error {
        Error::InvalidClient => ("101", "ApiKey or SecretKey is invalid"),
        Error::SenderNotRegistered => ("104", "Brandname is not registered"),
        Error::TemplateNotRegistered => ("145", "message is not a registered template with {OTP}"),
        Error::InvalidRequest(_) | Error::InvalidIdCard => ("146", "invalid parameter"),
        Error::InvalidMobile => ("147", "invalid Phone"),
        Error::MobileNotAllowed => ("148", "Phone is in a country this account does not serve"),
        Error::Cooldown { .. } | Error::RateLimited { .. } => {
            ("149", "please wait before requesting a new code")
        }
        Error::SmsFailed => ("150", "the SMS could not be sent"),
        Error::OtpInvalid => ("160", "Code is wrong"),
        Error::OtpExpired | Error::UserNotFound | Error::IdCardMismatch => {
            ("161", "Code is expired or already used")
        }
        Error::OtpAttemptsExceeded => ("162", "too many wrong codes, request a new code"),
        _ => ("99", "unexpected error"),
    }
}

/// A failure; `content` is the code's state, which CHECKCODE answers carry.
fn failure(error: &Error, content: Option<&str>) -> Response<Body> {
    let (code, message) = code_result(error);
    let mut body = json!({
        "CodeResult": code,
        "CountRegenerate": COUNT_REGENERATE,
        "ErrorMessage": message,
    });
    if let Some(content) = content {
        body["Content"] = json!(content);
    }
    if let Some(incident) = error.incident() {
        body["ErrorId"] = json!(incident.id);
    }
    // Like eSMS, answers are 200 with a CodeResult; only our own faults are 5xx.
    let status = if error.incident().is_some() { 500 } else { 200 };
    let mut response = json_response(status, &body, false);
    if let Some(secs) = error.retry_after() {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// The query string of a `_get` route, the JSON body of a `_post` one.
fn parameters(request: &Request) -> Result<Fields, Error> {
    let f = if request.method() == Method::GET {
        query_fields(request)?
    } else {
        fields(request, false)?
    };
    Ok(f.with_numbers_as_text())
}

fn required(f: &Fields, name: &'static str) -> Result<String, Error> {
    f.required(
        name,
        "missing parameter",
        "parameters must be text or numbers",
    )
}

fn optional(f: &Fields, name: &'static str) -> Result<Option<String>, Error> {
    f.optional(name, "parameters must be text or numbers")
}

fn credentials(f: &Fields) -> Result<ClientCredentials, Error> {
    Ok(ClientCredentials {
        client_id: required(f, "ApiKey")?,
        client_secret: required(f, "SecretKey")?,
    })
}

fn number<T: std::str::FromStr>(f: &Fields, name: &'static str) -> Result<Option<T>, Error> {
    optional(f, name)?
        .map(|v| {
            v.trim()
                .parse()
                .map_err(|_| Error::InvalidRequest("invalid parameter"))
        })
        .transpose()
}

fn parse_gencode(request: &Request) -> Result<OtpRequest, Error> {
    let f = parameters(request)?;
    if optional(&f, "Type")?.is_some_and(|t| t.trim() != "2") {
        return Err(Error::InvalidRequest("Type must be 2"));
    }
    let code_charset = match optional(&f, "IsNumber")?.as_deref().map(str::trim) {
        None => None,
        Some("1") => Some(Charset::Digits),
        Some("0") => Some(Charset::Alphanumeric),
        Some(_) => return Err(Error::InvalidRequest("IsNumber must be 0 or 1")),
    };
    let minutes: Option<u32> = number(&f, "TimeAlive")?;
    Ok(OtpRequest {
        client: credentials(&f)?,
        mobile_no: bare_international(&required(&f, "Phone")?),
        id_card_num: None,
        sms_sender: Some(required(&f, "Brandname")?),
        locale: None,
        source_ip: source_ip(request),
        overrides: Overrides {
            code_length: number(&f, "NumCharOfCode")?,
            code_charset,
            lifetime_secs: minutes.map(|m| m.saturating_mul(60)),
            template: Some(required(&f, "message")?),
        },
        unknown_users: UnknownUsers::AnswerAsKnown,
    })
}

/// GENCODE: `{"CodeResult":"100","CountRegenerate":0,"SMSID":…}`; the SMSID is
/// the reference shown in the SMS.
pub(super) async fn gencode(app: &App, request: &Request) -> Response<Body> {
    let sent = match parse_gencode(request) {
        Ok(r) => app.request_otp(&r).await,
        Err(e) => Err(e),
    };
    match sent {
        Ok(sent) => json_response(
            200,
            &json!({"CodeResult": "100", "CountRegenerate": COUNT_REGENERATE, "SMSID": sent.ref_code}),
            false,
        ),
        Err(e) => failure(&e, None),
    }
}

/// CHECKCODE by `Phone` and `Code`: `CodeResult` "100" and `Content` on
/// success; `Content` names the code's state on every check answer.
pub(super) async fn checkcode(app: &App, request: &Request) -> Response<Body> {
    let checked = async {
        let f = parameters(request)?;
        let confirm = OtpConfirm {
            client: credentials(&f)?,
            challenge: ChallengeRef::Mobile {
                mobile_no: bare_international(&required(&f, "Phone")?),
            },
            otp: required(&f, "Code")?,
            wants_tokens: false,
        };
        app.confirm_otp(&confirm, &issuer(app, request)).await
    }
    .await;
    match checked {
        Ok(Confirmed::CodeCorrect | Confirmed::Tokens(_)) => json_response(
            200,
            &json!({"CodeResult": "100", "CountRegenerate": COUNT_REGENERATE, "Content": "Success"}),
            false,
        ),
        Err(e) => {
            let state = match e {
                Error::OtpInvalid => Some("Wrong code"),
                Error::OtpExpired => Some("Expired or used"),
                Error::OtpAttemptsExceeded => Some("Locked"),
                _ => None,
            };
            failure(&e, state)
        }
    }
}
