//! The AWS adapters against real engines: DynamoDB Local for storage, moto for
//! SNS and KMS. The app is wired exactly as the Lambda functions wire it.

use otp_integration_tests::{
    CLIENT_ID, CLIENT_SECRET, RefusingSms, TestApp, api_request, aws_config, call, fresh_table,
    http_get, kms_signing_alias, moto_url, test_settings, verify_jwt,
};
use otp_shared::config::LambdaSettings;
use otp_shared::domain::client::ClientRecord;
use otp_shared::http::Function;
use otp_shared::sms::{SmsMessage, SmsSender, SnsSender};
use otp_shared::store::{DynamoStore, Store};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// Every SMS moto's SNS has accepted, as (phone, message).
fn moto_sms() -> Vec<(String, String)> {
    let data: Value =
        serde_json::from_str(&http_get(&format!("{}/moto-api/data.json", moto_url())))
            .expect("moto data is JSON");
    data["sns"]["SMS"]
        .as_array()
        .expect("moto lists sent SMS")
        .iter()
        .map(|sms| {
            let field = |name: &str| sms[name].as_str().unwrap_or_default().to_string();
            (field("phone_number"), field("message"))
        })
        .collect()
}

fn code_in(message: &str) -> String {
    let start = message.find("code is ").expect("template names the code") + "code is ".len();
    message[start..]
        .split(' ')
        .next()
        .expect("a code")
        .to_string()
}

#[tokio::test]
async fn sns_adapter_publishes_the_sms_to_the_phone_number() {
    // Everything the SDK logs, down to TRACE, while it publishes.
    let logs = otp_integration_tests::logs::capture();
    let sns = SnsSender::new(aws_sdk_sns::Client::new(&aws_config().await));
    let text = format!("Test: your code is 424242 (ref {})", std::process::id());
    let message = SmsMessage {
        to: "+66899999999".into(),
        text: text.clone(),
        sender_id: Some("TestSender".into()),
        code: "424242".into(),
    };
    sns.send(&message).await.expect("moto accepts the SMS");
    let logged = logs.text();
    assert!(logged.contains("sns"), "the SDK's logs were captured");
    assert!(
        !logged.contains("899999999") && !logged.contains("424242"),
        "DESIGN §5.2: not in any log"
    );
    assert!(
        moto_sms().contains(&("+66899999999".to_string(), text)),
        "{:?}",
        moto_sms()
    );
}

/// The Lambda wiring end to end: DynamoDB Local, SNS and KMS on moto; the
/// code read back from moto; the token verified with the key from JWKS.
#[tokio::test]
async fn lambda_wiring_texts_a_code_and_issues_kms_signed_tokens() {
    let sdk = aws_config().await;
    let (dynamodb, table) = fresh_table().await;
    let signing_alias = kms_signing_alias().await;
    // The server secret as the stack keeps it: 64 generated characters in
    // Secrets Manager, read at cold start.
    let secret = aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name(format!("otp-server-secret-{}", std::process::id()))
        .secret_string("S3cr3tS3cr3tS3cr3tS3cr3tS3cr3tS3cr3tS3cr3tS3cr3tS3cr3tS3cr3tAbCd")
        .send()
        .await
        .expect("moto keeps the secret");
    let vars = HashMap::from([
        ("OTP_TABLE_NAME", table.clone()),
        ("OTP_SIGNING_KEY_ALIAS", signing_alias),
        ("OTP_SERVER_SECRET_ARN", secret.arn().unwrap().to_string()),
        // The stack's CodeLength parameter, for clients that set none.
        ("OTP_CODE_LENGTH", "8".to_string()),
    ]);
    let settings = LambdaSettings::from_lookup(|name| vars.get(name).cloned()).unwrap();
    let app = otp_shared::aws::app(settings, &sdk)
        .await
        .expect("the Lambda wiring");
    DynamoStore::new(dynamodb, table)
        .put_client(&ClientRecord::new(
            CLIENT_ID,
            CLIENT_SECRET,
            test_settings(),
        ))
        .await
        .unwrap();

    let phone = "+66 86 123 4567";
    let body = json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "mobile_no": phone});
    let request = api_request(
        "request-otp",
        Some(&body.to_string()),
        Some("application/json"),
    );
    let sent = call(&app, Function::RequestOtp, request).await;
    assert_eq!(sent.status, 200, "{sent:?}");
    let (to, message) = moto_sms()
        .into_iter()
        .rev()
        .find(|(to, _)| to == "+66861234567")
        .expect("the SMS reached SNS");
    assert_eq!(to, "+66861234567");
    let ref_code = sent.body["data"]["ref_code"].as_str().unwrap();
    assert!(message.contains(ref_code));
    assert_eq!(code_in(&message).len(), 8, "the deployment's code length");

    let body = json!({
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
        "token": sent.body["data"]["token"], "otp": code_in(&message),
    });
    let request = api_request(
        "confirm-otp",
        Some(&body.to_string()),
        Some("application/json"),
    );
    let confirmed = call(&app, Function::ConfirmOtp, request).await;
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

    let form = format!(
        "grant_type=refresh_token&refresh_token={}&client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}",
        confirmed.body["data"]["refresh_token"].as_str().unwrap()
    );
    let request = api_request(
        "token-refresh",
        Some(&form),
        Some("application/x-www-form-urlencoded"),
    );
    let refreshed = call(&app, Function::IssueToken, request).await;
    assert_eq!(refreshed.status, 200, "{refreshed:?}");
    verify_jwt(refreshed.body["access_token"].as_str().unwrap(), &jwks).unwrap();
}

/// DESIGN §5.10 with a real SNS client whose endpoint is down: 503, and the
/// cooldown holds, so a retry cannot be used to spam.
#[tokio::test]
async fn rule_5_10_unreachable_sns_answers_503_and_keeps_the_cooldown() {
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
}

#[tokio::test]
async fn rule_5_10_refused_sms_leaves_a_dead_challenge_in_dynamodb() {
    refused_sms_leaves_a_dead_challenge(Arc::new(otp_integration_tests::dynamo_store().await))
        .await;
}

#[tokio::test]
async fn rule_5_10_refused_sms_leaves_a_dead_challenge_in_memory() {
    refused_sms_leaves_a_dead_challenge(Arc::new(otp_integration_tests::memory_store())).await;
}

/// DESIGN §5.2, §6: what DynamoDB holds after a full flow names no code, no
/// phone number, no client secret and no token: only (keyed) hashes.
#[tokio::test]
async fn rule_5_2_dynamodb_holds_no_code_and_no_phone_number() {
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
