//! How a command failed, said as an operator needs it: a plain sentence and
//! an exit code that tells the kinds apart, so a script can react (retry
//! when throttled, stop when denied).

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use otp_shared::sdk;
use std::process::ExitCode;

/// Why a command did not do what it was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Bad arguments or input: checked before anything is asked of AWS.
    Input(String),
    /// No region, or no credentials, to reach AWS with.
    Setup(String),
    /// The table or the client does not exist.
    NotFound(String),
    /// AWS refused the credentials or the action.
    Denied(String),
    /// AWS throttled the call or did not answer: nothing was changed by
    /// it; try again shortly.
    Busy(String),
    /// Anything else.
    Failed(String),
}

/// The exit codes, for `--help`.
pub const EXIT_CODES: &str = "Exit codes: 0 done; 1 failed; 2 bad arguments or input \
(nothing was asked of AWS); 3 no region or no credentials; 4 the table or the client \
does not exist; 5 access denied; 6 throttled or unavailable (try again)";

impl Failure {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Failure::Failed(_) => 1,
            Failure::Input(_) => 2,
            Failure::Setup(_) => 3,
            Failure::NotFound(_) => 4,
            Failure::Denied(_) => 5,
            Failure::Busy(_) => 6,
        })
    }

    pub fn message(&self) -> &str {
        match self {
            Failure::Input(m)
            | Failure::Setup(m)
            | Failure::NotFound(m)
            | Failure::Denied(m)
            | Failure::Busy(m)
            | Failure::Failed(m) => m,
        }
    }

    /// What `err`, the failure of a call about `what`, means to the
    /// operator: the service's error code decides, as the functions'
    /// adapters read it (`otp_shared::sdk`).
    pub fn of_call<E: ProvideErrorMetadata, R>(what: &str, err: &SdkError<E, R>) -> Self {
        let code = sdk::detail(err);
        match sdk::failure(err) {
            sdk::Failure::NotApplied => {
                Failure::Busy(format!("{what}: throttled ({code}); try again shortly"))
            }
            sdk::Failure::Unknown => Failure::Busy(format!(
                "{what}: AWS did not answer ({code}); try again shortly"
            )),
            sdk::Failure::Final if code == "ResourceNotFoundException" => {
                Failure::NotFound(format!("{what} does not exist"))
            }
            // IAM's message names the principal and the action it lacks.
            sdk::Failure::Final if is_denial(code) => Failure::Denied(format!(
                "{what}: access denied ({code}): {}",
                match err {
                    SdkError::ServiceError(service) => service.err().message().unwrap_or_default(),
                    _ => "",
                }
            )),
            sdk::Failure::Final => Failure::Failed(format!("{what}: {code}")),
        }
    }
}

/// Error codes with which AWS refuses who is asking, or what they may do.
fn is_denial(code: &str) -> bool {
    code.starts_with("AccessDenied")
        || matches!(
            code,
            "UnrecognizedClientException"
                | "InvalidSignatureException"
                | "ExpiredTokenException"
                | "InvalidClientTokenId"
                | "MissingAuthenticationTokenException"
                | "IncompleteSignature"
        )
}

/// A failure of the shared store or service: `Busy` is a throttled or
/// unavailable dependency; anything else was logged on the line above
/// with its AWS error code.
impl From<otp_shared::Error> for Failure {
    fn from(error: otp_shared::Error) -> Self {
        match error {
            otp_shared::Error::Busy { .. } => Failure::Busy(
                "DynamoDB throttled the call or did not answer; try again shortly".into(),
            ),
            otp_shared::Error::Internal(incident) => Failure::Failed(format!(
                "an AWS call failed; its error code is on the line above (error id {})",
                incident.id
            )),
            other => Failure::Failed(other.to_string()),
        }
    }
}

/// Settings and input refused by the checks the service itself applies.
impl From<String> for Failure {
    fn from(reason: String) -> Self {
        Failure::Input(reason)
    }
}

impl From<&str> for Failure {
    fn from(reason: &str) -> Self {
        Failure::Input(reason.to_string())
    }
}
