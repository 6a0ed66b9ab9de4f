//! The SMS port: SNS in AWS, an outbox that prints in local mode.

mod outbox;
#[cfg(feature = "aws")]
mod sns;

pub use outbox::{Outbox, OutboxEntry};
#[cfg(feature = "aws")]
pub use sns::SnsSender;

use async_trait::async_trait;
use std::fmt;

/// One text to one phone. `Debug` hides the text and the code.
#[derive(Clone)]
pub struct SmsMessage {
    /// E.164 number.
    pub to: String,
    pub text: String,
    pub sender_id: Option<String>,
    /// The code inside `text`, kept apart only for the local outbox.
    pub code: String,
}

impl fmt::Debug for SmsMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmsMessage")
            .field("sender_id", &self.sender_id)
            .finish_non_exhaustive()
    }
}

/// The SMS was not accepted; the adapter has logged why (without the number
/// or the text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmsRefused;

#[async_trait]
pub trait SmsSender: Send + Sync {
    async fn send(&self, message: &SmsMessage) -> Result<(), SmsRefused>;
}
