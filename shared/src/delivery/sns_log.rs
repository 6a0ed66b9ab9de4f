//! SNS's SMS delivery-status logs, as a CloudWatch Logs subscription hands
//! them over: base64 of a gzip of `{"messageType", "logGroup",
//! "logEvents": [{"timestamp", "message"}]}`, each message one SMS's log
//! (`{"notification": {"messageId", "timestamp"}, "delivery":
//! {"destination", "providerResponse", …}, "status"}`) from the groups
//! `sns/<region>/<account>/DirectPublishToPhoneNumber[/Failure]`.

use super::{Report, Subject, Unreadable, reason};
use crate::clock::{Millis, parse_utc_date_time};
use crate::domain::delivery::{DeliveryEvent, DeliveryState};
use base64::Engine;
use serde::Deserialize;
use std::io::Read;

/// The most a subscription's payload may inflate to: CloudWatch Logs sends
/// at most 1 MB of log events per call, and a payload that inflates past
/// this is not one.
const MOST_INFLATED: u64 = 8 << 20;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Subscription {
    message_type: String,
    #[serde(default)]
    log_group: String,
    #[serde(default)]
    log_events: Vec<LogEvent>,
}

#[derive(Deserialize)]
struct LogEvent {
    timestamp: Millis,
    message: String,
}

#[derive(Deserialize)]
struct SmsLog {
    notification: Notification,
    delivery: Delivery,
    status: String,
}

#[derive(Deserialize)]
struct Notification {
    timestamp: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Delivery {
    destination: String,
    #[serde(default)]
    provider_response: String,
    /// Present when the handset acknowledged the message.
    dwell_time_ms_until_device_ack: Option<i64>,
}

/// The reports in a subscription's `awslogs.data`.
pub(super) fn reports_of_subscription(data: &str) -> Result<Vec<Report>, Unreadable> {
    let gzipped = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|_| Unreadable("a log subscription's data that is not base64"))?;
    let mut json = vec![];
    flate2::read::GzDecoder::new(gzipped.as_slice())
        .take(MOST_INFLATED)
        .read_to_end(&mut json)
        .map_err(|_| Unreadable("a log subscription's data that is not gzip"))?;
    let subscription: Subscription =
        serde_json::from_slice(&json).map_err(|_| Unreadable("a log subscription's payload"))?;
    // CloudWatch Logs checks a new subscription with a control message.
    if subscription.message_type != "DATA_MESSAGE"
        || !subscription
            .log_group
            .contains("/DirectPublishToPhoneNumber")
    {
        return Ok(vec![]);
    }
    // A line that cannot be read is skipped, not the batch with it.
    let mut skipped = 0;
    let reports = subscription
        .log_events
        .iter()
        .filter_map(|line| {
            report_of_line(&line.message, line.timestamp)
                .map_err(|_| skipped += 1)
                .ok()
        })
        .collect();
    if skipped > 0 {
        tracing::warn!(skipped, "unreadable SNS delivery log lines");
    }
    Ok(reports)
}

/// The report in one delivery-status log line, logged at `logged_at_ms`.
fn report_of_line(message: &str, logged_at_ms: Millis) -> Result<Report, Unreadable> {
    let log: SmsLog =
        serde_json::from_str(message).map_err(|_| Unreadable("an SNS SMS delivery log"))?;
    let published_at_ms = parse_utc_date_time(&log.notification.timestamp)
        .ok_or(Unreadable("an SNS SMS delivery log's timestamp"))?;
    let (state, reason) = match log.status.as_str() {
        // SNS logs a success when the carrier accepted the message; only a
        // handset's acknowledgement says it arrived.
        "SUCCESS" if log.delivery.dwell_time_ms_until_device_ack.is_some() => {
            (DeliveryState::Delivered, None)
        }
        "SUCCESS" => (DeliveryState::Sent, None),
        "FAILURE" => failure_of(&log.delivery.provider_response),
        _ => return Err(Unreadable("an SNS SMS delivery log's status")),
    };
    Ok(Report {
        subject: Subject::SnsPublish {
            phone_e164: log.delivery.destination,
            published_at_ms,
        },
        event: DeliveryEvent {
            state,
            reason: reason.map(str::to_string),
            provider: "sns".into(),
            at_ms: logged_at_ms,
        },
        message_id: None,
    })
}

/// A failure's state and reason, from SNS's `providerResponse` sentences
/// (those its delivery-status documentation lists).
fn failure_of(response: &str) -> (DeliveryState, Option<&'static str>) {
    use DeliveryState::*;
    let response = response.to_ascii_lowercase();
    let says = |words: &str| response.contains(words);
    match () {
        _ if says("opted out") => (Blocked, Some(reason::OPTED_OUT)),
        _ if says("spam") => (Blocked, Some(reason::SPAM)),
        _ if says("carrier has blocked") => (Blocked, Some(reason::CARRIER_BLOCKED)),
        _ if says("blocked") => (Blocked, Some(reason::BLOCKED)),
        _ if says("carrier is currently unreachable") => {
            (Failed, Some(reason::CARRIER_UNREACHABLE))
        }
        _ if says("unreachable") => (Failed, Some(reason::PHONE_UNREACHABLE)),
        _ if says("invalid phone number") || says("phone number is invalid") => {
            (Failed, Some(reason::INVALID_NUMBER))
        }
        _ if says("message body is invalid") => (Failed, Some(reason::INVALID_MESSAGE)),
        _ if says("max price") => (Failed, Some(reason::MAX_PRICE)),
        _ if says("ttl") || says("expired") => (Expired, Some(reason::TTL_EXPIRED)),
        _ if says("unknown error") => (Unknown, None),
        _ => (Failed, Some(reason::PROVIDER_ERROR)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_documented_failure_response_reads_into_its_state() {
        for (response, state, why) in [
            (
                "Phone carrier has blocked this message",
                DeliveryState::Blocked,
                Some("carrier_blocked"),
            ),
            (
                "Phone is currently unreachable/unavailable",
                DeliveryState::Failed,
                Some("phone_unreachable"),
            ),
            (
                "Phone carrier is currently unreachable/unavailable",
                DeliveryState::Failed,
                Some("carrier_unreachable"),
            ),
            (
                "Phone number is opted out",
                DeliveryState::Blocked,
                Some("opted_out"),
            ),
            (
                "Blocked as spam by phone carrier",
                DeliveryState::Blocked,
                Some("spam"),
            ),
            (
                "Invalid phone number",
                DeliveryState::Failed,
                Some("invalid_number"),
            ),
            (
                "Message body is invalid",
                DeliveryState::Failed,
                Some("invalid_message"),
            ),
            (
                "This delivery would exceed max price",
                DeliveryState::Failed,
                Some("max_price"),
            ),
            (
                "Unknown error attempting to reach phone",
                DeliveryState::Unknown,
                None,
            ),
            (
                "Something new",
                DeliveryState::Failed,
                Some("provider_error"),
            ),
        ] {
            assert_eq!(failure_of(response), (state, why), "{response}");
        }
    }

    #[test]
    fn a_log_line_names_the_number_and_the_publish_time() {
        let line = r#"{"notification":{"messageId":"34d9","timestamp":"2016-06-28 00:40:34.558"},
            "delivery":{"destination":"+14255550100","providerResponse":"Message has been accepted by phone carrier",
            "dwellTimeMs":599,"dwellTimeMsUntilDeviceAck":1344},"status":"SUCCESS"}"#;
        let report = report_of_line(line, 7).unwrap();
        assert_eq!(
            report.subject,
            Subject::SnsPublish {
                phone_e164: "+14255550100".into(),
                published_at_ms: 1_467_074_434_558
            }
        );
        assert_eq!(report.event.state, DeliveryState::Delivered);
        assert!(report_of_line("{}", 7).is_err());
    }
}
