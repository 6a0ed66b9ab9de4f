//! eSMS conformance: GENCODE and CHECKCODE as eSMS documents them (GET with a
//! query string) replayed through the real handlers against DynamoDB Local.
//! Every answer is HTTP 200 with `CodeResult` a JSON string from eSMS's own
//! table and `CountRegenerate` a JSON number. Expected bodies are written out
//! in full; the only values taken from elsewhere are the code and the
//! reference, read from the SMS the test's outbox received.

use otp_integration_tests::{
    Answer, CLIENT_SECRET, RefusingSms, TestApp, api_get, call, dynamo_store,
};
use otp_shared::domain::client::{ClientRecord, ClientSettings};
use otp_shared::http::Function;
use otp_shared::sms::SmsSender;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

const API_KEY: &str = "esms-app";
const BRAND: &str = "Baotrixemay";
const TEMPLATE: &str = "{OTP} la ma xac minh dang ky Baotrixemay cua ban (ma {REF})";
const PHONE: &str = "0901888484";

async fn app_with(sms: Option<Arc<dyn SmsSender>>) -> TestApp {
    let t = TestApp::over(Arc::new(dynamo_store().await), sms).await;
    let settings = ClientSettings {
        brand: BRAND.into(),
        sender_ids: vec![BRAND.into()],
        templates: BTreeMap::from([("vi".into(), TEMPLATE.into())]),
        default_locale: "vi".into(),
        default_calling_code: Some("84".into()),
        allowed_calling_codes: vec!["84".into()],
        // Its apps ask for up to 10 minutes (`TimeAlive`); no request may
        // make a code outlive the client's lifetime.
        lifetime_secs: Some(600),
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

/// GENCODE's parameters as eSMS's documentation spells them.
fn gencode_params() -> Vec<(String, String)> {
    [
        ("Phone", PHONE),
        ("ApiKey", API_KEY),
        ("SecretKey", CLIENT_SECRET),
        ("TimeAlive", "5"),
        ("NumCharOfCode", "6"),
        ("Brandname", BRAND),
        ("Type", "2"),
        ("message", TEMPLATE),
        ("IsNumber", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// `params` with `name` (matched in any case) set to `value`, or added.
fn with(mut params: Vec<(String, String)>, name: &str, value: &str) -> Vec<(String, String)> {
    match params
        .iter_mut()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
    {
        Some(param) => param.1 = value.to_string(),
        None => params.push((name.to_string(), value.to_string())),
    }
    params
}

fn without(mut params: Vec<(String, String)>, name: &str) -> Vec<(String, String)> {
    params.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    params
}

fn query(params: &[(String, String)]) -> String {
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
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

async fn gencode(t: &TestApp, params: &[(String, String)]) -> Answer {
    let request = api_get("esms-gencode-get", &query(params));
    let answer = call(&t.app, Function::RequestOtp, request).await;
    t.assert_tells_nothing(&answer, None);
    answer
}

fn check_params(code: &str) -> Vec<(String, String)> {
    [
        ("ApiKey", API_KEY),
        ("SecretKey", CLIENT_SECRET),
        ("Phone", PHONE),
        ("Code", code),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

async fn check_with(t: &TestApp, params: &[(String, String)]) -> Answer {
    let request = api_get("esms-check-get", &query(params));
    let answer = call(&t.app, Function::ConfirmOtp, request).await;
    // eSMS's CHECKCODE answer names the phone it was given, as eSMS does.
    let phone = params.iter().find(|(k, _)| k.eq_ignore_ascii_case("phone"));
    t.assert_tells_nothing(&answer, phone.map(|(_, v)| v.as_str()));
    answer
}

async fn check(t: &TestApp, code: &str) -> Answer {
    check_with(t, &check_params(code)).await
}

/// HTTP 200 and exactly `expected`.
fn assert_answer(answer: &Answer, expected: Value) {
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body, expected, "{answer:?}");
}

/// A GENCODE or CHECKCODE refusal without a checked phone.
fn refusal(code: &str, message: &str) -> Value {
    json!({"CodeResult": code, "CountRegenerate": 0, "ErrorMessage": message})
}

/// A CHECKCODE refusal of the code for `PHONE`: never the code itself.
fn code_invalid(state: &str) -> Value {
    json!({
        "CodeResult": "117",
        "CountRegenerate": 0,
        "ErrorMessage": format!("{PHONE}, Content: Code Invalid"),
        "Content": state,
    })
}

/// The reference in an SMS of [`TEMPLATE`], `(ma XXXXXX)`.
fn ref_in(message: &str) -> String {
    let start = message.find("(ma ").expect("the template names the ref") + "(ma ".len();
    message[start..].split(')').next().unwrap().to_string()
}

/// GENCODE answered 100 with the SMS's reference as `SMSID`.
fn assert_sent(t: &TestApp, answer: &Answer) {
    let sms = t.last_sms();
    let expected =
        json!({"CodeResult": "100", "CountRegenerate": 0, "SMSID": ref_in(&sms.message)});
    assert_answer(answer, expected);
}

#[tokio::test]
async fn gencode_sends_the_registered_template_and_answers_100_with_the_smsid() {
    let t = app().await;
    let answer = gencode(&t, &gencode_params()).await;
    assert_sent(&t, &answer);
    let sms = t.last_sms();
    assert_eq!(sms.to, "+84901888484");
    assert_eq!(sms.sender_id.as_deref(), Some(BRAND));
    let expected_text = TEMPLATE
        .replace("{OTP}", &sms.code)
        .replace("{REF}", &ref_in(&sms.message));
    assert_eq!(sms.message, expected_text);
    assert!(sms.code.len() == 6 && sms.code.bytes().all(|b| b.is_ascii_digit()));
}

#[tokio::test]
async fn parameter_names_match_in_any_case_and_extras_are_ignored() {
    let t = app().await;
    let spellings: [fn(&str) -> String; 3] = [
        str::to_lowercase,
        str::to_uppercase,
        // `Message` with a capital M, as one deployed client sends it.
        |name| {
            let mut chars = name.chars();
            chars.next().map_or(String::new(), |c| {
                c.to_uppercase()
                    .chain(chars.map(|c| c.to_ascii_lowercase()))
                    .collect()
            })
        },
    ];
    for (n, spell) in spellings.into_iter().enumerate() {
        let phone = format!("090188849{n}");
        let params: Vec<_> = with(gencode_params(), "Phone", &phone)
            .into_iter()
            .map(|(k, v)| (spell(&k), v))
            .chain([
                ("SmsType".to_string(), "2".to_string()),
                ("Sandbox".to_string(), "0".to_string()),
            ])
            .collect();
        assert_sent(&t, &gencode(&t, &params).await);
        let code = t.last_sms().code;
        let checked = check_with(
            &t,
            &with(check_params(&code), "Phone", &phone)
                .into_iter()
                .map(|(k, v)| (spell(&k), v))
                .collect::<Vec<_>>(),
        )
        .await;
        assert_eq!(checked.body["CodeResult"], "100", "{checked:?}");
    }
    let twice = [
        gencode_params(),
        vec![("phone".to_string(), "0901888499".to_string())],
    ]
    .concat();
    assert_answer(
        &gencode(&t, &twice).await,
        refusal("147", "Invalid parameter"),
    );
}

#[tokio::test]
async fn checkcode_answers_success_with_the_phone_then_117_once_used() {
    let t = app().await;
    gencode(&t, &gencode_params()).await;
    let code = t.last_sms().code;
    assert_answer(
        &check(&t, &code).await,
        json!({
            "CodeResult": "100",
            "CountRegenerate": 0,
            "ErrorMessage": format!("{PHONE}, Content: Success!"),
            "Content": "Success",
        }),
    );
    assert_answer(&check(&t, &code).await, code_invalid("Expired or used"));
}

/// DESIGN §5.12: a request may make a code shorter-lived, never longer
/// than the client's own lifetime.
#[tokio::test]
async fn timealive_never_outlives_the_clients_codes() {
    let t = app().await;
    let five_minutes = ClientSettings {
        lifetime_secs: Some(300),
        ..t.store.client(API_KEY).await.unwrap().unwrap().settings
    };
    t.store
        .put_client(&ClientRecord::new("esms-5min", CLIENT_SECRET, five_minutes))
        .await
        .unwrap();
    let params = with(
        with(gencode_params(), "TimeAlive", "10"),
        "ApiKey",
        "esms-5min",
    );
    assert_sent(&t, &gencode(&t, &params).await);
    let code = t.last_sms().code;
    t.clock.advance_secs(300);
    let late = check_with(&t, &with(check_params(&code), "ApiKey", "esms-5min")).await;
    assert_eq!(late.body["CodeResult"], "117", "{late:?}");
}

#[tokio::test]
async fn timealive_above_ten_minutes_is_shortened_to_ten() {
    let t = app().await;
    for (n, minutes) in ["45", "10"].into_iter().enumerate() {
        let phone = format!("090188848{n}");
        let params = with(
            with(gencode_params(), "TimeAlive", minutes),
            "Phone",
            &phone,
        );
        assert_sent(&t, &gencode(&t, &params).await);
    }
    let sent = t.outbox.entries();
    t.clock.advance_secs(599);
    let alive = check_with(
        &t,
        &with(check_params(&sent[0].code), "Phone", "0901888480"),
    )
    .await;
    assert_eq!(alive.body["CodeResult"], "100", "{alive:?}");
    t.clock.advance_secs(1);
    let dead = check_with(
        &t,
        &with(check_params(&sent[1].code), "Phone", "0901888481"),
    )
    .await;
    assert_eq!(dead.body["CodeResult"], "117", "{dead:?}");
}

#[tokio::test]
async fn code_length_charset_and_two_minute_lifetime_are_honoured() {
    let t = app().await;
    let params = with(
        with(
            with(gencode_params(), "TimeAlive", "2"),
            "NumCharOfCode",
            "8",
        ),
        "IsNumber",
        "0",
    );
    assert_sent(&t, &gencode(&t, &params).await);
    let code = t.last_sms().code;
    assert_eq!(code.len(), 8);
    assert!(
        code.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    );
    t.clock.advance_secs(120);
    assert_answer(&check(&t, &code).await, code_invalid("Expired or used"));
}

#[tokio::test]
async fn gencode_refusals_use_esms_codes() {
    let t = app().await;
    let p = gencode_params;
    let cases = [
        (with(p(), "SecretKey", "wrong"), "101", "Authorize Failed"),
        (
            with(p(), "Brandname", "SomeoneElse"),
            "104",
            "Brand name code is not exist",
        ),
        (
            with(p(), "message", "{OTP} transfer approved, call 0900"),
            "146",
            "Wrong customer care template",
        ),
        (
            with(p(), "message", "la ma xac minh"),
            "146",
            "Wrong customer care template",
        ),
        (with(p(), "Type", "1"), "118", "Unsupported message type"),
        (with(p(), "TimeAlive", "1"), "147", "Invalid parameter"),
        (with(p(), "TimeAlive", "five"), "147", "Invalid parameter"),
        (with(p(), "NumCharOfCode", "3"), "147", "Invalid parameter"),
        (with(p(), "NumCharOfCode", "11"), "147", "Invalid parameter"),
        (with(p(), "IsNumber", "2"), "147", "Invalid parameter"),
        (without(p(), "Phone"), "147", "Invalid parameter"),
        (without(p(), "message"), "147", "Invalid parameter"),
        (
            with(p(), "Phone", "09018"),
            "108",
            "Phone number is not in correct format",
        ),
        (
            with(p(), "Phone", "66812345678"),
            "99",
            "The phone number is blocked in the system",
        ),
    ];
    for (params, code, message) in cases {
        assert_answer(&gencode(&t, &params).await, refusal(code, message));
    }
    assert!(t.outbox.entries().is_empty());
    assert_sent(&t, &gencode(&t, &p()).await);
    let again = gencode(&t, &p()).await;
    assert_answer(&again, refusal("160", "TPS exceeded"));
    assert_eq!(again.header("retry-after"), Some("60"));
}

#[tokio::test]
async fn gencode_answers_150_when_the_sms_cannot_be_sent() {
    let t = app_with(Some(Arc::new(RefusingSms::default()))).await;
    assert_answer(
        &gencode(&t, &gencode_params()).await,
        refusal("150", "The SMS could not be sent"),
    );
}

#[tokio::test]
async fn checkcode_refusals_use_esms_codes_and_never_echo_the_code() {
    let t = app().await;
    assert_answer(&check(&t, "123456").await, code_invalid("Expired or used"));
    gencode(&t, &gencode_params()).await;
    let code = t.last_sms().code;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..4 {
        assert_answer(&check(&t, wrong).await, code_invalid("Wrong code"));
    }
    assert_answer(&check(&t, wrong).await, code_invalid("Locked"));
    assert_answer(&check(&t, &code).await, code_invalid("Locked"));
    let bad_key = with(check_params(&code), "SecretKey", "wrong");
    assert_answer(
        &check_with(&t, &bad_key).await,
        refusal("101", "Authorize Failed"),
    );
    let bad_phone = with(check_params(&code), "Phone", "09018");
    assert_answer(
        &check_with(&t, &bad_phone).await,
        refusal("108", "Phone number is not in correct format"),
    );
}
