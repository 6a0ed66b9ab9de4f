//! The test client's code requests and confirms in every dialect, as API
//! Gateway events in any encoding the dialect takes, and how each dialect
//! says it succeeded: for tests that go through all dialects alike.

use crate::{Answer, CLIENT_ID, CLIENT_SECRET, SENDER_ID, TestApp, api_event, test_settings};
use otp_shared::App;
use otp_shared::http::Function;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Native,
    OneId,
    ThaiBulkSmsV1,
    ThaiBulkSmsV2,
    Esms,
}

pub const DIALECTS: [Dialect; 5] = [
    Dialect::Native,
    Dialect::OneId,
    Dialect::ThaiBulkSmsV1,
    Dialect::ThaiBulkSmsV2,
    Dialect::Esms,
];

/// How a request carries its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Json,
    Form,
    Query,
}

/// The ID card number the One ID requests give.
pub const ID_CARD: &str = "1234567890121";

fn fields(pairs: &[(&str, &Value)]) -> Vec<(String, Value)> {
    pairs
        .iter()
        .map(|(name, value)| (name.to_string(), (*value).clone()))
        .collect()
}

impl Dialect {
    pub fn request_event(self) -> &'static str {
        match self {
            Dialect::Native => "request-otp",
            Dialect::OneId => "oneid-request",
            Dialect::ThaiBulkSmsV1 => "thaibulksms-v1-request",
            Dialect::ThaiBulkSmsV2 => "thaibulksms-request",
            Dialect::Esms => "esms-gencode-get",
        }
    }

    pub fn confirm_event(self) -> &'static str {
        match self {
            Dialect::Native => "confirm-otp",
            Dialect::OneId => "oneid-confirm",
            Dialect::ThaiBulkSmsV1 => "thaibulksms-v1-verify",
            Dialect::ThaiBulkSmsV2 => "thaibulksms-verify",
            Dialect::Esms => "esms-check-get",
        }
    }

    /// The name of the phone number's field.
    pub fn phone_field(self) -> &'static str {
        match self {
            Dialect::Native | Dialect::OneId => "mobile_no",
            Dialect::ThaiBulkSmsV1 | Dialect::ThaiBulkSmsV2 => "msisdn",
            Dialect::Esms => "Phone",
        }
    }

    /// The test client's valid code request for `phone`, in the dialect's
    /// own names and order.
    pub fn code_request(self, phone: &str) -> Vec<(String, Value)> {
        let (id, secret, phone) = (json!(CLIENT_ID), json!(CLIENT_SECRET), json!(phone));
        match self {
            Dialect::Native => fields(&[
                ("client_id", &id),
                ("client_secret", &secret),
                ("mobile_no", &phone),
            ]),
            Dialect::OneId => fields(&[
                ("client_id", &id),
                ("client_secret", &secret),
                ("mobile_no", &phone),
                ("id_card_num", &json!(ID_CARD)),
                ("sms_sender", &json!(SENDER_ID)),
            ]),
            Dialect::ThaiBulkSmsV1 | Dialect::ThaiBulkSmsV2 => {
                fields(&[("key", &id), ("secret", &secret), ("msisdn", &phone)])
            }
            Dialect::Esms => fields(&[
                ("Phone", &phone),
                ("ApiKey", &id),
                ("SecretKey", &secret),
                ("Brandname", &json!(SENDER_ID)),
                ("Type", &json!("2")),
                ("message", &json!(test_settings().templates["en"])),
            ]),
        }
    }

    /// The test client's confirm of `otp` for the challenge the answer
    /// `sent` names (by its token, its ref, or for eSMS the phone).
    pub fn confirm(self, sent: &Value, phone: &str, otp: &str) -> Vec<(String, Value)> {
        let (id, secret, otp) = (json!(CLIENT_ID), json!(CLIENT_SECRET), json!(otp));
        let data = &sent["data"];
        match self {
            Dialect::Native => fields(&[
                ("client_id", &id),
                ("client_secret", &secret),
                ("token", &data["token"]),
                ("otp", &otp),
            ]),
            Dialect::OneId => fields(&[
                ("client_id", &id),
                ("client_secret", &secret),
                ("mobile_no", &json!(phone)),
                ("ref_code", &data["ref_code"]),
                ("otp", &otp),
            ]),
            Dialect::ThaiBulkSmsV1 => fields(&[
                ("key", &id),
                ("secret", &secret),
                ("token", &data["token"]),
                ("pin", &otp),
            ]),
            Dialect::ThaiBulkSmsV2 => fields(&[
                ("key", &id),
                ("secret", &secret),
                ("token", &sent["token"]),
                ("pin", &otp),
            ]),
            Dialect::Esms => fields(&[
                ("ApiKey", &id),
                ("SecretKey", &secret),
                ("Phone", &json!(phone)),
                ("Code", &otp),
            ]),
        }
    }

    /// Whether the answer says the call succeeded, in the dialect's words.
    pub fn succeeded(self, answer: &Answer) -> bool {
        answer.status == 200
            && match self {
                Dialect::Native | Dialect::OneId => answer.body["result"] == "Success",
                Dialect::ThaiBulkSmsV1 => answer.body["data"]["status"] == "success",
                Dialect::ThaiBulkSmsV2 => answer.body["status"] == "success",
                Dialect::Esms => answer.body["CodeResult"] == "100",
            }
    }

    /// Whether the answer is the dialect's "try again shortly" (DESIGN §7):
    /// its own 503 (eSMS: TPS exceeded), with `Retry-After`.
    pub fn busy(self, answer: &Answer) -> bool {
        let said = match self {
            Dialect::Native => answer.body["error"] == "temporarily_unavailable",
            Dialect::OneId => answer.body["errorMessage"] == "Service Unavailable",
            Dialect::ThaiBulkSmsV1 => answer.body["error"]["message"] == "Please try again later.",
            Dialect::ThaiBulkSmsV2 => answer.body["message"] == "Please try again later.",
            Dialect::Esms => answer.body["CodeResult"] == "160",
        };
        answer.status == 503 && said && answer.header("retry-after").is_some()
    }

    /// Whether the answer is the dialect's "the SMS could not be sent", with
    /// `Retry-After` where the status is 503.
    pub fn sms_failed(self, answer: &Answer) -> bool {
        let (status, said) = match self {
            Dialect::Native => (503, answer.error() == "sms_failed"),
            Dialect::OneId => (
                400,
                answer.body["errorMessage"]
                    == "sent otp fail please wait about 1 minute before request OTP again",
            ),
            Dialect::ThaiBulkSmsV1 => (
                503,
                answer.body["error"]["message"] == "The OTP could not be sent.",
            ),
            Dialect::ThaiBulkSmsV2 => (503, answer.body["message"] == "The OTP could not be sent."),
            Dialect::Esms => (200, answer.body["CodeResult"] == "150"),
        };
        answer.status == status && said && (status != 503 || answer.header("retry-after").is_some())
    }

    /// The event `name` carrying `fields` in `encoding`; eSMS's routes take
    /// only a query string.
    pub fn event(self, name: &str, fields: &[(String, Value)], encoding: Encoding) -> Value {
        let encoding = match self {
            Dialect::Esms => Encoding::Query,
            _ => encoding,
        };
        match encoding {
            Encoding::Query => {
                let mut event = api_event(name, Some(""), None);
                event["rawQueryString"] = json!(form(fields));
                let object = event.as_object_mut().unwrap();
                object.remove("queryStringParameters");
                object.remove("body");
                event
            }
            Encoding::Json => {
                // A name given twice stays twice, as a client could send it.
                let members: Vec<String> = fields
                    .iter()
                    .map(|(k, v)| format!("{}:{v}", json!(k)))
                    .collect();
                let body = format!("{{{}}}", members.join(","));
                api_event(name, Some(&body), Some("application/json"))
            }
            Encoding::Form => api_event(
                name,
                Some(&form(fields)),
                Some("application/x-www-form-urlencoded"),
            ),
        }
    }

    /// Requests a code to `phone` as JSON (eSMS: its query string).
    pub async fn request(self, t: &TestApp, phone: &str) -> Answer {
        let event = self.event(
            self.request_event(),
            &self.code_request(phone),
            Encoding::Json,
        );
        t.call_event(Function::RequestOtp, event).await
    }

    /// [`Self::request`] to `app`, as the Lambda wiring builds it.
    pub async fn request_on(self, app: &App, phone: &str) -> Answer {
        let event = self.event(
            self.request_event(),
            &self.code_request(phone),
            Encoding::Json,
        );
        crate::call(app, Function::RequestOtp, crate::request_of(event)).await
    }

    /// [`Self::confirm_code`] at `app`, as the Lambda wiring builds it.
    pub async fn confirm_on(self, app: &App, sent: &Value, phone: &str, otp: &str) -> Answer {
        let fields = self.confirm(sent, phone, otp);
        let event = self.event(self.confirm_event(), &fields, Encoding::Json);
        crate::call(app, Function::ConfirmOtp, crate::request_of(event)).await
    }

    /// Confirms `otp` for the challenge `sent` names, as JSON (eSMS: its
    /// query string).
    pub async fn confirm_code(self, t: &TestApp, sent: &Value, phone: &str, otp: &str) -> Answer {
        let fields = self.confirm(sent, phone, otp);
        let event = self.event(self.confirm_event(), &fields, Encoding::Json);
        let answer = crate::call(&t.app, Function::ConfirmOtp, crate::request_of(event)).await;
        // eSMS's CHECKCODE answer names the phone it was given.
        let echo = (self == Dialect::Esms).then_some(phone);
        t.assert_tells_nothing(&answer, echo);
        answer
    }
}

/// Percent-encoding of everything but letters and digits.
pub fn percent_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `fields` form-urlencoded; values that are not strings as their JSON.
pub fn form(fields: &[(String, Value)]) -> String {
    fields
        .iter()
        .map(|(k, v)| {
            let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            format!("{}={}", percent_encoded(k), percent_encoded(&text))
        })
        .collect::<Vec<_>>()
        .join("&")
}
