//! DESIGN §13: ThaiBulkSMS and eSMS as a client's SMS providers, through the
//! real request handler in every dialect, against stubs that record what
//! they are sent. The yardsticks are the vendors': ThaiBulkSMS's own npm
//! client sends the same request our adapter sends, field for field; eSMS's
//! documented request fields and its table of result codes, each answered
//! by the stub, with what the user gets for it.

use otp_integration_tests::dialects::{DIALECTS, Dialect};
use otp_integration_tests::hook::{Hook, Received};
use otp_integration_tests::{
    SENDER_ID, TestApp, api_at, call, code_in, memory_store, test_config, test_settings,
    thaibulksms_callback,
};
use otp_shared::domain::client::ClientSettings;
use otp_shared::domain::provider::{EsmsSettings, SmsProvider, ThaiBulkSmsSettings};
use otp_shared::http::Function;
use otp_shared::sms::secrets::MemorySecrets;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const PHONE: &str = "0812345678";
const TBS_ARN: &str = "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:otp/sms-provider/test-app/tbs-AbCdEf";
const ESMS_ARN: &str = "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:otp/sms-provider/test-app/esms-AbCdEf";
const TBS_KEY: &str = "tbs-api-key-0123";
const TBS_SECRET: &str = "tbs-api-secret-4567";
const ESMS_KEY: &str = "ESMS0API0KEY";
const ESMS_SECRET: &str = "ESMS0SECRET0KEY";
const TBS_SENT: &str = r#"{"remaining_credit": 99, "total_use_credit": 1, "credit_type": "corporate", "phone_number_list": [{"number": "66812345678", "message_id": "tbs-1", "used_credit": 1}], "bad_phone_number_list": []}"#;
const ESMS_PATH: &str = "/MainService.svc/json/SendMultipleMessage_V4_post_json/";

async fn app_with(providers: Vec<SmsProvider>) -> TestApp {
    let secrets = HashMap::from([
        (
            TBS_ARN.to_string(),
            json!({"api_key": TBS_KEY, "api_secret": TBS_SECRET}).to_string(),
        ),
        (
            ESMS_ARN.to_string(),
            json!({"api_key": ESMS_KEY, "secret_key": ESMS_SECRET}).to_string(),
        ),
    ]);
    let settings = ClientSettings {
        sms_providers: providers,
        ..test_settings()
    };
    let t = TestApp::with_providers(
        Arc::new(memory_store()),
        None,
        test_config(),
        Arc::new(MemorySecrets::new(secrets)),
    )
    .await;
    t.serve_test_client(settings, PHONE).await;
    t
}

fn thaibulksms(url: String) -> SmsProvider {
    SmsProvider::Thaibulksms(ThaiBulkSmsSettings {
        secret_arn: TBS_ARN.into(),
        callback_url: Some("https://shop.example/otp/delivery".into()),
        url: Some(url),
    })
}

fn esms(url: String, sandbox: bool) -> SmsProvider {
    SmsProvider::Esms(EsmsSettings {
        secret_arn: ESMS_ARN.into(),
        callback_url: Some("https://shop.example/otp/esms".into()),
        sandbox,
        url: Some(url),
    })
}

/// The path of a callback URL the service gave `kind`: on the API's own
/// URL, as the request reached it.
fn callback_path<'u>(url: &'u str, kind: &str) -> &'u str {
    let path = url
        .strip_prefix("https://abc123defg.execute-api.us-east-1.amazonaws.com")
        .expect("the API's own URL, as the request reached it");
    assert!(path.starts_with(&format!("/v1/delivery/{kind}/")), "{path}");
    path
}

#[tokio::test]
async fn thaibulksms_takes_the_code_in_every_dialect() {
    let stub = Hook::start().await;
    for dialect in DIALECTS {
        let t = app_with(vec![thaibulksms(stub.url_of("/sms")), SmsProvider::Sns {}]).await;
        stub.clear();
        stub.answer_with(&[(201, TBS_SENT)]);
        let sent = dialect.request(&t, PHONE).await;
        assert!(dialect.succeeded(&sent), "{dialect:?}: {sent:?}");
        let received = stub.received();
        assert_eq!(received.len(), 1, "{dialect:?}");
        let body = received[0].event();
        assert_eq!(body["msisdn"], "66812345678");
        assert_eq!(body["force"], "corporate");
        assert_eq!(body["sender"], SENDER_ID);
        assert_eq!(
            body["callback_url"], "https://shop.example/otp/delivery",
            "the client's own receiver over the service's"
        );
        assert!(t.outbox.entries().is_empty(), "{dialect:?}: sent twice");
        let code = code_in(body["message"].as_str().unwrap());
        let confirmed = dialect.confirm_code(&t, &sent.body, PHONE, &code).await;
        assert!(dialect.succeeded(&confirmed), "{dialect:?}: {confirmed:?}");
        assert_eq!(
            t.metrics.by_provider("CodesSent", "thaibulksms"),
            1,
            "{dialect:?}"
        );
    }
}

/// ThaiBulkSMS answers 2xx and lists the number as bad: nothing was sent,
/// so the same code goes to the next provider. So do its errors.
#[tokio::test]
async fn a_number_thaibulksms_lists_as_bad_moves_the_same_code_to_the_next_provider() {
    let stub = Hook::start().await;
    let bad = r#"{"remaining_credit": 100, "total_use_credit": 0, "credit_type": "corporate", "phone_number_list": [], "bad_phone_number_list": [{"number": "66812345678", "message": "Invalid phone number"}]}"#;
    let unauthorized = r#"{"error": {"code": 102, "name": "ERROR_INVALID_API_KEY", "description": "Invalid API key or secret."}}"#;
    for (what, answer) in [
        ("a bad number", (201, bad)),
        ("a refusal", (401, unauthorized)),
        ("an outage", (503, "")),
    ] {
        for dialect in [Dialect::Native, Dialect::ThaiBulkSmsV2] {
            let t = app_with(vec![thaibulksms(stub.url_of("/sms")), SmsProvider::Sns {}]).await;
            stub.clear();
            stub.answer_with(&[answer]);
            let sent = dialect.request(&t, PHONE).await;
            assert!(dialect.succeeded(&sent), "{what}: {sent:?}");
            let received = stub.received();
            assert_eq!(received.len(), 1, "{what}: one attempt, no retry");
            let code = code_in(received[0].event()["message"].as_str().unwrap());
            assert_eq!(t.last_sms().code, code, "{what}: the same code");
            let confirmed = dialect.confirm_code(&t, &sent.body, PHONE, &code).await;
            assert!(dialect.succeeded(&confirmed), "{what}: {confirmed:?}");
            assert_eq!(
                t.metrics.by_provider("SmsProviderFailures", "thaibulksms"),
                1
            );
            assert_eq!(t.metrics.by_provider("CodesSent", "sns"), 1);
        }
    }
}

/// The yardstick: ThaiBulkSMS's own client (`thaibulksms-api` on npm) sends
/// one SMS to the stub with the fields our adapter sent; the two requests
/// are the same, method, path, authorization, content type and body.
#[tokio::test]
async fn our_thaibulksms_request_is_the_vendor_clients_field_for_field() {
    let stub = Hook::start().await;
    let t = app_with(vec![thaibulksms(stub.url_of("/sms"))]).await;
    stub.answer_with(&[(201, TBS_SENT)]);
    let sent = Dialect::Native.request(&t, PHONE).await;
    assert!(Dialect::Native.succeeded(&sent), "{sent:?}");
    let ours = stub.received().remove(0);

    stub.clear();
    stub.answer_with(&[(201, TBS_SENT)]);
    let package = format!("{ROOT}/tools/node_modules/thaibulksms-api/package.json");
    assert!(
        std::path::Path::new(&package).exists(),
        "the vendor's client is not installed in tools/node_modules: run the tests with `make test`"
    );
    // Off the runtime, which serves the stub.
    let (api, body) = (stub.url_of(""), ours.event().to_string());
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(format!("{ROOT}/tools/clients/thaibulksms_sms.js"))
            .args([&api, TBS_KEY, TBS_SECRET, &body])
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "the vendor's client: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        report["resolved"]["phone_number_list"][0]["message_id"],
        "tbs-1"
    );
    let vendor = stub.received().remove(0);

    let part = |r: &Received| {
        let content_type = r.headers["content-type"]
            .split(';')
            .next()
            .unwrap()
            .to_string();
        (
            r.method.clone(),
            r.path.clone(),
            r.headers["authorization"].clone(),
            content_type,
        )
    };
    assert_eq!(part(&ours), part(&vendor));
    assert_eq!(ours.event(), vendor.event());
    let fields: Vec<String> = ours.event().as_object().unwrap().keys().cloned().collect();
    eprintln!(
        "thaibulksms yardstick: {} {} {:?}, fields {fields:?}: the same as thaibulksms-api's",
        ours.method,
        ours.path,
        part(&ours).3
    );
}

#[tokio::test]
async fn esms_takes_the_code_in_every_dialect_under_the_challenge_id() {
    let stub = Hook::start().await;
    for dialect in DIALECTS {
        let t = app_with(vec![
            esms(stub.url_of(ESMS_PATH), true),
            SmsProvider::Sns {},
        ])
        .await;
        stub.clear();
        stub.answer_with(&[(
            200,
            r#"{"CodeResult": "100", "CountRegenerate": 0, "SMSID": "e1"}"#,
        )]);
        let sent = dialect.request(&t, PHONE).await;
        assert!(dialect.succeeded(&sent), "{dialect:?}: {sent:?}");
        let received = stub.received();
        assert_eq!(received.len(), 1, "{dialect:?}");
        assert_eq!(received[0].path, ESMS_PATH);
        let body = received[0].event();
        assert_documented_esms_request(&body);
        assert_eq!(body["Sandbox"], "1");
        assert!(t.outbox.entries().is_empty(), "{dialect:?}: sent twice");
        let code = code_in(body["Content"].as_str().unwrap());
        let confirmed = dialect.confirm_code(&t, &sent.body, PHONE, &code).await;
        assert!(dialect.succeeded(&confirmed), "{dialect:?}: {confirmed:?}");
        assert_eq!(t.metrics.by_provider("CodesSent", "esms"), 1, "{dialect:?}");
    }
}

/// eSMS's documented request (its "Send OTP/Customer care message" page):
/// these fields, each a string; `SmsType` 2 under a brandname.
fn assert_documented_esms_request(body: &Value) {
    let documented = [
        "ApiKey",
        "SecretKey",
        "Phone",
        "Content",
        "Brandname",
        "SmsType",
        "IsUnicode",
        "Sandbox",
        "RequestId",
        "CallbackUrl",
        "SendDate",
        "campaignid",
    ];
    for (name, value) in body.as_object().unwrap() {
        assert!(documented.contains(&name.as_str()), "{name} is not eSMS's");
        assert!(value.is_string(), "{name} is not a string");
    }
    assert_eq!(body["ApiKey"], ESMS_KEY);
    assert_eq!(body["SecretKey"], ESMS_SECRET);
    assert_eq!(body["Phone"], "66812345678");
    assert_eq!(body["SmsType"], "2");
    assert_eq!(body["Brandname"], SENDER_ID);
    assert_eq!(body["IsUnicode"], "0", "the test template is GSM-7");
    let id = body["RequestId"].as_str().unwrap();
    assert!(id.starts_with("ch_") && id.len() <= 50, "{id}");
}

/// eSMS's table of result codes, each answered by the stub: what the user
/// gets for each, in the native dialect and eSMS's own. `124` (a RequestId
/// it has seen) means a send it took; a throttle or a 5xx is asked again
/// with the same RequestId; every other code moves the same code on.
#[tokio::test]
async fn each_esms_result_code_gives_the_user_what_the_table_says() {
    let stub = Hook::start().await;
    let said = |code: &str| (200, format!(r#"{{"CodeResult":"{code}"}}"#));
    let failed = |status: u16| (status, String::new());
    // (what eSMS answers, in turn; whether it took the send; its attempts)
    let table = [
        ("100 sent", vec![said("100")], true, 1),
        ("124 RequestId seen", vec![said("124")], true, 1),
        ("99 invalid request", vec![said("99")], false, 1),
        ("101 authorize failed", vec![said("101")], false, 1),
        ("102 account locked", vec![said("102")], false, 1),
        ("103 balance too low", vec![said("103")], false, 1),
        ("104 brandname unknown", vec![said("104")], false, 1),
        ("118 message type", vec![said("118")], false, 1),
        ("131 too long", vec![said("131")], false, 1),
        ("146 no such template", vec![said("146")], false, 1),
        ("160 then 100", vec![said("160"), said("100")], true, 2),
        ("503 then 124", vec![failed(503), said("124")], true, 2),
        ("503 then 502", vec![failed(503), failed(502)], false, 2),
    ];
    for (what, answers, taken, attempts) in &table {
        let (taken, attempts) = (*taken, *attempts);
        for dialect in [Dialect::Native, Dialect::Esms] {
            let t = app_with(vec![
                esms(stub.url_of(ESMS_PATH), false),
                SmsProvider::Sns {},
            ])
            .await;
            stub.clear();
            let answers: Vec<(u16, &str)> = answers.iter().map(|(s, b)| (*s, b.as_str())).collect();
            stub.answer_with(&answers);
            let sent = dialect.request(&t, PHONE).await;
            assert!(dialect.succeeded(&sent), "{what}: {sent:?}");
            let received = stub.received();
            assert_eq!(received.len(), attempts, "{what}");
            let ids: Vec<Value> = received
                .iter()
                .map(|r| r.event()["RequestId"].clone())
                .collect();
            assert!(ids.iter().all(|id| *id == ids[0]), "{what}: one RequestId");
            let code = code_in(received[0].event()["Content"].as_str().unwrap());
            let (by, texts) = if taken {
                ("esms", 0)
            } else {
                assert_eq!(t.last_sms().code, code, "{what}: the same code");
                ("sns", 1)
            };
            assert_eq!(t.outbox.entries().len(), texts, "{what}");
            assert_eq!(t.metrics.by_provider("CodesSent", by), 1, "{what}");
            let confirmed = dialect.confirm_code(&t, &sent.body, PHONE, &code).await;
            assert!(dialect.succeeded(&confirmed), "{what}: {confirmed:?}");
            if dialect == Dialect::Native {
                eprintln!("esms {what}: {attempts} attempt(s), the code sent by {by}");
            }
        }
    }
}

/// When eSMS refuses and nothing else is listed, the user hears that the
/// code could not be sent, in the dialect's own words.
#[tokio::test]
async fn an_esms_refusal_with_no_other_provider_is_the_dialects_sms_failed() {
    let stub = Hook::start().await;
    for dialect in DIALECTS {
        let t = app_with(vec![esms(stub.url_of(ESMS_PATH), false)]).await;
        stub.clear();
        stub.answer_with(&[(
            200,
            r#"{"CodeResult":"146","ErrorMessage":"Wrong customer care template"}"#,
        )]);
        let sent = dialect.request(&t, PHONE).await;
        assert!(dialect.sms_failed(&sent), "{dialect:?}: {sent:?}");
        assert_eq!(t.metrics.by_provider("SmsProviderFailures", "esms"), 1);
    }
}

/// A client record that names another client's secret (one written to the
/// table by other means than otp-admin) never sends it anywhere: the
/// provider is unusable and the code goes to the next.
#[tokio::test]
async fn a_provider_naming_another_clients_secret_never_sends_it() {
    let stub = Hook::start().await;
    let theirs = "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:otp/sms-provider/other-app/esms-AbCdEf";
    let provider = SmsProvider::Esms(EsmsSettings {
        secret_arn: theirs.into(),
        callback_url: None,
        sandbox: false,
        url: Some(stub.url_of(ESMS_PATH)),
    });
    let t = app_with(vec![provider, SmsProvider::Sns {}]).await;
    let sent = Dialect::Native.request(&t, PHONE).await;
    assert!(Dialect::Native.succeeded(&sent), "{sent:?}");
    assert!(
        stub.received().is_empty(),
        "another client's keys were sent"
    );
    assert_eq!(t.metrics.by_provider("SmsProviderFailures", "esms"), 1);
    assert_eq!(t.metrics.by_provider("CodesSent", "sns"), 1);
}

/// DESIGN §13.3: a client without a receiver of its own gives eSMS the
/// service's callback URL for each SMS, on the API's own host; eSMS's
/// documented callback to it (its sample for a customer-care message) marks
/// the code delivered.
#[tokio::test]
async fn esms_is_given_the_services_callback_url_and_its_callback_marks_the_code_delivered() {
    let stub = Hook::start().await;
    let t = app_with(vec![SmsProvider::Esms(EsmsSettings {
        secret_arn: ESMS_ARN.into(),
        callback_url: None,
        sandbox: false,
        url: Some(stub.url_of(ESMS_PATH)),
    })])
    .await;
    stub.answer_with(&[(
        200,
        r#"{"CodeResult": "100", "CountRegenerate": 0, "SMSID": "e1"}"#,
    )]);
    let sent = t.request_otp(PHONE).await;
    assert_eq!(sent.status, 200, "{sent:?}");
    let token = sent.body["data"]["token"].as_str().unwrap().to_string();
    let body = stub.received()[0].event();
    assert_documented_esms_request(&body);
    let url = body["CallbackUrl"]
        .as_str()
        .expect("a CallbackUrl")
        .to_string();
    let path = callback_path(&url, "esms");
    let query = "SMSID=e1&SendFailed=0&SendStatus=5&SendSuccess=1&TotalPrice=0.0000&TotalReceiver=1&TotalSent=1&RequestId=&TypeId=2&telcoid=1&phonenumber=0812345678&switchsmsid=";
    let request = api_at("delivery-esms-callback", path, Some(query), None);
    let answer = call(&t.app, Function::DeliveryEvents, request).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let status = t.status_of(&token).await;
    assert_eq!(status.body["data"]["delivery"], "delivered", "{status:?}");
    assert_eq!(status.body["data"]["provider"], "esms");
}

/// DESIGN §13.3: a client without a receiver of its own gives ThaiBulkSMS
/// the service's `callback_url` for each SMS; ThaiBulkSMS's callback to it,
/// with either method its dashboard offers, marks the code delivered.
#[tokio::test]
async fn thaibulksms_is_given_the_services_callback_url_and_its_callback_marks_the_code_delivered()
{
    let stub = Hook::start().await;
    for (method, fields, content_type) in [
        (
            "GET",
            "message_id=tbs-1&status=delivered&phone=66812345678",
            "",
        ),
        (
            "POST",
            r#"{"message_id":"tbs-1","status":"DELIVERED"}"#,
            "application/json",
        ),
    ] {
        let t = app_with(vec![SmsProvider::Thaibulksms(ThaiBulkSmsSettings {
            secret_arn: TBS_ARN.into(),
            callback_url: None,
            url: Some(stub.url_of("/sms")),
        })])
        .await;
        stub.clear();
        stub.answer_with(&[(201, TBS_SENT)]);
        let sent = t.request_otp(PHONE).await;
        assert_eq!(sent.status, 200, "{sent:?}");
        let token = sent.body["data"]["token"].as_str().unwrap().to_string();
        let url = stub.received()[0].event()["callback_url"]
            .as_str()
            .expect("a callback_url")
            .to_string();
        let path = callback_path(&url, "thaibulksms");
        let request = thaibulksms_callback(path, method, fields, content_type);
        let answer = call(&t.app, Function::DeliveryEvents, request).await;
        assert_eq!(answer.status, 200, "{method}: {answer:?}");
        let status = t.status_of(&token).await;
        assert_eq!(
            status.body["data"]["delivery"], "delivered",
            "{method}: {status:?}"
        );
        assert_eq!(status.body["data"]["provider"], "thaibulksms");
    }
}
