//! DESIGN §5.3, held to a yardstick nobody here wrote: which numbers get a
//! text is what Google's libphonenumber decides. `make test` writes the
//! corpus with the Python port `phonenumbers` (tests/phone_corpus.py: every
//! region's example number of every type, mutated, about 20,000 numbers)
//! and names it in `OTP_PHONE_CORPUS`; each number goes through the real
//! request handler, for a client that allows every calling code and has the
//! number's region's calling code as its default. It must be texted exactly
//! when libphonenumber calls it valid and of a type that receives SMS, to
//! the E.164 libphonenumber gives, and refused otherwise in the route's own
//! words, with nothing sent.

use otp_integration_tests::{
    CLIENT_ID, CLIENT_SECRET, TestApp, call, json_request, memory_store, test_settings,
};
use otp_shared::domain::client::{ClientRecord, ClientSettings};
use otp_shared::domain::phone::{LineType, plans};
use otp_shared::http::Function;
use otp_shared::sms::{SmsMessage, SmsRefused, SmsSender};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

/// Keeps only the last message's recipient: 20,000 requests would make an
/// outbox slow to read.
#[derive(Default)]
struct LastRecipient(Mutex<Option<String>>);

#[async_trait::async_trait]
impl SmsSender for LastRecipient {
    async fn send(&self, message: &SmsMessage) -> Result<(), SmsRefused> {
        otp_integration_tests::logs::secrets().code(&message.code);
        *self.0.lock().unwrap() = Some(message.to.clone());
        Ok(())
    }
}

fn corpus() -> Value {
    let path = std::env::var("OTP_PHONE_CORPUS").unwrap_or_else(|_| {
        panic!(
            "OTP_PHONE_CORPUS must name the corpus tests/phone_corpus.py writes. \
             Run the tests with `make test`, which writes it."
        )
    });
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).expect("the corpus is JSON")
}

/// A client whose default calling code is `code`, allowing every calling
/// code, with limits no corpus reaches.
fn client_for(code: &str) -> ClientRecord {
    let settings = ClientSettings {
        default_calling_code: Some(code.into()),
        allowed_calling_codes: plans::calling_codes().map(|c| c.to_string()).collect(),
        sends_per_ip_per_minute: 10_000,
        sends_per_client_per_minute: 100_000,
        sends_per_prefix_per_hour: 100_000,
        sms_ceiling_per_hour: 10_000_000,
        ..test_settings()
    };
    ClientRecord::new(&format!("corpus-{code}"), CLIENT_SECRET, settings)
}

#[tokio::test]
async fn rule_5_3_exactly_the_numbers_libphonenumber_calls_valid_mobiles_are_texted() {
    let corpus = corpus();
    assert_eq!(
        corpus["phonenumbers"],
        plans::METADATA_VERSION,
        "the yardstick's metadata is the service's"
    );
    let cases = corpus["cases"].as_array().expect("cases");
    assert!(cases.len() >= 10_000, "{} numbers", cases.len());
    let sms = Arc::new(LastRecipient::default());
    let t = TestApp::over(Arc::new(memory_store()), Some(sms.clone())).await;
    let codes: BTreeSet<&str> = cases
        .iter()
        .map(|c| c["default_calling_code"].as_str().unwrap())
        .collect();
    for code in &codes {
        t.store.put_client(&client_for(code)).await.unwrap();
    }

    let mut disagreements = vec![];
    for case in cases {
        let input = case["input"].as_str().unwrap();
        let expected = case["texted"].as_str();
        // An hour apart: the same number, in its several forms, never meets
        // its cooldown or its hourly limit.
        t.clock.advance_secs(3_601);
        *sms.0.lock().unwrap() = None;
        let code = case["default_calling_code"].as_str().unwrap();
        let body = json!({
            "client_id": format!("corpus-{code}"), "client_secret": CLIENT_SECRET,
            "mobile_no": input,
        });
        let answer = call(
            &t.app,
            Function::RequestOtp,
            json_request("request-otp", &body),
        )
        .await;
        let texted = sms.0.lock().unwrap().clone();
        let agrees = match expected {
            Some(e164) => answer.status == 200 && texted.as_deref() == Some(e164),
            None => {
                answer.status == 400
                    && texted.is_none()
                    && ["invalid_mobile_no", "mobile_no_not_textable"].contains(&answer.error())
            }
        };
        if !agrees {
            disagreements.push(format!(
                "{input:?} (default {code}, {} example, libphonenumber: {}): answered {} {} texting {texted:?}",
                case["example_of"],
                case["why"],
                answer.status,
                answer.error()
            ));
        }
    }
    let agreed = cases.len() - disagreements.len();
    println!(
        "{agreed} of {} numbers decided as libphonenumber {} decides them ({:.2}%)",
        cases.len(),
        plans::METADATA_VERSION,
        100.0 * agreed as f64 / cases.len() as f64
    );
    assert!(
        disagreements.is_empty(),
        "{} disagreements, the first: {:#?}",
        disagreements.len(),
        &disagreements[..disagreements.len().min(20)]
    );
}

/// DESIGN §5.3: a valid number of a type that cannot receive SMS (here a
/// Bangkok landline) is refused before anything is stored or counted, in
/// each dialect's own words, and counted in the metrics by calling code and
/// line type.
#[tokio::test]
async fn rule_5_3_a_landline_is_refused_in_every_dialect_and_counted_by_line_type() {
    use otp_integration_tests::dialects::{DIALECTS, Dialect};
    let t = TestApp::memory().await;
    let landline = "02 123 4567";
    for dialect in DIALECTS {
        let answer = dialect.request(&t, landline).await;
        let said = match dialect {
            Dialect::Native => (answer.status, answer.error().to_string()),
            Dialect::OneId => (answer.status, answer.body["errorMessage"].to_string()),
            Dialect::ThaiBulkSmsV1 => (answer.status, answer.body["error"]["message"].to_string()),
            Dialect::ThaiBulkSmsV2 => (answer.status, answer.body["message"].to_string()),
            Dialect::Esms => (answer.status, answer.body["CodeResult"].to_string()),
        };
        let expected = match dialect {
            Dialect::Native => (400, "mobile_no_not_textable".to_string()),
            Dialect::OneId => (400, "\"invalid request\"".to_string()),
            Dialect::ThaiBulkSmsV1 | Dialect::ThaiBulkSmsV2 => {
                (400, "\"Invalid msisdn.\"".to_string())
            }
            Dialect::Esms => (200, "\"108\"".to_string()),
        };
        assert_eq!(said, expected, "{dialect:?}: {answer:?}");
    }
    assert!(t.outbox.entries().is_empty(), "nothing sent");
    let refused = t
        .metrics
        .lines()
        .into_iter()
        .filter(|line| line.contains("RefusedNotTextable"));
    let refused: Vec<Value> = refused.map(|l| serde_json::from_str(&l).unwrap()).collect();
    assert_eq!(refused.len(), DIALECTS.len());
    for line in refused {
        assert_eq!(
            (&line["CallingCode"], &line["LineType"]),
            (&json!("66"), &json!("FIXED_LINE"))
        );
    }
    // Nothing was counted: once the client texts landlines, the number's
    // five codes an hour at this client are all there.
    let landlines = ClientSettings {
        allowed_line_types: vec![LineType::FixedLine],
        ..test_settings()
    };
    t.store
        .put_client(&ClientRecord::new(CLIENT_ID, CLIENT_SECRET, landlines))
        .await
        .unwrap();
    for send in 0..5 {
        // A minute apart, past the cooldown and the client record's cache.
        t.clock.advance_secs(61);
        let answer = t.request_otp(landline).await;
        assert_eq!(answer.status, 200, "send {send}: {answer:?}");
    }
    assert_eq!(t.last_sms().to, "+6621234567");
}
