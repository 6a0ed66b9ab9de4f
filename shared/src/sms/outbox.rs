use super::{SmsMessage, SmsRefused, SmsSender};
use crate::clock::{Clock, rfc3339_utc};
use async_trait::async_trait;
use serde::Serialize;
use std::sync::{Arc, Mutex};

/// A sent message as the local outbox lists it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OutboxEntry {
    pub to: String,
    pub message: String,
    pub sender_id: Option<String>,
    pub sent_at: String,
    /// Local mode only: the code, so scripts need not parse the text.
    pub code: String,
}

/// Keeps every message in memory, newest last; optionally prints each as one
/// line.
pub struct Outbox {
    entries: Mutex<Vec<OutboxEntry>>,
    clock: Arc<dyn Clock>,
    print: bool,
}

impl Outbox {
    pub fn new(clock: Arc<dyn Clock>, print: bool) -> Self {
        Self {
            entries: Mutex::default(),
            clock,
            print,
        }
    }

    pub fn entries(&self) -> Vec<OutboxEntry> {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[async_trait]
impl SmsSender for Outbox {
    async fn send(&self, message: &SmsMessage) -> Result<(), SmsRefused> {
        let entry = OutboxEntry {
            to: message.to.clone(),
            message: message.text.clone(),
            sender_id: message.sender_id.clone(),
            sent_at: rfc3339_utc(self.clock.now_ms()),
            code: message.code.clone(),
        };
        if self.print {
            println!(
                "SMS to {} from {}: {}",
                entry.to,
                entry.sender_id.as_deref().unwrap_or("(default)"),
                entry.message
            );
        }
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(entry);
        Ok(())
    }
}
