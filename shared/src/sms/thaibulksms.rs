//! ThaiBulkSMS's SMS API v2 (DESIGN §13): `POST /sms` with HTTP Basic
//! `key:secret`, sent as the vendor's own client (`thaibulksms-api` on npm)
//! sends it: a JSON object of the form's fields. `force=corporate`: the
//! corporate route, not charged for an SMS that is not delivered.

use super::https::{Answer, HttpsClient, Verdict};
use super::{SmsMessage, SmsRefused, SmsSender};
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// The client's ThaiBulkSMS API key, as its secret holds it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThaiBulkSmsSecret {
    api_key: String,
    api_secret: String,
}

impl ThaiBulkSmsSecret {
    /// The `Authorization` header's value.
    pub fn basic_authorization(&self) -> String {
        let pair = format!("{}:{}", self.api_key, self.api_secret);
        format!("Basic {}", STANDARD.encode(pair))
    }
}

pub struct ThaiBulkSms {
    pub http: Arc<HttpsClient>,
    pub url: String,
    pub authorization: String,
    pub callback_url: Option<String>,
    pub budget: Duration,
}

/// The request's fields: the number as digits in international form.
pub fn fields(message: &SmsMessage, callback_url: Option<&str>) -> Value {
    let mut fields = json!({
        "msisdn": message.to.trim_start_matches('+'),
        "message": message.text,
        "sender": message.sender_id,
        "force": "corporate",
    });
    // The client's own receiver if it names one, else the service's,
    // which folds the report into the code's delivery state.
    if let Some(url) = callback_url
        .map(str::to_string)
        .or(message.callback_url("thaibulksms"))
    {
        fields["callback_url"] = json!(url);
    }
    fields
}

/// 2xx with the number in `phone_number_list`: sent. A number in
/// `bad_phone_number_list` was not, although the status is 2xx.
fn judge(answer: &Answer) -> Verdict {
    let body: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    let listed = |list: &str| body[list].as_array().is_some_and(|l| !l.is_empty());
    match answer.status {
        200..=299 if listed("phone_number_list") && !listed("bad_phone_number_list") => {
            Verdict::Taken
        }
        200..=299 if listed("bad_phone_number_list") => {
            Verdict::Refused("the number is in bad_phone_number_list".into())
        }
        200..=299 => Verdict::Refused("no number was sent to".into()),
        status => {
            let error = &body["error"];
            let why = format!("status {status}, error {} {}", error["code"], error["name"]);
            if status == 429 || status >= 500 {
                Verdict::Failed(why)
            } else {
                Verdict::Refused(why)
            }
        }
    }
}

#[async_trait]
impl SmsSender for ThaiBulkSms {
    async fn send(&self, message: &SmsMessage) -> Result<(), SmsRefused> {
        if message.sender_id.is_none() {
            tracing::warn!(
                provider = "thaibulksms",
                "no sender id: ThaiBulkSMS needs one"
            );
            return Err(SmsRefused);
        }
        let body = Bytes::from(fields(message, self.callback_url.as_deref()).to_string());
        let headers = [
            ("content-type", "application/json"),
            ("accept", "application/json"),
            ("authorization", self.authorization.as_str()),
        ];
        // One attempt: the API knows no id for a send, so a retry after an
        // answer lost on the way could text the code twice.
        self.http
            .send(
                "thaibulksms",
                &self.url,
                &headers,
                body,
                self.budget,
                1,
                judge,
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: Value) -> Answer {
        Answer {
            status,
            body: Bytes::from(body.to_string()),
        }
    }

    #[test]
    fn a_number_in_the_bad_list_was_not_sent_although_the_status_is_2xx() {
        let sent = json!({"phone_number_list": [{"number": "66812345678", "message_id": "m1", "used_credit": 1}], "bad_phone_number_list": []});
        let bad = json!({"phone_number_list": [], "bad_phone_number_list": [{"number": "6681234", "message": "Invalid phone number"}]});
        assert_eq!(judge(&answer(201, sent)), Verdict::Taken);
        assert!(matches!(judge(&answer(201, bad)), Verdict::Refused(_)));
        assert!(matches!(
            judge(&answer(200, json!({}))),
            Verdict::Refused(_)
        ));
        let error =
            json!({"error": {"code": 401, "name": "ERROR_UNAUTHORIZED", "description": "x"}});
        assert!(matches!(judge(&answer(401, error)), Verdict::Refused(_)));
        assert!(matches!(judge(&answer(503, json!({}))), Verdict::Failed(_)));
    }
}
