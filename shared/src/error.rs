//! The one error type of the service, and the one place that decides its HTTP
//! status. Dialects choose only the body they wrap it in.

use crate::clock::{Entropy, OsEntropy};
use crate::domain::code::{UNAMBIGUOUS, random_string};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Missing, ill-typed or malformed input; the text is stable and names
    /// the field, never its value.
    InvalidRequest(&'static str),
    /// A field the route does not take, or one given twice (the name is
    /// said only when it is a plain identifier, never a value).
    InvalidField(FieldProblem),
    InvalidMobile,
    MobileNotAllowed,
    /// A valid number of a line type the client does not text (a landline,
    /// a toll-free or premium-rate number, …).
    MobileNotTextable,
    /// Not 13 digits with a valid check digit.
    InvalidIdCard,
    /// The directory has no user with this mobile number.
    UserNotFound,
    /// The user exists but the ID card number is not theirs.
    IdCardMismatch,
    SenderNotRegistered,
    /// A message text that is not one of the client's registered templates.
    TemplateNotRegistered,
    /// Unknown client, wrong secret, or disabled client.
    InvalidClient,
    /// Too soon after the last code for this phone.
    Cooldown {
        retry_after_secs: u64,
    },
    /// A rate limit (per phone, IP or client, or wrong codes per phone) is
    /// spent until the end of its window.
    RateLimited {
        retry_after_secs: u64,
    },
    /// SNS refused the message, or did not answer in time; the challenge
    /// is dead, the cooldown holds: a new code can be asked for when it
    /// ends.
    SmsFailed {
        retry_after_secs: u64,
    },
    /// Writes kept losing conflicts with concurrent ones (DESIGN §7) after
    /// every retry; nothing was changed. Worth trying again shortly.
    Busy {
        retry_after_secs: u64,
    },
    /// Wrong code; attempts remain.
    OtpInvalid,
    /// Unknown, replaced, expired or already used challenge.
    OtpExpired,
    /// The attempt limit is spent; the challenge is dead even for the right code.
    OtpAttemptsExceeded,
    /// Refresh token unknown, expired, revoked, reused or another client's.
    InvalidGrant,
    UnsupportedGrantType,
    /// Revocation of a token kind this service cannot revoke (access tokens).
    UnsupportedTokenType,
    RouteNotFound,
    MethodNotAllowed,
    /// Anything unexpected: the caller sees only the opaque id; the log line
    /// under the same id says which dependency failed and how.
    Internal(Incident),
    /// An internal failure while signing the access token.
    SigningFailed(Incident),
    /// An internal failure while storing the refresh token.
    RefreshTokenFailed(Incident),
}

/// What is wrong with a request's field, named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldProblem {
    /// Not a field of the route: a typo fails loudly. `None` when the name
    /// is not a plain identifier, which is then not repeated back.
    Unknown(Option<String>),
    /// Given twice: parsers disagree on which copy wins.
    Repeated(&'static str),
}

/// An unexpected failure, identified by an opaque id shared by the log line
/// and the response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    pub id: String,
}

impl Error {
    /// Logs `what` (a dependency and an error code, never a message that could
    /// carry user data) under a fresh id and returns the opaque error.
    pub fn internal(what: &str, detail: &str) -> Self {
        let id = random_string(&OsEntropy as &dyn Entropy, UNAMBIGUOUS, 12);
        tracing::error!(error_id = %id, what, detail, "internal error");
        Error::Internal(Incident { id })
    }

    /// Names an internal failure as one of signing.
    pub fn into_signing_failure(self) -> Self {
        match self {
            Error::Internal(incident) => Error::SigningFailed(incident),
            other => other,
        }
    }

    /// Names an internal failure as one of storing the refresh token.
    pub fn into_refresh_failure(self) -> Self {
        match self {
            Error::Internal(incident) => Error::RefreshTokenFailed(incident),
            other => other,
        }
    }

    /// The opaque id of an internal failure.
    pub fn incident(&self) -> Option<&Incident> {
        match self {
            Error::Internal(i) | Error::SigningFailed(i) | Error::RefreshTokenFailed(i) => Some(i),
            _ => None,
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            Error::InvalidRequest(_)
            | Error::InvalidField(_)
            | Error::InvalidMobile
            | Error::MobileNotAllowed
            | Error::MobileNotTextable
            | Error::InvalidIdCard
            | Error::SenderNotRegistered
            | Error::TemplateNotRegistered
            | Error::OtpInvalid
            | Error::OtpExpired
            | Error::OtpAttemptsExceeded
            | Error::InvalidGrant
            | Error::UnsupportedGrantType
            | Error::UnsupportedTokenType => 400,
            Error::InvalidClient => 401,
            Error::RouteNotFound | Error::UserNotFound | Error::IdCardMismatch => 404,
            Error::MethodNotAllowed => 405,
            Error::Cooldown { .. } | Error::RateLimited { .. } => 429,
            Error::Internal(_) | Error::SigningFailed(_) | Error::RefreshTokenFailed(_) => 500,
            Error::SmsFailed { .. } | Error::Busy { .. } => 503,
        }
    }

    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidRequest(_) | Error::InvalidField(_) => "invalid_request",
            Error::InvalidMobile => "invalid_mobile_no",
            Error::MobileNotAllowed => "mobile_no_not_allowed",
            Error::MobileNotTextable => "mobile_no_not_textable",
            Error::InvalidIdCard => "invalid_id_card_num",
            Error::UserNotFound => "user_not_found",
            Error::IdCardMismatch => "id_card_num_mismatch",
            Error::SenderNotRegistered => "sms_sender_not_registered",
            Error::TemplateNotRegistered => "template_not_registered",
            Error::InvalidClient => "invalid_client",
            Error::Cooldown { .. } | Error::RateLimited { .. } => "rate_limited",
            Error::SmsFailed { .. } => "sms_failed",
            Error::Busy { .. } => "temporarily_unavailable",
            Error::OtpInvalid => "otp_invalid",
            Error::OtpExpired => "otp_expired",
            Error::OtpAttemptsExceeded => "otp_attempts_exceeded",
            Error::InvalidGrant => "invalid_grant",
            Error::UnsupportedGrantType => "unsupported_grant_type",
            Error::UnsupportedTokenType => "unsupported_token_type",
            Error::RouteNotFound => "not_found",
            Error::MethodNotAllowed => "method_not_allowed",
            Error::Internal(_) | Error::SigningFailed(_) | Error::RefreshTokenFailed(_) => {
                "internal_error"
            }
        }
    }

    /// Stable human-readable text.
    pub fn message(&self) -> String {
        match self {
            Error::InvalidRequest(what) => (*what).to_string(),
            Error::InvalidField(FieldProblem::Unknown(Some(name))) => {
                format!("request has an unknown field: {name}")
            }
            Error::InvalidField(FieldProblem::Unknown(None)) => {
                "request has an unknown field".into()
            }
            Error::InvalidField(FieldProblem::Repeated(name)) => {
                format!("{name} appears more than once")
            }
            Error::InvalidMobile => "mobile_no is not a valid phone number".into(),
            Error::MobileNotAllowed => {
                "mobile_no is in a country this client does not serve".into()
            }
            Error::MobileNotTextable => {
                "mobile_no cannot receive this client's SMS: it is not a mobile number".into()
            }
            Error::SenderNotRegistered => "sms_sender is not registered for this client".into(),
            Error::TemplateNotRegistered => {
                "message is not a template registered for this client".into()
            }
            Error::InvalidClient => "client authentication failed".into(),
            Error::RateLimited { retry_after_secs } => {
                format!("too many requests, please try again in {retry_after_secs} seconds")
            }
            Error::Cooldown { retry_after_secs } => {
                format!("please wait {retry_after_secs} seconds before requesting another code")
            }
            Error::SmsFailed { .. } => "the SMS could not be sent, please try again later".into(),
            Error::Busy { retry_after_secs } => {
                format!("the service is busy, please try again in {retry_after_secs} seconds")
            }
            Error::OtpInvalid => "otp invalid".into(),
            Error::OtpExpired => "otp expired or already used, please request a new code".into(),
            Error::OtpAttemptsExceeded => "too many wrong codes, please request a new code".into(),
            Error::InvalidGrant => "the refresh token is invalid, expired or revoked".into(),
            Error::UnsupportedGrantType => "only grant_type=refresh_token is supported".into(),
            Error::UnsupportedTokenType => {
                "access tokens expire on their own; revoke the refresh token instead".into()
            }
            Error::RouteNotFound => "no such route".into(),
            Error::MethodNotAllowed => "method not allowed on this route".into(),
            Error::InvalidIdCard => "id_card_num must be 13 digits with a valid check digit".into(),
            Error::UserNotFound => "user mobile not found".into(),
            Error::IdCardMismatch => "id_card_num mismatch".into(),
            Error::Internal(incident)
            | Error::SigningFailed(incident)
            | Error::RefreshTokenFailed(incident) => {
                format!("Internal Server Error (error id {})", incident.id)
            }
        }
    }

    /// Seconds for a `Retry-After` header, where one applies.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Error::Cooldown { retry_after_secs }
            | Error::RateLimited { retry_after_secs }
            | Error::SmsFailed { retry_after_secs }
            | Error::Busy { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        }
    }
}

impl From<crate::domain::phone::PhoneError> for Error {
    fn from(error: crate::domain::phone::PhoneError) -> Self {
        use crate::domain::phone::PhoneError;
        match error {
            PhoneError::Invalid => Error::InvalidMobile,
            PhoneError::CallingCodeNotAllowed => Error::MobileNotAllowed,
            PhoneError::NotTextable { .. } => Error::MobileNotTextable,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

impl std::error::Error for Error {}

/// One error of every kind, for tests that hold each dialect's wording of
/// every error to the API document.
#[cfg(test)]
pub(crate) fn every_kind() -> Vec<Error> {
    let incident = || Incident { id: "ID".into() };
    let every = vec![
        Error::InvalidRequest("x is required"),
        Error::InvalidField(FieldProblem::Unknown(Some("mobile".into()))),
        Error::InvalidField(FieldProblem::Repeated("mobile_no")),
        Error::InvalidMobile,
        Error::MobileNotAllowed,
        Error::MobileNotTextable,
        Error::InvalidIdCard,
        Error::UserNotFound,
        Error::IdCardMismatch,
        Error::SenderNotRegistered,
        Error::TemplateNotRegistered,
        Error::InvalidClient,
        Error::Cooldown {
            retry_after_secs: 1,
        },
        Error::RateLimited {
            retry_after_secs: 1,
        },
        Error::SmsFailed {
            retry_after_secs: 1,
        },
        Error::Busy {
            retry_after_secs: 1,
        },
        Error::OtpInvalid,
        Error::OtpExpired,
        Error::OtpAttemptsExceeded,
        Error::InvalidGrant,
        Error::UnsupportedGrantType,
        Error::UnsupportedTokenType,
        Error::RouteNotFound,
        Error::MethodNotAllowed,
        Error::Internal(incident()),
        Error::SigningFailed(incident()),
        Error::RefreshTokenFailed(incident()),
    ];
    // A new kind of error fails to compile here until it is listed above.
    for error in &every {
        match error {
            Error::InvalidRequest(_)
            | Error::InvalidField(_)
            | Error::InvalidMobile
            | Error::MobileNotAllowed
            | Error::MobileNotTextable
            | Error::InvalidIdCard
            | Error::UserNotFound
            | Error::IdCardMismatch
            | Error::SenderNotRegistered
            | Error::TemplateNotRegistered
            | Error::InvalidClient
            | Error::Cooldown { .. }
            | Error::RateLimited { .. }
            | Error::SmsFailed { .. }
            | Error::Busy { .. }
            | Error::OtpInvalid
            | Error::OtpExpired
            | Error::OtpAttemptsExceeded
            | Error::InvalidGrant
            | Error::UnsupportedGrantType
            | Error::UnsupportedTokenType
            | Error::RouteNotFound
            | Error::MethodNotAllowed
            | Error::Internal(_)
            | Error::SigningFailed(_)
            | Error::RefreshTokenFailed(_) => {}
        }
    }
    every
}
