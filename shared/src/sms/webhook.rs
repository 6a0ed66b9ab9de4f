//! The send hook: the code POSTed to the client's own HTTPS endpoint, signed
//! per Standard Webhooks 1.0 (DESIGN §13). A retry carries the same
//! `webhook-id` (the challenge's), so the receiver sends one SMS for it.

use super::https::{HttpsClient, Verdict};
use super::{SmsMessage, SmsRefused, SmsSender};
use crate::clock::rfc3339_utc;
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// A webhook secret as Standard Webhooks writes it: `whsec_` and base64.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSecret {
    signing_secret: String,
}

impl WebhookSecret {
    /// The key the secret's base64 holds; `Err` without it.
    pub fn key(&self) -> Result<Vec<u8>, String> {
        let encoded = self
            .signing_secret
            .strip_prefix("whsec_")
            .ok_or("signing_secret must start with whsec_")?;
        match STANDARD.decode(encoded) {
            Ok(key) if (24..=64).contains(&key.len()) => Ok(key),
            _ => Err("signing_secret must hold 24 to 64 bytes of base64 after whsec_".into()),
        }
    }
}

/// `v1,` and the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`.
pub fn signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    let mut context = aws_lc_rs::hmac::Context::with_key(&key);
    context.update(format!("{id}.{timestamp}.").as_bytes());
    context.update(body);
    format!("v1,{}", STANDARD.encode(context.sign().as_ref()))
}

/// What the hook is sent: the design's `otp.send` event.
pub fn event(message: &SmsMessage) -> serde_json::Value {
    json!({
        "type": "otp.send",
        "challenge_id": message.challenge_id,
        "client_id": message.client_id,
        "phone_e164": message.to,
        "calling_code": message.calling_code,
        "locale": message.locale,
        "code": message.code,
        "ref_code": message.ref_code,
        "expires_at": rfc3339_utc(message.expires_at_ms),
        "message": message.text,
        "sender_id": message.sender_id,
        // Where the receiver may report what became of the SMS (DESIGN
        // §13.3): `POST {"delivery": state, "reason": word}`.
        "delivery_callback_url": message.callback_url("webhook"),
    })
}

pub struct Webhook {
    pub http: Arc<HttpsClient>,
    pub url: String,
    pub key: Vec<u8>,
    /// The clock's time, in seconds, for `webhook-timestamp`.
    pub now_secs: i64,
    /// For both attempts together (the second has the same `webhook-id`).
    pub budget: Duration,
}

#[async_trait]
impl SmsSender for Webhook {
    async fn send(&self, message: &SmsMessage) -> Result<(), SmsRefused> {
        let body = Bytes::from(event(message).to_string());
        let id = message.challenge_id.as_str();
        let timestamp = self.now_secs.to_string();
        let signature = signature(&self.key, id, self.now_secs, &body);
        let headers = [
            ("content-type", "application/json"),
            ("webhook-id", id),
            ("webhook-timestamp", timestamp.as_str()),
            ("webhook-signature", signature.as_str()),
        ];
        self.http
            .send(
                "webhook",
                &self.url,
                &headers,
                body,
                self.budget,
                2,
                |answer| match answer.status {
                    200..=299 => Verdict::Taken,
                    status @ (429 | 500..) => Verdict::Failed(format!("status {status}")),
                    status => Verdict::Refused(format!("status {status}")),
                },
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_what_the_standard_webhooks_library_signs() {
        // Its Python library (`standardwebhooks` 1.1.0) signs this message so;
        // tests/webhook_receiver.py verifies live sends with it too.
        let secret = WebhookSecret {
            signing_secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        };
        let body = br#"{"type":"contact.created","timestamp":"2022-11-03T20:26:10.344522Z","data":{"id":"1f81eb52-5198-4599-803e-771906343485","type":"contact"}}"#;
        assert_eq!(
            signature(
                &secret.key().unwrap(),
                "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
                1674087231,
                body
            ),
            "v1,YCe3BuIUxksPVfqITYD2oHferCByLp7Cx5XKkD3efOA="
        );
    }

    #[test]
    fn a_secret_that_is_not_a_standard_webhooks_secret_is_refused() {
        for text in [
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_not base64",
            "whsec_c2hvcnQ=",
        ] {
            let secret = WebhookSecret {
                signing_secret: text.into(),
            };
            assert!(secret.key().is_err(), "{text}");
        }
    }
}
