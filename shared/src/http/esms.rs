//! The eSMS.vn dialect: GENCODE (`GET …/SendMessageAutoGenCode_V4_get`) and
//! CHECKCODE (`GET …/CheckCodeGen_V4_get`), the two calls eSMS documents. An
//! eSMS client works against this service by changing only its base URL.
//!
//! Parameter names match in any case (`Message` and `message` both occur in
//! deployed clients) and unknown ones are ignored (`SmsType`, `Sandbox`), as
//! eSMS does. Every business result is HTTP 200 with a `CodeResult` from
//! eSMS's own table of error codes; only this service's own faults are 5xx.

use super::{
    Fields, bare_international, end_user_ip, issuer, json_response, query_fields, reached_at,
    refusal, source_ip,
};
use crate::domain::client::Overrides;
use crate::domain::code::Charset;
use crate::service::{
    Caller, ChallengeRef, ClientCredentials, Confirmed, OtpConfirm, OtpRequest, UnknownUsers,
};
use crate::{App, Error};
use lambda_http::{Body, Request, Response};
use serde_json::json;

/// This service never regenerates a live code: a request within the cooldown
/// is refused, and after it a new code replaces the old one.
const COUNT_REGENERATE: u64 = 0;

/// eSMS takes `TimeAlive` up to 15 minutes and deployed clients send more;
/// this service's codes live at most 10 (DESIGN §5.5), so longer asks are
/// shortened to that rather than refused.
const MAX_TIME_ALIVE_MINUTES: u32 = 10;

/// GENCODE's `Type`: eSMS sends auto-generated codes as customer-care (2)
/// messages only.
const UNSUPPORTED_TYPE: &str = "Type must be 2";

/// `CodeResult` and `ErrorMessage` of each failure. The numbers are eSMS's
/// own wherever its table has the case (docs/compatibility.md, "Migrating from eSMS"
/// lists the mapping); `147`, `150` and `500` are this service's, for cases
/// eSMS's table has no number for.
fn code_result(error: &Error) -> (&'static str, &'static str) {
    match error {
        Error::InvalidClient => ("101", "Authorize Failed"),
        Error::SenderNotRegistered => ("104", "Brand name code is not exist"),
        Error::InvalidMobile | Error::MobileNotTextable => {
            ("108", "Phone number is not in correct format")
        }
        Error::MobileNotAllowed => ("99", "The phone number is blocked in the system"),
        Error::TemplateNotRegistered => ("146", "Wrong customer care template"),
        Error::Cooldown { .. } | Error::RateLimited { .. } | Error::Busy { .. } => {
            ("160", "TPS exceeded")
        }
        Error::OtpInvalid
        | Error::OtpExpired
        | Error::OtpAttemptsExceeded
        | Error::UserNotFound
        | Error::IdCardMismatch => ("117", "Code Invalid"),
        Error::InvalidRequest(UNSUPPORTED_TYPE) => ("118", "Unsupported message type"),
        Error::InvalidRequest(_) | Error::InvalidField(_) | Error::InvalidIdCard => {
            ("147", "Invalid parameter")
        }
        Error::SmsFailed { .. } => ("150", "The SMS could not be sent"),
        _ => ("500", "Internal Server Error"),
    }
}

/// A failure. CHECKCODE failures name the phone as eSMS does
/// (`"<Phone>, Content: Code Invalid"`, never the code) and the code's state
/// in `Content`.
pub(super) fn failure(error: &Error, checked_phone: Option<&str>) -> Response<Body> {
    let (code, message) = code_result(error);
    let mut body = json!({
        "CodeResult": code,
        "CountRegenerate": COUNT_REGENERATE,
        "ErrorMessage": message,
    });
    if let Some(phone) = checked_phone.filter(|_| code == "117") {
        body["ErrorMessage"] = json!(format!("{phone}, Content: {message}"));
        body["Content"] = json!(match error {
            Error::OtpInvalid => "Wrong code",
            Error::OtpAttemptsExceeded => "Locked",
            _ => "Expired or used",
        });
    }
    if let Some(incident) = error.incident() {
        body["ErrorId"] = json!(incident.id);
    }
    // Business results are 200s; this service's own faults are not.
    let status = match error {
        Error::Busy { .. } => 503,
        _ if error.incident().is_some() => 500,
        _ => 200,
    };
    refusal(json_response(status, &body, false), error)
}

/// The query string, with names in lower case.
fn parameters(request: &Request) -> Result<Fields, Error> {
    Ok(query_fields(request)?.with_names_in_lower_case())
}

/// `name` is the parameter's lower-case name.
fn required(f: &Fields, name: &'static str) -> Result<String, Error> {
    f.required(name, "missing parameter", "invalid parameter")
}

fn optional(f: &Fields, name: &'static str) -> Result<Option<String>, Error> {
    Ok(f.optional(name, "invalid parameter")?
        .filter(|v| !v.trim().is_empty()))
}

fn credentials(f: &Fields) -> Result<ClientCredentials, Error> {
    Ok(ClientCredentials {
        client_id: required(f, "apikey")?,
        client_secret: required(f, "secretkey")?,
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
    if optional(&f, "type")?.is_some_and(|t| t.trim() != "2") {
        return Err(Error::InvalidRequest(UNSUPPORTED_TYPE));
    }
    let code_charset = match optional(&f, "isnumber")?.as_deref().map(str::trim) {
        None => None,
        Some("1") => Some(Charset::Digits),
        Some("0") => Some(Charset::Alphanumeric),
        Some(_) => return Err(Error::InvalidRequest("IsNumber must be 0 or 1")),
    };
    let minutes = number::<u32>(&f, "timealive")?.map(|m| m.min(MAX_TIME_ALIVE_MINUTES));
    Ok(OtpRequest {
        client: Caller::Backend(credentials(&f)?),
        mobile_no: bare_international(&required(&f, "phone")?),
        id_card_num: None,
        sms_sender: Some(required(&f, "brandname")?),
        locale: None,
        end_user_ip: end_user_ip(request, None)?,
        source_ip: source_ip(request),
        public_url: None,
        overrides: Overrides {
            code_length: number(&f, "numcharofcode")?,
            code_charset,
            lifetime_secs: minutes.map(|m| m * 60),
            template: Some(required(&f, "message")?),
        },
        unknown_users: UnknownUsers::AnswerAsKnown,
    })
}

/// GENCODE: `{"CodeResult":"100","CountRegenerate":0,"SMSID":…}`; the SMSID is
/// the reference shown in the SMS.
pub(super) async fn gencode(app: &App, request: &Request) -> Response<Body> {
    let sent = match parse_gencode(request) {
        Ok(r) => app.request_otp(&reached_at(app, request, r)).await,
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

/// CHECKCODE by `Phone` and `Code`, against the phone's current code:
/// `{"CodeResult":"100","CountRegenerate":0,"ErrorMessage":"<Phone>, Content: Success!","Content":"Success"}`.
pub(super) async fn checkcode(app: &App, request: &Request) -> Response<Body> {
    let mut phone = None;
    let checked = async {
        let f = parameters(request)?;
        let client = credentials(&f)?;
        let mobile_no = required(&f, "phone")?;
        phone = Some(mobile_no.trim().to_string());
        let confirm = OtpConfirm {
            client: Caller::Backend(client),
            challenge: ChallengeRef::Mobile {
                mobile_no: bare_international(&mobile_no),
            },
            otp: required(&f, "code")?,
            wants_tokens: false,
        };
        app.confirm_otp(&confirm, &issuer(app, request)?).await
    }
    .await;
    match checked {
        Ok(Confirmed::CodeCorrect | Confirmed::Tokens(_)) => json_response(
            200,
            &json!({
                "CodeResult": "100",
                "CountRegenerate": COUNT_REGENERATE,
                "ErrorMessage": format!("{}, Content: Success!", phone.unwrap_or_default()),
                "Content": "Success",
            }),
            false,
        ),
        Err(e) => failure(&e, phone.as_deref()),
    }
}
