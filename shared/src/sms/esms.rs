//! eSMS.vn's customer-care (brandname) SMS (DESIGN §13):
//! `SendMultipleMessage_V4_post_json` with `SmsType` 2. The text must match
//! a template registered for the brandname. `RequestId` is the challenge's
//! id: eSMS answers `124` for one it has seen, so a retry never texts twice.

use super::https::{Answer, HttpsClient, Verdict};
use super::{SmsMessage, SmsRefused, SmsSender};
use crate::domain::sms_text::{Encoding, measure};
use async_trait::async_trait;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// The client's eSMS keys, as its secret holds them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EsmsSecret {
    pub api_key: String,
    pub secret_key: String,
}

pub struct Esms {
    pub http: Arc<HttpsClient>,
    pub url: String,
    pub secret: EsmsSecret,
    pub callback_url: Option<String>,
    pub sandbox: bool,
    pub budget: Duration,
}

/// `CodeResult` values of eSMS's table that are not refusals of this send.
const SENT: &str = "100";
const REQUEST_ID_SEEN: &str = "124";
/// Its TPS limit: worth one more try.
const TOO_FAST: &str = "160";

impl Esms {
    /// The request's body: eSMS's field names, every value a string.
    pub fn body(&self, message: &SmsMessage, brandname: &str) -> Value {
        let unicode = measure(&message.text).0 != Encoding::Gsm7;
        let flag = |on: bool| if on { "1" } else { "0" };
        let mut body = json!({
            "ApiKey": self.secret.api_key,
            "SecretKey": self.secret.secret_key,
            "Phone": message.to.trim_start_matches('+'),
            "Content": message.text,
            "Brandname": brandname,
            "SmsType": "2",
            "IsUnicode": flag(unicode),
            "RequestId": message.challenge_id,
            "Sandbox": flag(self.sandbox),
        });
        // The client's own receiver if it names one, else the service's,
        // which folds the report into the code's delivery state.
        if let Some(url) = self.callback_url.clone().or(message.callback_url("esms")) {
            body["CallbackUrl"] = json!(url);
        }
        body
    }
}

/// eSMS answers 200 and says in `CodeResult` what it did.
pub fn judge(answer: &Answer) -> Verdict {
    if answer.status == 429 || answer.status >= 500 {
        return Verdict::Failed(format!("status {}", answer.status));
    }
    let body: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    let code = body["CodeResult"].as_str().unwrap_or_default();
    match code {
        SENT => Verdict::Taken,
        // A retry of a send it took, whose first answer was lost.
        REQUEST_ID_SEEN => Verdict::Taken,
        TOO_FAST => Verdict::Failed(format!("CodeResult {code}")),
        // eSMS's message may quote the number: only the code is told.
        _ => Verdict::Refused(format!("status {}, CodeResult {code:?}", answer.status)),
    }
}

#[async_trait]
impl SmsSender for Esms {
    async fn send(&self, message: &SmsMessage) -> Result<(), SmsRefused> {
        let Some(brandname) = &message.sender_id else {
            tracing::warn!(
                provider = "esms",
                "no sender id: eSMS sends under a brandname"
            );
            return Err(SmsRefused);
        };
        let body = Bytes::from(self.body(message, brandname).to_string());
        let headers = [("content-type", "application/json")];
        self.http
            .send("esms", &self.url, &headers, body, self.budget, 2, judge)
            .await
    }
}
