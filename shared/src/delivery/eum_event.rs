//! End User Messaging's SMS events, as its configuration set's event
//! destination publishes them to SNS: one JSON object per message, whose
//! `context` echoes what `SendTextMessage` was given (`sms::eum` sends the
//! SMS's sealed ticket, which alone names its code: anyone who may publish
//! to the topic could write any challenge's or client's name).

use super::{Report, Subject, Unreadable, reason};
use crate::domain::delivery::{DeliveryEvent, DeliveryState};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EumEvent {
    event_type: String,
    event_timestamp: i64,
    /// What `PutMessageFeedback` names the SMS by.
    message_id: Option<String>,
    #[serde(default)]
    context: Context,
}

#[derive(Deserialize, Default)]
struct Context {
    ticket: Option<String>,
}

/// The report in one SNS message of the event destination; none for an
/// event that is not of an SMS this service sent (a voice or registration
/// event, another sender's message on the same configuration set) or that
/// tells nothing (`TEXT_ALL` is a filter, not an event).
pub(super) fn report_of_message(message: &str) -> Result<Option<Report>, Unreadable> {
    let event: EumEvent =
        serde_json::from_str(message).map_err(|_| Unreadable("an End User Messaging event"))?;
    let Some(ticket) = event.context.ticket else {
        return Ok(None);
    };
    let Some((state, reason)) = state_of(&event.event_type) else {
        return Ok(None);
    };
    Ok(Some(Report {
        subject: Subject::Sealed { ticket },
        event: DeliveryEvent {
            state,
            reason: reason.map(str::to_string),
            provider: "eum".into(),
            at_ms: event.event_timestamp,
        },
        // As End User Messaging's API defines a message id; anything else
        // is kept from the record and from AWS.
        message_id: event.message_id.filter(|id| {
            (1..=64).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_:/-".contains(&b))
        }),
    }))
}

/// The state (and reason) of an SMS event type, as the service's event
/// types page describes each.
fn state_of(event_type: &str) -> Option<(DeliveryState, Option<&'static str>)> {
    use DeliveryState::*;
    Some(match event_type {
        "TEXT_QUEUED" | "TEXT_PENDING" => (Submitted, None),
        // Accepted by the recipient's carrier; in some countries the only
        // receipt there is, which a confirm then turns into `converted`.
        "TEXT_SUCCESSFUL" => (Sent, None),
        "TEXT_DELIVERED" => (Delivered, None),
        "TEXT_BLOCKED" => (Blocked, Some(reason::BLOCKED)),
        "TEXT_CARRIER_BLOCKED" => (Blocked, Some(reason::CARRIER_BLOCKED)),
        "TEXT_SPAM" => (Blocked, Some(reason::SPAM)),
        "TEXT_OPTED_OUT" => (Blocked, Some(reason::OPTED_OUT)),
        "TEXT_PROTECT_BLOCKED" => (Blocked, Some(reason::PROTECT_BLOCKED)),
        "TEXT_TTL_EXPIRED" => (Expired, Some(reason::TTL_EXPIRED)),
        "TEXT_CARRIER_UNREACHABLE" => (Failed, Some(reason::CARRIER_UNREACHABLE)),
        "TEXT_UNREACHABLE" => (Failed, Some(reason::PHONE_UNREACHABLE)),
        "TEXT_INVALID" => (Failed, Some(reason::INVALID_NUMBER)),
        "TEXT_INVALID_MESSAGE" => (Failed, Some(reason::INVALID_MESSAGE)),
        "TEXT_UNKNOWN" => (Unknown, None),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(event_type: &str, context: &str) -> String {
        format!(
            r#"{{"eventType":"{event_type}","eventVersion":"1.0","eventTimestamp":1686975103470,
               "isFinal":true,"messageId":"862a8790","messageStatus":"X","context":{context}}}"#
        )
    }

    #[test]
    fn every_sms_event_type_reads_into_a_state_and_others_into_none() {
        let ours = r#"{"challenge":"ch_1","client":"app","ticket":"sealed"}"#;
        let report = report_of_message(&message("TEXT_CARRIER_UNREACHABLE", ours))
            .unwrap()
            .unwrap();
        assert_eq!(
            report.subject,
            Subject::Sealed {
                ticket: "sealed".into()
            }
        );
        assert_eq!(report.event.state, DeliveryState::Failed);
        assert_eq!(report.event.reason.as_deref(), Some("carrier_unreachable"));
        assert_eq!(report.event.at_ms, 1_686_975_103_470);
        assert_eq!(report.message_id.as_deref(), Some("862a8790"));
        let odd_id = message("TEXT_DELIVERED", ours).replace("862a8790", "a b");
        assert_eq!(
            report_of_message(&odd_id).unwrap().unwrap().message_id,
            None
        );
        assert_eq!(
            report_of_message(&message("VOICE_COMPLETED", ours)).unwrap(),
            None
        );
        assert_eq!(
            report_of_message(&message(
                "TEXT_DELIVERED",
                r#"{"challenge":"ch_1","client":"app"}"#
            ))
            .unwrap(),
            None,
            "another sender's message on the same configuration set, however it names itself"
        );
        assert!(report_of_message("not json").is_err());
    }
}
