//! What the providers report of the SMS they took (DESIGN §13.3), read from
//! the events that reach `delivery-events`: SNS's SMS delivery-status logs,
//! through a CloudWatch Logs subscription, and End User Messaging's events,
//! through its configuration set's SNS topic, and the providers that call a
//! URL of the service's own ([`callback`]). Each source's shape is read in
//! its own module into [`Report`]s; the service folds them into the
//! challenges' delivery records (`App::record_reports`).

pub mod callback;
mod eum_event;
mod sns_log;

use crate::clock::Millis;
use crate::domain::delivery::DeliveryEvent;
use serde_json::Value;

/// Which challenge a report is of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// Named by the ticket the SMS was sent with (`callback::Ticket`), as
    /// the source echoes it: End User Messaging in the send's context, eSMS
    /// and send hooks in the URL they call.
    Sealed { ticket: String },
    /// An SNS publish to a number: SNS's logs carry only the number and the
    /// publish time, so the challenge is the one sent to that number then.
    SnsPublish {
        phone_e164: String,
        published_at_ms: Millis,
    },
}

/// One source's word on one SMS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub subject: Subject,
    pub event: DeliveryEvent,
    /// The provider's id of the SMS, where the source names it.
    pub message_id: Option<String>,
}

/// Why an SMS did not arrive, in the bounded words every source's reasons
/// are read into (metric dimensions and the status's `reason`).
pub mod reason {
    pub const CARRIER_UNREACHABLE: &str = "carrier_unreachable";
    pub const PHONE_UNREACHABLE: &str = "phone_unreachable";
    pub const INVALID_NUMBER: &str = "invalid_number";
    pub const INVALID_MESSAGE: &str = "invalid_message";
    pub const CARRIER_BLOCKED: &str = "carrier_blocked";
    pub const BLOCKED: &str = "blocked";
    pub const SPAM: &str = "spam";
    pub const OPTED_OUT: &str = "opted_out";
    pub const PROTECT_BLOCKED: &str = "protect_blocked";
    pub const TTL_EXPIRED: &str = "ttl_expired";
    pub const MAX_PRICE: &str = "max_price";
    pub const PROVIDER_ERROR: &str = "provider_error";

    /// Every reason, for reading a provider's word into one of them.
    pub const ALL: [&str; 12] = [
        CARRIER_UNREACHABLE,
        PHONE_UNREACHABLE,
        INVALID_NUMBER,
        INVALID_MESSAGE,
        CARRIER_BLOCKED,
        BLOCKED,
        SPAM,
        OPTED_OUT,
        PROTECT_BLOCKED,
        TTL_EXPIRED,
        MAX_PRICE,
        PROVIDER_ERROR,
    ];
}

/// An event of a shape no source has, or a source's event that cannot be
/// read: said in a word, never with its content (it holds phone numbers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable(pub &'static str);

/// The reports in one invocation's event, whichever source sent it: a
/// CloudWatch Logs subscription's (`awslogs`) or SNS's (`Records`). Lines
/// and messages that are not SMS reports (a subscription's control message,
/// an End User Messaging voice event) give none.
pub fn reports_of(event: &Value) -> Result<Vec<Report>, Unreadable> {
    if let Some(data) = event.pointer("/awslogs/data").and_then(Value::as_str) {
        return sns_log::reports_of_subscription(data);
    }
    if let Some(records) = event.get("Records").and_then(Value::as_array) {
        let mut reports = vec![];
        for record in records {
            if record.get("EventSource").and_then(Value::as_str) != Some("aws:sns") {
                return Err(Unreadable("a record that is not SNS's"));
            }
            let message = record
                .pointer("/Sns/Message")
                .and_then(Value::as_str)
                .ok_or(Unreadable("an SNS record without a message"))?;
            reports.extend(eum_event::report_of_message(message)?);
        }
        return Ok(reports);
    }
    Err(Unreadable("an event of no delivery source"))
}
