//! eSMS conformance: GENCODE and CHECKCODE replayed through the real handlers
//! against DynamoDB Local, as GET with a query string and as POST with JSON,
//! every outcome answered with its CodeResult.

use otp_integration_tests::{
    Answer, CLIENT_SECRET, RefusingSms, TestApp, api_get, api_request, call, dynamo_store,
};
use otp_shared::domain::client::{ClientRecord, ClientSettings};
use otp_shared::http::Function;
use otp_shared::sms::SmsSender;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

const API_KEY: &str = "esms-app";
const BRAND: &str = "Baotrixemay";
const TEMPLATE: &str = "{OTP} la ma xac minh dang ky Baotrixemay cua ban";
const PHONE: &str = "0901888484";

async fn app_with(sms: Option<Arc<dyn SmsSender>>) -> TestApp {
    let t = TestApp::over(Arc::new(dynamo_store().await), sms).await;
    let settings = ClientSettings {
        brand: BRAND.into(),
        sender_ids: vec![BRAND.into()],
        templates: BTreeMap::from([("vi".into(), TEMPLATE.into())]),
        default_locale: "vi".into(),
        default_calling_code: "84".into(),
        allowed_calling_codes: vec!["84".into()],
        ..ClientSettings::default()
    };
    t.store
        .put_client(&ClientRecord::new(API_KEY, CLIENT_SECRET, settings))
        .await
        .unwrap();
    t
}

async fn app() -> TestApp {
    app_with(None).await
}

fn gencode_params() -> Value {
    json!({
        "Phone": PHONE, "ApiKey": API_KEY, "SecretKey": CLIENT_SECRET, "TimeAlive": "5",
        "NumCharOfCode": "6", "Brandname": BRAND, "Type": "2", "message": TEMPLATE, "IsNumber": "1",
    })
}

fn query(params: &Value) -> String {
    let encode = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    params
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                encode(v.as_str().map_or(v.to_string(), str::to_string).as_str())
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

async fn gencode_get(t: &TestApp, params: &Value) -> Answer {
    call(
        &t.app,
        Function::RequestOtp,
        api_get("esms-gencode-get", &query(params)),
    )
    .await
}

async fn gencode_post(t: &TestApp, params: &Value) -> Answer {
    let request = api_request(
        "esms-gencode-post",
        Some(&params.to_string()),
        Some("application/json"),
    );
    call(&t.app, Function::RequestOtp, request).await
}

async fn check_get(t: &TestApp, code: &str) -> Answer {
    let params =
        json!({"ApiKey": API_KEY, "SecretKey": CLIENT_SECRET, "Phone": PHONE, "Code": code});
    call(
        &t.app,
        Function::ConfirmOtp,
        api_get("esms-check-get", &query(&params)),
    )
    .await
}

async fn check_post(t: &TestApp, code: &str) -> Answer {
    let params =
        json!({"ApiKey": API_KEY, "SecretKey": CLIENT_SECRET, "Phone": PHONE, "Code": code});
    let request = api_request(
        "esms-check-post",
        Some(&params.to_string()),
        Some("application/json"),
    );
    call(&t.app, Function::ConfirmOtp, request).await
}

fn with(mut params: Value, name: &str, value: Value) -> Value {
    params[name] = value;
    params
}

fn assert_code(answer: &Answer, code: &str) {
    assert_eq!(answer.body["CodeResult"], code, "{answer:?}");
    assert_eq!(answer.body["CountRegenerate"], 0);
    if code != "100" {
        assert!(
            answer.body["ErrorMessage"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
}

#[tokio::test]
async fn gencode_get_sends_the_registered_template_and_answers_100() {
    let t = app().await;
    let answer = gencode_get(&t, &gencode_params()).await;
    assert_eq!(answer.status, 200);
    let sms = t.last_sms();
    assert_eq!(
        answer.body,
        json!({"CodeResult": "100", "CountRegenerate": 0, "SMSID": answer.body["SMSID"]})
    );
    assert_eq!(sms.to, "+84901888484");
    assert_eq!(sms.sender_id.as_deref(), Some(BRAND));
    assert_eq!(sms.message, TEMPLATE.replace("{OTP}", &sms.code));
    assert!(sms.code.len() == 6 && sms.code.bytes().all(|b| b.is_ascii_digit()));
}

#[tokio::test]
async fn check_get_answers_100_then_expired_or_used() {
    let t = app().await;
    gencode_get(&t, &gencode_params()).await;
    let code = t.last_sms().code;
    let answer = check_get(&t, &code).await;
    assert_eq!(
        answer.body,
        json!({"CodeResult": "100", "CountRegenerate": 0, "Content": "Success"})
    );
    let again = check_get(&t, &code).await;
    assert_code(&again, "161");
    assert_eq!(again.body["Content"], "Expired or used");
}

#[tokio::test]
async fn post_routes_take_json_with_numbers_or_text() {
    let t = app().await;
    let params = with(
        with(
            with(gencode_params(), "TimeAlive", json!(2)),
            "NumCharOfCode",
            json!(8),
        ),
        "IsNumber",
        json!(0),
    );
    assert_code(&gencode_post(&t, &params).await, "100");
    let code = t.last_sms().code;
    assert_eq!(code.len(), 8);
    assert!(
        code.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    );
    // TimeAlive 2: the code dies after two minutes.
    t.clock.advance_secs(120);
    assert_code(&check_post(&t, &code).await, "161");
}

#[tokio::test]
async fn gencode_failures() {
    let t = app().await;
    let p = gencode_params;
    assert_code(
        &gencode_get(&t, &with(p(), "SecretKey", json!("wrong"))).await,
        "101",
    );
    assert_code(
        &gencode_get(&t, &with(p(), "Brandname", json!("SomeoneElse"))).await,
        "104",
    );
    assert_code(
        &gencode_get(
            &t,
            &with(p(), "message", json!("{OTP} transfer approved, call 0900")),
        )
        .await,
        "145",
    );
    assert_code(
        &gencode_get(&t, &with(p(), "message", json!("la ma xac minh"))).await,
        "145",
    );
    for (name, bad) in [
        ("TimeAlive", "1"),
        ("TimeAlive", "11"),
        ("TimeAlive", "five"),
        ("NumCharOfCode", "3"),
        ("NumCharOfCode", "11"),
        ("IsNumber", "2"),
        ("Type", "1"),
    ] {
        assert_code(&gencode_get(&t, &with(p(), name, json!(bad))).await, "146");
    }
    let mut missing = p();
    missing.as_object_mut().unwrap().remove("Phone");
    assert_code(&gencode_get(&t, &missing).await, "146");
    assert_code(
        &gencode_get(&t, &with(p(), "Phone", json!("09018"))).await,
        "147",
    );
    assert_code(
        &gencode_get(&t, &with(p(), "Phone", json!("66812345678"))).await,
        "148",
    );
    assert!(t.outbox.entries().is_empty());
    assert_code(&gencode_get(&t, &p()).await, "100");
    let again = gencode_get(&t, &p()).await;
    assert_code(&again, "149");
    assert_eq!(again.header("retry-after"), Some("60"));
}

#[tokio::test]
async fn gencode_answers_150_when_the_sms_cannot_be_sent() {
    let t = app_with(Some(Arc::new(RefusingSms::default()))).await;
    assert_code(&gencode_get(&t, &gencode_params()).await, "150");
}

#[tokio::test]
async fn checkcode_failures() {
    let t = app().await;
    assert_code(&check_get(&t, "123456").await, "161");
    gencode_get(&t, &gencode_params()).await;
    let code = t.last_sms().code;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..4 {
        let answer = check_get(&t, wrong).await;
        assert_code(&answer, "160");
        assert_eq!(answer.body["Content"], "Wrong code");
    }
    assert_code(&check_get(&t, wrong).await, "162");
    let locked = check_get(&t, &code).await;
    assert_code(&locked, "162");
    assert_eq!(locked.body["Content"], "Locked");
    let params = json!({"ApiKey": API_KEY, "SecretKey": "wrong", "Phone": PHONE, "Code": code});
    let bad_key = call(
        &t.app,
        Function::ConfirmOtp,
        api_get("esms-check-get", &query(&params)),
    )
    .await;
    assert_code(&bad_key, "101");
}
