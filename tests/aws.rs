//! The AWS adapters against real engines: DynamoDB Local for storage, moto for
//! SNS and KMS. The app is wired exactly as the Lambda functions wire it.

use otp_integration_tests::logs::LogCheck;
use otp_integration_tests::{
    CLIENT_ID, CLIENT_SECRET, RefusingSms, TestApp, api_request, aws_config, call, code_in,
    code_request_body, deployment, fresh_table, json_request, lambda_app, moto_sms, moto_url,
    refresh_request, sms_to, token_confirm_body, verify_jwt,
};
use otp_shared::http::Function;
use otp_shared::sms::{SmsMessage, SmsSender, SnsSender};
use otp_shared::store::{DynamoStore, Store};
use serde_json::json;
use std::sync::Arc;

#[tokio::test]
async fn sns_adapter_publishes_the_sms_to_the_phone_number() {
    let _logs = LogCheck::new();
    // Everything the SDK logs, down to TRACE, while it publishes.
    let logs = otp_integration_tests::logs::capture();
    let sns = SnsSender::new(aws_sdk_sns::Client::new(&aws_config().await));
    let text = format!("Test: your code is 424242 (ref {})", std::process::id());
    let message = SmsMessage {
        to: "+66899999999".into(),
        text: text.clone(),
        sender_id: Some("TestSender".into()),
        code: "424242".into(),
        challenge_id: "ch_test".into(),
        client_id: "demo".into(),
        calling_code: "66".into(),
        locale: "en".into(),
        ref_code: "ABC123".into(),
        expires_at_ms: 4_102_444_800_000,
        delivery: Default::default(),
    };
    sns.send(&message).await.expect("moto accepts the SMS");
    let logged = logs.text();
    assert!(logged.contains("sns"), "the SDK's logs were captured");
    assert!(
        !logged.contains("899999999") && !logged.contains("424242"),
        "DESIGN §5.2: not in any log"
    );
    assert!(
        moto_sms(&moto_url()).contains(&("+66899999999".to_string(), text)),
        "{:?}",
        moto_sms(&moto_url())
    );
}

/// The Lambda wiring end to end: DynamoDB Local, SNS and KMS on moto; the
/// code read back from moto; the token verified with the key from JWKS.
#[tokio::test]
async fn lambda_wiring_texts_a_code_and_issues_kms_signed_tokens() {
    let _logs = LogCheck::new();
    // The stack's CodeLength parameter, for clients that set none.
    let app = lambda_app(&deployment(&[("OTP_CODE_LENGTH", "8")]).await).await;

    let phone = "+66 86 123 4567";
    let request = json_request("request-otp", &code_request_body(phone));
    let sent = call(&app, Function::RequestOtp, request).await;
    assert_eq!(sent.status, 200, "{sent:?}");
    let message = sms_to(&moto_url(), "+66861234567").await;
    let ref_code = sent.body["data"]["ref_code"].as_str().unwrap();
    assert!(message.contains(ref_code));
    assert_eq!(code_in(&message).len(), 8, "the deployment's code length");

    let body = token_confirm_body(&sent.body["data"]["token"], &code_in(&message));
    let confirmed = call(
        &app,
        Function::ConfirmOtp,
        json_request("confirm-otp", &body),
    )
    .await;
    assert_eq!(confirmed.status, 200, "{confirmed:?}");

    let jwks = call(&app, Function::IssueToken, api_request("jwks", None, None))
        .await
        .body;
    let access = confirmed.body["data"]["access_token"].as_str().unwrap();
    let (header, claims) = verify_jwt(access, &jwks).expect("KMS signature verifies with JWKS key");
    assert_eq!(header["kid"], jwks["keys"][0]["kid"]);
    assert_eq!(claims["aud"], CLIENT_ID);
    assert_eq!(
        claims["iss"],
        "https://abc123defg.execute-api.us-east-1.amazonaws.com"
    );

    let request = refresh_request(confirmed.body["data"]["refresh_token"].as_str().unwrap());
    let refreshed = call(&app, Function::IssueToken, request).await;
    assert_eq!(refreshed.status, 200, "{refreshed:?}");
    verify_jwt(refreshed.body["access_token"].as_str().unwrap(), &jwks).unwrap();
}

/// DESIGN §5.10 with a real SNS client whose endpoint is down: 503, and the
/// cooldown holds, so a retry cannot be used to spam.
#[tokio::test]
async fn rule_5_10_unreachable_sns_answers_503_and_keeps_the_cooldown() {
    let _logs = LogCheck::new();
    let config = aws_sdk_sns::config::Builder::from(&aws_config().await)
        .endpoint_url("http://127.0.0.1:9")
        .build();
    let sns: Arc<dyn SmsSender> = Arc::new(SnsSender::new(aws_sdk_sns::Client::from_conf(config)));
    let t = TestApp::over(
        Arc::new(otp_integration_tests::dynamo_store().await),
        Some(sns),
    )
    .await;
    let failed = t.request_otp("0812345678").await;
    assert_eq!(
        (failed.status, failed.error()),
        (503, "sms_failed"),
        "{failed:?}"
    );
    let again = t.request_otp("0812345678").await;
    assert_eq!((again.status, again.error()), (429, "rate_limited"));
}

async fn refused_sms_leaves_a_dead_challenge(store: Arc<dyn Store>) {
    let sms = Arc::new(RefusingSms::default());
    let t = TestApp::over(store, Some(sms.clone())).await;
    let failed = t.request_otp("0812345678").await;
    assert_eq!((failed.status, failed.error()), (503, "sms_failed"));
    assert!(failed.body["data"].is_null());
    let attempted = sms.attempted();
    let code = &attempted[0].code;
    let ref_code = attempted[0].text.split("(ref ").nth(1).unwrap()[..6].to_string();
    let body = json!({
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
        "mobile_no": "0812345678", "ref_code": ref_code, "otp": code,
    });
    let confirm = t.call(Function::ConfirmOtp, "confirm-otp", &body).await;
    assert_eq!(
        (confirm.status, confirm.error()),
        (400, "otp_expired"),
        "even the right code fails"
    );
    let again = t.request_otp("0812345678").await;
    assert_eq!((again.status, again.error()), (429, "rate_limited"));
    let counted = |metric| t.metrics.count(metric, CLIENT_ID, Some("66"));
    assert_eq!(
        (
            counted("SmsFailures"),
            counted("CodesSent"),
            counted("ConfirmsExpired")
        ),
        (1, 0, 1)
    );
}

#[tokio::test]
async fn rule_5_10_refused_sms_leaves_a_dead_challenge_in_dynamodb() {
    let _logs = LogCheck::new();
    refused_sms_leaves_a_dead_challenge(Arc::new(otp_integration_tests::dynamo_store().await))
        .await;
}

#[tokio::test]
async fn rule_5_10_refused_sms_leaves_a_dead_challenge_in_memory() {
    let _logs = LogCheck::new();
    refused_sms_leaves_a_dead_challenge(Arc::new(otp_integration_tests::memory_store())).await;
}

/// DESIGN §5.2, §6: what DynamoDB holds after a full flow names no code, no
/// phone number, no client secret and no token: only (keyed) hashes.
#[tokio::test]
async fn rule_5_2_dynamodb_holds_no_code_and_no_phone_number() {
    let _logs = LogCheck::new();
    let (client, table) = fresh_table().await;
    let t = TestApp::over(
        Arc::new(DynamoStore::new(client.clone(), table.clone())),
        None,
    )
    .await;
    let (token, _, code) = t.code_for("0812345678").await;
    let confirmed = t.confirm_by_token(CLIENT_ID, &token, &code).await;
    assert_eq!(confirmed.status, 200);
    let refresh_token = confirmed.body["data"]["refresh_token"].as_str().unwrap();
    let items = client.scan().table_name(&table).send().await.unwrap();
    let dump = format!("{:?}", items.items());
    assert!(
        items.items().len() >= 4,
        "client, challenge, user, refresh family"
    );
    let secrets = [
        code.as_str(),
        "812345678",
        CLIENT_SECRET,
        refresh_token,
        &token,
    ];
    for secret in secrets {
        assert!(!dump.contains(secret), "{secret} is stored in plain");
    }
}
