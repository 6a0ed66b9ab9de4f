//! ThaiBulkSMS conformance: its OTP request and verify calls replayed through
//! the real handlers against DynamoDB Local, form-encoded and JSON, every
//! failure answered in the same `{"data":{"status","message"}}` wrapper.

use otp_integration_tests::{
    Answer, CLIENT_ID, CLIENT_SECRET, RefusingSms, TestApp, api_request, call, dynamo_store,
};
use otp_shared::http::Function;
use serde_json::json;
use std::sync::Arc;

const FORM: &str = "application/x-www-form-urlencoded";

async fn app() -> TestApp {
    TestApp::over(Arc::new(dynamo_store().await), None).await
}

async fn post(t: &TestApp, function: Function, event: &str, form: &str) -> Answer {
    call(&t.app, function, api_request(event, Some(form), Some(FORM))).await
}

async fn request(t: &TestApp, msisdn: &str) -> Answer {
    let form = format!("key={CLIENT_ID}&secret={CLIENT_SECRET}&msisdn={msisdn}");
    post(t, Function::RequestOtp, "thaibulksms-request", &form).await
}

async fn verify(t: &TestApp, token: &str, pin: &str) -> Answer {
    let form = format!("key={CLIENT_ID}&secret={CLIENT_SECRET}&token={token}&pin={pin}");
    post(t, Function::ConfirmOtp, "thaibulksms-verify", &form).await
}

fn assert_fails(answer: &Answer, http: u16, status: &str, message: &str) {
    assert_eq!(answer.status, http, "{answer:?}");
    assert_eq!(
        answer.body,
        json!({"data": {"status": status, "message": message}})
    );
}

/// Requests a code; returns (token, pin).
async fn code(t: &TestApp) -> (String, String) {
    let answer = request(t, "0812345678").await;
    assert_eq!(answer.status, 200, "{answer:?}");
    (
        answer.body["data"]["token"].as_str().unwrap().into(),
        t.last_sms().code,
    )
}

#[tokio::test]
async fn request_answers_status_token_and_refno() {
    let t = app().await;
    let answer = request(&t, "66812345678").await;
    let data = &answer.body["data"];
    assert_eq!(answer.status, 200);
    assert_eq!(data["status"], "success");
    let refno = data["refno"].as_str().unwrap();
    assert_eq!(
        answer.body,
        json!({"data": {"status": "success", "token": data["token"], "refno": refno}})
    );
    assert_eq!(t.last_sms().to, "+66812345678");
    assert!(t.last_sms().message.contains(refno));
}

#[tokio::test]
async fn verify_answers_code_is_correct() {
    let t = app().await;
    let (token, pin) = code(&t).await;
    let answer = verify(&t, &token, &pin).await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.body,
        json!({"data": {"status": "success", "message": "Code is correct."}})
    );
}

#[tokio::test]
async fn json_bodies_work_too() {
    let t = app().await;
    let body =
        json!({"key": CLIENT_ID, "secret": CLIENT_SECRET, "msisdn": "0812345678"}).to_string();
    let sent = call(
        &t.app,
        Function::RequestOtp,
        api_request("thaibulksms-request", Some(&body), Some("application/json")),
    )
    .await;
    assert_eq!(sent.status, 200);
    let body = json!({"key": CLIENT_ID, "secret": CLIENT_SECRET, "token": sent.body["data"]["token"], "pin": t.last_sms().code}).to_string();
    let verified = call(
        &t.app,
        Function::ConfirmOtp,
        api_request("thaibulksms-verify", Some(&body), Some("application/json")),
    )
    .await;
    assert_eq!(verified.body["data"]["status"], "success");
}

#[tokio::test]
async fn request_failures() {
    let t = app().await;
    let missing = post(
        &t,
        Function::RequestOtp,
        "thaibulksms-request",
        &format!("key={CLIENT_ID}&secret={CLIENT_SECRET}"),
    )
    .await;
    assert_fails(&missing, 400, "invalid_parameter", "Invalid parameters.");
    assert_fails(
        &request(&t, "12345").await,
        400,
        "invalid_msisdn",
        "Invalid msisdn.",
    );
    assert_fails(
        &request(&t, "33612345678").await,
        400,
        "msisdn_not_allowed",
        "This msisdn cannot receive OTP.",
    );
    let bad_key = post(
        &t,
        Function::RequestOtp,
        "thaibulksms-request",
        "key=nobody&secret=x&msisdn=0812345678",
    )
    .await;
    assert_fails(&bad_key, 401, "invalid_key", "Invalid key or secret.");
    assert!(t.outbox.entries().is_empty());
    code(&t).await;
    let again = request(&t, "0812345678").await;
    assert_fails(
        &again,
        429,
        "too_many_requests",
        "Please wait before requesting a new OTP.",
    );
    assert_eq!(again.header("retry-after"), Some("60"));
}

#[tokio::test]
async fn send_failed() {
    let t = TestApp::over(
        Arc::new(dynamo_store().await),
        Some(Arc::new(RefusingSms::default())),
    )
    .await;
    assert_fails(
        &request(&t, "0812345678").await,
        503,
        "send_failed",
        "The OTP could not be sent.",
    );
}

#[tokio::test]
async fn verify_failures() {
    let t = app().await;
    let (token, pin) = code(&t).await;
    let wrong = if pin == "000000" { "111111" } else { "000000" };
    assert_fails(
        &verify(&t, &token, wrong).await,
        400,
        "invalid_pin",
        "Code is invalid.",
    );
    assert_fails(
        &verify(&t, "not-a-token", &pin).await,
        400,
        "expired",
        "Token is expired or already used.",
    );
    let missing = post(
        &t,
        Function::ConfirmOtp,
        "thaibulksms-verify",
        &format!("key={CLIENT_ID}&secret={CLIENT_SECRET}&token={token}"),
    )
    .await;
    assert_fails(&missing, 400, "invalid_parameter", "Invalid parameters.");
    assert_eq!(verify(&t, &token, &pin).await.status, 200);
    assert_fails(
        &verify(&t, &token, &pin).await,
        400,
        "expired",
        "Token is expired or already used.",
    );

    t.clock.advance_secs(60);
    let (token, pin) = code(&t).await;
    for _ in 0..4 {
        assert_fails(
            &verify(&t, &token, wrong).await,
            400,
            "invalid_pin",
            "Code is invalid.",
        );
    }
    let exhausted = "Too many wrong codes. Please request a new OTP.";
    assert_fails(
        &verify(&t, &token, wrong).await,
        400,
        "too_many_attempts",
        exhausted,
    );
    assert_fails(
        &verify(&t, &token, &pin).await,
        400,
        "too_many_attempts",
        exhausted,
    );

    t.clock.advance_secs(60);
    let (token, pin) = code(&t).await;
    t.clock.advance_secs(300);
    assert_fails(
        &verify(&t, &token, &pin).await,
        400,
        "expired",
        "Token is expired or already used.",
    );
}
