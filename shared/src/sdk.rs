//! What the AWS adapters share about SDK calls: how long they may take, what
//! a failure says about whether it was applied, and its reduction to safe
//! log text. It sits beneath the adapters, which import it, and the
//! composition root (`aws`), which builds them.

use crate::Error;
use crate::config::Timeouts;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

/// The SDK's timeouts for one call of at most two attempts: connecting and
/// each attempt within [`Timeouts::attempt`], the call within
/// [`Timeouts::operation`].
pub fn timeout_config(timeouts: &Timeouts) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(timeouts.attempt())
        .operation_attempt_timeout(timeouts.attempt())
        .operation_timeout(timeouts.operation())
        .build()
}

/// The SDK's retries for the calls it may repeat (SNS, KMS, Secrets
/// Manager): one retry, which the timeouts leave room for. DynamoDB's
/// clients retry nothing themselves: the store decides what it may send
/// again (`store::dynamo::writes`).
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(2)
}

/// What a failed call says about whether it took effect, and so whether it
/// may be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Refused before anything was applied (throttled, or in conflict with
    /// a transaction in flight): sending it again is always safe.
    NotApplied,
    /// Its fate is unknown (the attempt timed out, the connection broke,
    /// the service failed inside): sending it again is safe only for a
    /// request that does the same when applied twice.
    Unknown,
    /// An answer (a failed condition, a bad request, missing permission):
    /// sending it again would get the same.
    Final,
}

/// Error codes with which AWS services throttle, across DynamoDB, SNS, KMS
/// and Secrets Manager.
const THROTTLED: [&str; 7] = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    // A retried transaction whose first try, under the same token, still
    // runs: sending it again completes it.
    "TransactionInProgressException",
];

/// How `err` failed, as far as sending it again goes.
pub fn failure<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Failure {
    match err {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or_default();
            if THROTTLED.contains(&code) || code == "TransactionConflictException" {
                Failure::NotApplied
            } else if matches!(
                code,
                "InternalServerError"
                    | "InternalFailure"
                    | "InternalError"
                    | "ServiceUnavailable"
                    | "KMSInternalException"
                    | "InternalServiceError"
            ) {
                Failure::Unknown
            } else {
                Failure::Final
            }
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            Failure::Unknown
        }
        _ => Failure::Final,
    }
}

/// The log text of `err`: the service's error code or the kind of failure,
/// never the service's message, which can quote request data such as phone
/// numbers.
pub fn detail<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> &str {
    match err {
        SdkError::ServiceError(service) => service.err().code().unwrap_or("unknown service error"),
        SdkError::TimeoutError(_) => "timeout",
        SdkError::DispatchFailure(_) => "dispatch failure",
        SdkError::ResponseError(_) => "unparseable response",
        SdkError::ConstructionFailure(_) => "request construction failure",
        _ => "unknown sdk failure",
    }
}

/// A call that did not succeed, as the service's error: a throttled,
/// stalled or failing dependency is `Busy` (503 + `Retry-After`: worth
/// trying again shortly), anything else an opaque internal error. Only the
/// operation and [`detail`] are logged.
pub fn sdk_failure<E: ProvideErrorMetadata, R>(operation: &str, err: &SdkError<E, R>) -> Error {
    match failure(err) {
        Failure::NotApplied | Failure::Unknown => unavailable(operation, detail(err)),
        Failure::Final => Error::internal(operation, detail(err)),
    }
}

/// A dependency that did not answer in time, or throttled: logged, and
/// answered `Busy`.
pub fn unavailable(operation: &str, detail: &str) -> Error {
    tracing::warn!(operation, detail, "a dependency is unavailable");
    Error::Busy {
        retry_after_secs: 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::error::ErrorMetadata;
    use aws_sdk_dynamodb::operation::update_item::UpdateItemError;

    fn service_error(code: &str) -> SdkError<UpdateItemError, ()> {
        let meta = ErrorMetadata::builder().code(code).build();
        SdkError::service_error(UpdateItemError::generic(meta), ())
    }

    #[test]
    fn throttling_and_conflicts_were_not_applied_and_may_be_sent_again() {
        for code in THROTTLED.iter().chain(&["TransactionConflictException"]) {
            assert_eq!(failure(&service_error(code)), Failure::NotApplied, "{code}");
            assert!(matches!(
                sdk_failure("op", &service_error(code)),
                Error::Busy { .. }
            ));
        }
    }

    #[test]
    fn a_service_failing_inside_or_a_timeout_has_an_unknown_outcome() {
        assert_eq!(
            failure(&service_error("InternalServerError")),
            Failure::Unknown
        );
        let timeout: SdkError<UpdateItemError, ()> = SdkError::timeout_error("attempt timed out");
        assert_eq!(failure(&timeout), Failure::Unknown);
        assert!(matches!(sdk_failure("op", &timeout), Error::Busy { .. }));
    }

    #[test]
    fn any_other_failure_is_final_and_internal() {
        for code in [
            "ValidationException",
            "AccessDeniedException",
            "ResourceNotFoundException",
        ] {
            assert_eq!(failure(&service_error(code)), Failure::Final, "{code}");
            assert!(matches!(
                sdk_failure("op", &service_error(code)),
                Error::Internal(_)
            ));
        }
    }
}
