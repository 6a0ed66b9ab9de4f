//! What the AWS adapters share about SDK errors: their reduction to safe log
//! text. It sits beneath the adapters, which import it, and the composition
//! root (`aws`), which builds them.

use crate::Error;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

/// An SDK failure as an opaque internal error. Only the operation and the
/// service's error code are logged: service messages can quote request data
/// such as phone numbers.
pub fn sdk_failure<E: ProvideErrorMetadata, R>(operation: &str, err: &SdkError<E, R>) -> Error {
    let detail = match err {
        SdkError::ServiceError(service) => service.err().code().unwrap_or("unknown service error"),
        SdkError::TimeoutError(_) => "timeout",
        SdkError::DispatchFailure(_) => "dispatch failure",
        SdkError::ResponseError(_) => "unparseable response",
        SdkError::ConstructionFailure(_) => "request construction failure",
        _ => "unknown sdk failure",
    };
    Error::internal(operation, detail)
}
