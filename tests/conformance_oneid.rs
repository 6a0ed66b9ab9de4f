//! One ID conformance: its "login by mobile and ID card" requests replayed
//! through the real handlers against DynamoDB Local, each outcome answered
//! with One ID's status, envelope and exact error text.

use otp_integration_tests::{
    Answer, CLIENT_ID, CLIENT_SECRET, RefusingSms, SENDER_ID, TestApp, api_request, call,
    dynamo_store, kms_signer, verify_jwt,
};
use otp_shared::http::Function;
use otp_shared::sms::SmsSender;
use otp_shared::store::Store;
use serde_json::{Value, json};
use std::sync::Arc;

const MOBILE: &str = "0812345678";
const ID_CARD: &str = "1234567890121";
const OTHER_VALID_ID_CARD: &str = "1101700230708";

async fn one_id(t: &TestApp, function: Function, event: &str, body: &Value) -> Answer {
    let request = api_request(event, Some(&body.to_string()), Some("application/json"));
    let answer = call(&t.app, function, request).await;
    t.assert_tells_nothing(&answer, None);
    answer
}

fn request_body(mobile_no: &str, id_card_num: &str) -> Value {
    json!({
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
        "mobile_no": mobile_no, "id_card_num": id_card_num, "sms_sender": SENDER_ID,
    })
}

async fn request(t: &TestApp, body: &Value) -> Answer {
    one_id(t, Function::RequestOtp, "oneid-request", body).await
}

async fn confirm(t: &TestApp, ref_code: &str, otp: &str) -> Answer {
    let body = json!({
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
        "mobile_no": MOBILE, "ref_code": ref_code, "otp": otp,
    });
    one_id(t, Function::ConfirmOtp, "oneid-confirm", &body).await
}

/// `{"result":"Fail","data":null,"errorMessage":<text>,"code":<status>}`.
fn assert_fails(answer: &Answer, status: u16, text: &str) {
    assert_eq!(answer.status, status, "{answer:?}");
    assert_eq!(
        answer.body,
        json!({"result": "Fail", "data": null, "errorMessage": text, "code": status})
    );
}

async fn registered(store: Arc<dyn Store>, sms: Option<Arc<dyn SmsSender>>) -> TestApp {
    let t = TestApp::over(store, sms).await;
    t.register(CLIENT_ID, MOBILE, ID_CARD, "1234567890", "somchai.j")
        .await;
    t
}

async fn app() -> TestApp {
    registered(Arc::new(dynamo_store().await), None).await
}

/// Requests a code; returns (ref_code, code).
async fn code(t: &TestApp) -> (String, String) {
    let answer = request(t, &request_body(MOBILE, ID_CARD)).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    (
        answer.body["data"]["ref_code"].as_str().unwrap().into(),
        t.last_sms().code,
    )
}

#[tokio::test]
async fn request_success_answers_ref_code_only() {
    let t = app().await;
    let answer = request(&t, &request_body(MOBILE, ID_CARD)).await;
    let ref_code = answer.body["data"]["ref_code"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        answer.body,
        json!({"result": "Success", "data": {"ref_code": ref_code}, "errorMessage": null, "code": 200})
    );
    let sms = t.last_sms();
    assert_eq!(
        (sms.to.as_str(), sms.sender_id.as_deref()),
        ("+66812345678", Some(SENDER_ID))
    );
    assert!(sms.message.contains(&ref_code));
}

#[tokio::test]
async fn confirm_success_answers_the_one_id_token_object() {
    let t = app().await;
    let (ref_code, code) = code(&t).await;
    let answer = confirm(&t, &ref_code, &code).await;
    assert_eq!(
        (answer.status, &answer.body["result"]),
        (200, &json!("Success")),
        "{answer:?}"
    );
    assert_eq!(answer.body["errorMessage"], Value::Null);
    assert_eq!(answer.body["code"], 200);
    let data = &answer.body["data"];
    let mut fields: Vec<&str> = data
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "access_token",
            "account_id",
            "expiration_date",
            "expires_in",
            "login_by",
            "refresh_token",
            "token_type",
            "username"
        ]
    );
    assert_eq!(data["token_type"], "Bearer");
    assert_eq!(data["account_id"], "1234567890");
    assert_eq!(data["username"], "somchai.j");
    assert_eq!(data["login_by"], "mobile_and_idcard");
    assert_eq!(data["expiration_date"], "2100-11-22 12:30:00");
    let jwks = call(
        &t.app,
        Function::IssueToken,
        api_request("jwks", None, None),
    )
    .await
    .body;
    let (_, claims) = verify_jwt(data["access_token"].as_str().unwrap(), &jwks).unwrap();
    assert_eq!(claims["sub"], "1234567890");
}

#[tokio::test]
async fn form_encoded_requests_work_too() {
    let t = app().await;
    let form = format!(
        "client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}&mobile_no={MOBILE}&id_card_num={ID_CARD}"
    );
    let request = api_request(
        "oneid-request",
        Some(&form),
        Some("application/x-www-form-urlencoded"),
    );
    assert_eq!(
        call(&t.app, Function::RequestOtp, request).await.status,
        200
    );
}

#[tokio::test]
async fn invalid_request() {
    let t = app().await;
    let mut missing = request_body(MOBILE, ID_CARD);
    missing.as_object_mut().unwrap().remove("mobile_no");
    let mut ill_typed = request_body(MOBILE, ID_CARD);
    ill_typed["id_card_num"] = json!(1234567890121u64);
    for body in [missing, ill_typed, json!([]), request_body("12", ID_CARD)] {
        assert_fails(&request(&t, &body).await, 400, "invalid request");
    }
    let not_json = api_request("oneid-request", Some("{not json"), Some("application/json"));
    assert_fails(
        &call(&t.app, Function::RequestOtp, not_json).await,
        400,
        "invalid request",
    );
    let mut unregistered_sender = request_body(MOBILE, ID_CARD);
    unregistered_sender["sms_sender"] = json!("NotOurs");
    assert_fails(
        &request(&t, &unregistered_sender).await,
        400,
        "invalid request",
    );
    let confirm_missing =
        json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "mobile_no": MOBILE});
    assert_fails(
        &one_id(&t, Function::ConfirmOtp, "oneid-confirm", &confirm_missing).await,
        400,
        "invalid request",
    );
    assert!(t.outbox.entries().is_empty());
}

#[tokio::test]
async fn invalid_format_id_card_num() {
    let t = app().await;
    for card in ["1234567890122", "123456789012", "12345678901x1"] {
        assert_fails(
            &request(&t, &request_body(MOBILE, card)).await,
            400,
            "invalid format id_card_num",
        );
    }
    assert!(t.outbox.entries().is_empty());
}

#[tokio::test]
async fn client_id_not_found() {
    let t = app().await;
    let mut unknown = request_body(MOBILE, ID_CARD);
    unknown["client_id"] = json!("no-such-client");
    let mut wrong_secret = request_body(MOBILE, ID_CARD);
    wrong_secret["client_secret"] = json!("wrong");
    for body in [unknown, wrong_secret] {
        assert_fails(&request(&t, &body).await, 404, "client_id not found");
    }
}

#[tokio::test]
async fn user_mobile_not_found_and_id_card_num_mismatch() {
    let t = app().await;
    assert_fails(
        &request(&t, &request_body("0899999999", ID_CARD)).await,
        404,
        "user mobile not found",
    );
    assert_fails(
        &request(&t, &request_body(MOBILE, OTHER_VALID_ID_CARD)).await,
        404,
        "id_card_num mismatch",
    );
    assert!(t.outbox.entries().is_empty(), "nothing is sent");
    // Each counts as a request (DESIGN §5.9): the cooldown holds, so an
    // ID card cannot be guessed for free; after it the right card gets a
    // code.
    assert_fails(
        &request(&t, &request_body(MOBILE, ID_CARD)).await,
        400,
        "please wait about 1 minute before request OTP again",
    );
    t.clock.advance_secs(60);
    assert_eq!(
        request(&t, &request_body(MOBILE, ID_CARD)).await.status,
        200
    );
}

#[tokio::test]
async fn please_wait_about_1_minute_before_request_otp_again() {
    let t = app().await;
    code(&t).await;
    t.clock.advance_secs(59);
    assert_fails(
        &request(&t, &request_body(MOBILE, ID_CARD)).await,
        400,
        "please wait about 1 minute before request OTP again",
    );
}

#[tokio::test]
async fn sent_otp_fail_please_wait_about_1_minute_before_request_otp_again() {
    let t = registered(
        Arc::new(dynamo_store().await),
        Some(Arc::new(RefusingSms::default())),
    )
    .await;
    assert_fails(
        &request(&t, &request_body(MOBILE, ID_CARD)).await,
        400,
        "sent otp fail please wait about 1 minute before request OTP again",
    );
    assert_fails(
        &request(&t, &request_body(MOBILE, ID_CARD)).await,
        400,
        "please wait about 1 minute before request OTP again",
    );
}

#[tokio::test]
async fn otp_invalid_for_wrong_expired_and_used_codes() {
    let t = app().await;
    let (ref_code, code) = code(&t).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert_fails(&confirm(&t, &ref_code, wrong).await, 404, "otp invalid");
    assert_fails(&confirm(&t, "ZZZZZZ", &code).await, 404, "otp invalid");
    assert_eq!(confirm(&t, &ref_code, &code).await.status, 200);
    assert_fails(&confirm(&t, &ref_code, &code).await, 404, "otp invalid");

    t.clock.advance_secs(60);
    let (ref_code, code) = self::code(&t).await;
    t.clock.advance_secs(300);
    assert_fails(&confirm(&t, &ref_code, &code).await, 404, "otp invalid");
}

#[tokio::test]
async fn generate_access_token_unsuccessful() {
    // A signing key alias that does not exist in KMS: every signature fails.
    let signer = kms_signer("alias/otp-no-such-key").await;
    let t = TestApp::build(
        Arc::new(dynamo_store().await),
        None,
        signer,
        otp_integration_tests::START_MS,
    )
    .await;
    t.register(CLIENT_ID, MOBILE, ID_CARD, "1234567890", "somchai.j")
        .await;
    let (ref_code, code) = code(&t).await;
    assert_fails(
        &confirm(&t, &ref_code, &code).await,
        400,
        "generate access token unsuccessful",
    );
}

#[tokio::test]
async fn generate_refresh_token_unsuccessful() {
    let t = registered(Arc::new(dynamo_store().await), None).await;
    let (ref_code, code) = code(&t).await;
    t.faults.fail("consume");
    assert_fails(
        &confirm(&t, &ref_code, &code).await,
        400,
        "generate refresh token unsuccessful",
    );
    // Nothing was consumed: once the store is back, the code still works.
    t.faults.heal();
    assert_eq!(confirm(&t, &ref_code, &code).await.status, 200);
}
