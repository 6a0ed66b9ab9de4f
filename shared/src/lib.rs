//! The OTP login service: domain rules, ports with their AWS and in-memory
//! adapters, and the HTTP dialects the three Lambda functions speak.
//!
//! - [`domain`]: pure rules (codes, phones, hashing, challenges); clock and
//!   randomness are passed in.
//! - [`store`], [`sms`], [`signer`]: the ports, each with an AWS adapter and an
//!   in-memory adapter of the same semantics.
//! - [`service`]: the use cases, one call per user action.
//! - [`delivery`]: the providers' delivery reports, read from each source's
//!   events.
//! - [`metrics`]: what they count, as CloudWatch Embedded Metric Format lines.
//! - [`http`]: routing, the wire dialects, and the single error-to-HTTP mapping.
//! - `aws` (with the `aws` feature): the Lambda deployment over the AWS
//!   adapters; without it nothing of the AWS SDK is built (the local server).

#[cfg(feature = "aws")]
pub mod aws;
pub mod clock;
pub mod config;
pub mod delivery;
pub mod domain;
pub mod error;
pub mod http;
pub mod logging;
pub mod metrics;
#[cfg(feature = "aws")]
pub mod sdk;
pub mod service;
pub mod signer;
pub mod sms;
pub mod store;

pub use error::Error;
pub use service::App;
