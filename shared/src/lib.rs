//! The OTP login service: domain rules, ports with their AWS and in-memory
//! adapters, and the HTTP dialects the three Lambda functions speak.
//!
//! - [`domain`]: pure rules (codes, phones, hashing, challenges); clock and
//!   randomness are passed in.
//! - [`store`], [`sms`], [`signer`]: the ports, each with an AWS adapter and an
//!   in-memory adapter of the same semantics.
//! - [`service`]: the use cases, one call per user action.
//! - [`metrics`]: what they count, as CloudWatch Embedded Metric Format lines.
//! - [`http`]: routing, the wire dialects, and the single error-to-HTTP mapping.

pub mod aws;
pub mod clock;
pub mod config;
pub mod domain;
pub mod error;
pub mod http;
pub mod logging;
pub mod metrics;
mod sdk;
pub mod service;
pub mod signer;
pub mod sms;
pub mod store;

pub use error::Error;
pub use service::App;
