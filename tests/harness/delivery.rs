//! The delivery sources' events as they reach `delivery-events`, built from
//! the documented examples in `events/delivery/`.

use base64::Engine;
use otp_shared::clock::{Millis, rfc3339_utc};
use serde_json::{Value, json};
use std::io::{Read, Write};

/// SNS's `notification.timestamp`: `YYYY-MM-DD HH:MM:SS.mmm`, UTC.
fn sns_time(ms: Millis) -> String {
    let text = rfc3339_utc(ms).replace('T', " ").replace('Z', "");
    format!("{text}.{:03}", ms.rem_euclid(1000))
}

/// `events/delivery/<name>.json`.
pub fn fixture(name: &str) -> Value {
    let path = format!("{}/events/delivery/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// A subscription's payload as CloudWatch Logs hands it over.
pub fn subscription_event(payload: &Value) -> Value {
    let mut gz = flate2::write::GzEncoder::new(vec![], flate2::Compression::default());
    gz.write_all(payload.to_string().as_bytes()).unwrap();
    let data = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
    json!({"awslogs": {"data": data}})
}

/// The payload of a subscription event: [`subscription_event`] undone.
pub fn subscription_payload(event: &Value) -> Value {
    let data = event["awslogs"]["data"].as_str().expect("awslogs.data");
    let gzipped = base64::engine::general_purpose::STANDARD
        .decode(data)
        .expect("base64");
    let mut json = String::new();
    flate2::read::GzDecoder::new(gzipped.as_slice())
        .read_to_string(&mut json)
        .expect("gzip");
    serde_json::from_str(&json).expect("JSON")
}

/// The subscription event CloudWatch Logs invokes `delivery-events` with,
/// for the log fixture `name` rewritten to a publish to `to` at
/// `published_ms`, with `response` as SNS's `providerResponse` if given.
pub fn sns_logs(name: &str, to: &str, published_ms: Millis, response: Option<&str>) -> Value {
    let mut payload = fixture(name);
    let event = &mut payload["logEvents"][0];
    let mut line: Value = serde_json::from_str(event["message"].as_str().unwrap()).unwrap();
    line["delivery"]["destination"] = json!(to);
    line["notification"]["timestamp"] = json!(sns_time(published_ms));
    if let Some(response) = response {
        line["delivery"]["providerResponse"] = json!(response);
    }
    event["message"] = json!(line.to_string());
    event["timestamp"] = json!(published_ms + 1_500);
    subscription_event(&payload)
}

/// The SNS event End User Messaging's configuration set's topic invokes
/// `delivery-events` with, for `event_type` of the message that was sent
/// with `context`, at `at_ms`; its message id `message_id`, or the
/// fixture's.
pub fn eum_event(
    event_type: &str,
    context: &Value,
    at_ms: Millis,
    message_id: Option<&str>,
) -> Value {
    let mut event = fixture("eum-event");
    let record = &mut event["Records"][0]["Sns"];
    let mut message: Value = serde_json::from_str(record["Message"].as_str().unwrap()).unwrap();
    message["eventType"] = json!(event_type);
    message["eventTimestamp"] = json!(at_ms);
    message["context"] = context.clone();
    if let Some(id) = message_id {
        message["messageId"] = json!(id);
    }
    record["Message"] = json!(message.to_string());
    event
}
